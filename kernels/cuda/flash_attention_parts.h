// What the two flash attention implementations share (CUDA cores: flash_attention.cu; tensor
// cores: flash_attention_mma.cu): the shape checks, the head-dim dispatch and the backward's
// delta = rowsum(dout * out) pass.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <type_traits>

#include "core/error.h"

namespace cf::cuda::flash {

constexpr float kLog2e = 1.4426950408889634f;

// `rows_per_block`: query rows (or keys) one block of the kernel owns; the grid's y extent.
void check_shape(int Tlen, int C, int NH, int rows_per_block);

// Calls f(std::integral_constant<int, HS>) for the supported head dims (32, 64, 128).
template <class F>
void with_head_dim(int hs, F&& f) {
  switch (hs) {
    case 32:
      f(std::integral_constant<int, 32>{});
      break;
    case 64:
      f(std::integral_constant<int, 64>{});
      break;
    case 128:
      f(std::integral_constant<int, 128>{});
      break;
    default:
      CF_CHECK(false, "flash attention: unsupported head dim");
  }
}

// delta[b, h, t] = dout_t . out_t over the head's dims: the softmax Jacobian's shared term.
template <class T>
void launch_delta(float* delta, const T* dout, const T* out, int B, int Tlen, int C, int NH,
                  cudaStream_t stream);

}  // namespace cf::cuda::flash
