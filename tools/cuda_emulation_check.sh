#!/usr/bin/env bash
# tools/cuda_emulation_check.sh: runs the GPU tests (tests/cuda/: every CUDA op against the CPU
# op, the GPU model against the CPU model) on the CPU emulation of CUDA (tests/cuda_emulation/),
# on machines without a GPU. It checks the kernels' logic: indexing, masking, barriers, warp
# shuffles, accumulation; not their speed or GPU-only effects. Needs the CUDA headers only.
#
#   tools/cuda_emulation_check.sh [GTEST_FILTER]
#
# The default filter runs every test but the two 20-step training runs: each of their steps
# takes the gradient norm through a 262,144-thread reduction, about a minute emulated, so they
# are left to real GPUs (tools/gpu_check.sh). The rest takes about 10 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CARTFORMER_EMULATION_BUILD_DIR:-$root/build/cuda-emulation}
filter=${1:--CudaModelTraining.*}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCARTFORMER_CUDA=OFF -DCARTFORMER_MPI=OFF \
  -DCARTFORMER_CUDA_EMULATION=ON ${CARTFORMER_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "${CARTFORMER_JOBS:-$(nproc)}" --target test_cuda_emulated
# Every CUDA thread is an OS thread: one test binary at a time is all the machine can take.
OMP_NUM_THREADS=1 "$build/tests/cuda_emulation/test_cuda_emulated" --gtest_filter="$filter"
