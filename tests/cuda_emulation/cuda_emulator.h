// cuda_emulator.h: runs this project's CUDA kernels on the CPU, so their logic (indexing,
// masking, barriers, warp shuffles, accumulation) is tested on machines without a GPU.
//
// Force-included (-include) into the kernel sources after tests/cuda_emulation/
// emulate_launches.py has rewritten each `kernel<<<grid, block, shmem, stream>>>(args)` into
// `cf_emu::launcher(grid, block, shmem, stream)(kernel, args)`. A launch runs its blocks one
// after another; the threads of a block are fibers switched at barriers, so __syncthreads is a
// barrier, __shfl_xor_sync an exchange between the 32 threads of a warp, and __shared__ memory
// (made `static`) is shared by the block's threads. Threads that return early leave the
// barriers, as exited threads do on the GPU. Device memory is host memory (cuda_emulator.cpp).
//
// Tensor-core MMA (mma.sync m16n8k16, bf16 in, fp32 out) is a warp exchange too: each lane posts
// its fragments, and once the warp's lanes all have, each computes its part of D from the
// whole A and B, placed by the PTX ISA's fragment layouts ("Matrix Fragments for mma.m16n8k16
// with floating point type"). Kernels select it with CF_CUDA_EMULATOR
// (kernels/cuda/tensor_core.cuh).
//
// What this cannot show: speed, the GPU memory model beyond barrier ordering, bank conflicts,
// register limits, or bugs that only appear under true parallel timing between blocks.
#pragma once

#define CF_CUDA_EMULATOR 1

#define __shared__ static
#define __launch_bounds__(...)
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace cf_emu {

extern thread_local uint3 thread_idx;
extern thread_local uint3 block_idx;
extern thread_local dim3 block_dim;
extern thread_local dim3 grid_dim;

void sync_threads();
float shuffle_xor(float value, int lane_mask);
double shuffle_xor(double value, int lane_mask);
// d = a * b + c for the calling warp: a 16x16 (row), b 16x8 (col), c and d 16x8, each lane
// holding its fragment registers (bf16 pairs in a and b, low half first).
void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]);
// Runs body() once per thread of every block of the grid.
void run_grid(dim3 grid, dim3 block, const std::function<void()>& body);

struct Launcher {
  dim3 grid, block;
  template <class Kernel, class... Args>
  void operator()(Kernel kernel, Args... args) const {
    run_grid(grid, block, [&] { kernel(args...); });
  }
};
inline Launcher launcher(dim3 grid, dim3 block, size_t = 0, cudaStream_t = nullptr) {
  return {grid, block};
}

}  // namespace cf_emu

#define threadIdx ::cf_emu::thread_idx
#define blockIdx ::cf_emu::block_idx
#define blockDim ::cf_emu::block_dim
#define gridDim ::cf_emu::grid_dim

inline void __syncthreads() { cf_emu::sync_threads(); }
inline float __shfl_xor_sync(unsigned, float value, int lane_mask) {
  return cf_emu::shuffle_xor(value, lane_mask);
}
inline double __shfl_xor_sync(unsigned, double value, int lane_mask) {
  return cf_emu::shuffle_xor(value, lane_mask);
}
inline float atomicAdd(float* address, float value) {
  return std::atomic_ref<float>(*address).fetch_add(value);
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
