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

# The GPU tests on the CPU emulation of CUDA (machines without a GPU, CI included), wherever the
# CUDA headers are. The slowest cases (attention backward and the reference kernel on their
# own, the 20-step runs, the 262,144-thread sum, ZeRO-1's sharded updates) are left to tools/cuda_emulation_check.sh and
# real GPUs (tools/gpu_check.sh); the whole-model step tests still cover the flash backward.
if [ -z "${CARTFORMER_SKIP_CUDA_EMULATION:-}" ] && [ -f "${CUDA_HOME:-/usr/local/cuda}/include/cuda_runtime_api.h" ]; then
  echo "== GPU tests on the CPU emulation of CUDA =="
  "$root/tools/cuda_emulation_check.sh" \
    '-*FlashAttentionBackward*:*ReferenceAttention*:*SumOfSquares*:CudaModelTraining.*:CudaModelZero1.*'
fi

# Fuzzing (tests/fuzz/, tools/fuzz.sh): a separate clang ASan+UBSan build in build/fuzz, the
# replay of every input in tests/fuzz/regressions/ and upstream/, then each target fuzzed for
# CARTFORMER_FUZZ_SECONDS (default 20). CARTFORMER_SKIP_FUZZ=1 skips it.
if [ -z "${CARTFORMER_SKIP_FUZZ:-}" ]; then
  echo "== fuzzing =="
  "$root/tools/fuzz.sh" "${CARTFORMER_FUZZ_SECONDS:-20}"
fi
