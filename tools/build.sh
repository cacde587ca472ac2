#!/usr/bin/env bash
# Configures and builds Cartformer (Release) into build/release; prints the binary's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${CARTFORMER_BUILD_DIR:-$root/build/release}
jobs=${CARTFORMER_JOBS:-$(nproc)}
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release ${CARTFORMER_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j "$jobs"
echo "built: $build_dir/bin/cartformer"
