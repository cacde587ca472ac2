#!/usr/bin/env bash
# tools/gpu_check.sh: the GPU check of the CUDA backend, one command on a CUDA machine. Builds
# for sm_90 (Hopper), runs every CUDA test (tests/cuda: each op against the CPU op, a training
# step and 20 steps against the CPU model; integration.cuda_device: the CLI on the GPU against
# the CPU run), then bench_gpu, whose tables come last. Meant to finish in under 8 minutes.
#
#   tools/gpu_check.sh [--deps ARCHIVE] [--build DIR] [--arch 90] [--quick]
#
#   --deps ARCHIVE  dependencies packed by tools/gpu_bundle.sh, for machines without HDF5,
#                   yaml-cpp, nlohmann_json, GoogleTest, OpenBLAS or OpenSSL and without a way to
#                   install them (the usual bare CUDA image: nvcc and cmake, no network).
#   --build DIR     build directory (default build/gpu-check)
#   --arch N        CUDA architecture to build (default 90; 80 for A100)
#   --quick         smaller benchmark shapes (a smoke test of the script itself)
# Exit status: 0 when every test passed (the benchmark runs either way).
set -euo pipefail
cd "$(dirname "$0")/.."
deps="" build=build/gpu-check arch=90 quick=()
while [ $# -gt 0 ]; do
  case $1 in
    --deps) deps=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --quick) quick=(--quick); shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
start=$SECONDS
say() { echo "gpu_check [$((SECONDS - start))s]: $*"; }

command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
command -v nvcc >/dev/null || { echo "gpu_check: nvcc not found (install the CUDA toolkit)" >&2; exit 1; }
nvidia-smi -L >/dev/null 2>&1 || { echo "gpu_check: nvidia-smi sees no GPU; nothing to check here" >&2; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu_check: GPU: /'

cache=()
if [ -n "$deps" ]; then
  [ -f "$deps" ] || { echo "gpu_check: no dependency archive at $deps (make it with tools/gpu_bundle.sh)" >&2; exit 1; }
  unpacked=$(dirname "$build")/gpu-deps
  mkdir -p "$unpacked"
  tar -xJf "$deps" -C "$unpacked"
  cache=(-C "$(cd "$unpacked" && pwd)/deps.cmake")
  # shellcheck disable=SC1091
  source "$unpacked/env.sh"
  say "using the dependencies in $deps"
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

say "configure and build for sm_$arch"
mkdir -p "$build"
cmake "${cache[@]}" -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCARTFORMER_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" >"$build/configure.log" 2>&1 ||
  { tail -40 "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target cartformer test_cuda bench_gpu >"$build/build.log" 2>&1 ||
  { grep -E 'error|Error' "$build/build.log" | head -30; tail -20 "$build/build.log"; exit 1; }

failed=0
say "CUDA tests (tests/cuda)"
ctest --test-dir "$build" -L cuda --output-on-failure --timeout 300 || failed=1
say "CLI on the GPU against the CPU (integration.cuda_device)"
ctest --test-dir "$build" -R '^integration\.cuda_device$' --output-on-failure --timeout 300 || failed=1

say "benchmark"
"$build/bin/bench_gpu" "${quick[@]}" | tee "$build/bench.md"
say "done; tests $([ $failed = 0 ] && echo passed || echo FAILED); table above also in $build/bench.md"
exit $failed
