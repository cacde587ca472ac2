// MatmulLt: the linear layers' GEMMs through cuBLASLt (bf16 or fp32 in, fp32 accumulate), with
// the bias and GELU epilogues fused where cuBLASLt offers them.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace cf::cuda {

enum class Epilogue {
  none,       // out = inp @ weight^T
  bias,       // out = inp @ weight^T + bias
  bias_gelu,  // pre_gelu = inp @ weight^T + bias (kept for backward); out = gelu(pre_gelu)
};

// Owns a cuBLASLt handle and its workspace; one per device and stream user. Row-major
// conventions of kernels/ops.h (weight [OC, C]); cuBLASLt's column-major view is internal.
class MatmulLt {
 public:
  explicit MatmulLt(size_t workspace_bytes = size_t(32) << 20);
  ~MatmulLt();
  MatmulLt(const MatmulLt&) = delete;
  MatmulLt& operator=(const MatmulLt&) = delete;

  // out[N, OC] = epilogue(inp[N, C] @ weight[OC, C]^T (+ bias[OC])). Out is T, or float when
  // OutT = float (the logits of the loss head; no epilogue then: fused epilogues need the
  // output in the input type). bias_gelu needs OC % 8 == 0 (cuBLASLt's aux leading dimension).
  template <class T, class OutT = T>
  void forward(OutT* out, const T* inp, const T* weight, const T* bias, int N, int C, int OC,
               Epilogue epilogue, T* pre_gelu, cudaStream_t stream);

  // dinp[N, C] += dout[N, OC] @ weight[OC, C] (skipped when dinp is null);
  // dweight[OC, C] += dout^T @ inp (fp32, skipped when null);
  // dbias[OC] += column sums of dout (fp32, fixed order, skipped when null).
  template <class T>
  void backward(T* dinp, float* dweight, float* dbias, const T* dout, const T* inp, const T* weight,
                int N, int C, int OC, cudaStream_t stream);

  // General row-major GEMM used by the ops above and the benchmarks:
  // D[M, N] = alpha * op(A) @ op(B) + beta * D, A [M, K] (or [K, M] when trans_a), B [K, N]
  // (or [N, K] when trans_b). AB and D types are template parameters; compute is fp32.
  template <class AB, class D>
  void gemm(D* d, const AB* a, const AB* b, int M, int N, int K, bool trans_a, bool trans_b,
            float alpha, float beta, cudaStream_t stream, Epilogue epilogue = Epilogue::none,
            const AB* bias = nullptr, AB* aux = nullptr);

 private:
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

}  // namespace cf::cuda
