// CudnnAttention: cuDNN's fused attention (cuDNN 9's scaled-dot-product graph, built through
// the cudnn_frontend headers) on this project's attention layout: the baseline the custom flash
// kernels are measured against, and `cuda.attention: cudnn`.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "kernels/cuda/cuda_ops.h"

namespace cf::cuda {

// Whether this build has it: cuDNN 9 and the cudnn_frontend headers were found at configure
// time (tools/setup.sh fetches the headers; CMake option CARTFORMER_CUDNN).
bool cudnn_attention_built();

// Layout and masking as flash_attention_forward (qkv [B, T, 3C], out [B, T, C], lse [B, NH, T]
// natural-log, query t sees keys s <= t with s < lengths[b]), in bf16 (cuDNN's fused attention
// takes 16-bit inputs). Differences, by cuDNN's padding mask: query rows at or past their
// sequence's length get zero output and contribute nothing to backward (the model never reads
// them; flash kernels let them attend), and backward WRITES dq, dk, dv instead of adding.
// One execution graph per (B, T), built on first use and kept, with its workspace.
class CudnnAttention {
 public:
  CudnnAttention(int C, int NH);  // throws UserError when this build or the head dim cannot
  ~CudnnAttention();
  CudnnAttention(const CudnnAttention&) = delete;
  CudnnAttention& operator=(const CudnnAttention&) = delete;

  void forward(bf16* out, float* lse, const bf16* qkv, const int32_t* lengths, int B, int Tlen,
               cudaStream_t stream);
  // deterministic: cuDNN's deterministic backward algorithm (no atomics in dQ).
  void backward(bf16* dqkv, const bf16* dout, const bf16* out, const bf16* qkv, const float* lse,
                const int32_t* lengths, int B, int Tlen, bool deterministic, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf::cuda
