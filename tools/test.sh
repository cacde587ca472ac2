#!/usr/bin/env bash
# The test command: sets up dependencies, builds, runs the whole suite with ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/setup.sh"
export CARTFORMER_CMAKE_ARGS="${CARTFORMER_CMAKE_ARGS:-} -DCARTFORMER_WERROR=ON"
"$root/tools/build.sh"
build_dir=${CARTFORMER_BUILD_DIR:-$root/build/release}
cd "$build_dir"
ctest --output-on-failure -j "${CARTFORMER_TEST_JOBS:-2}" "$@"
