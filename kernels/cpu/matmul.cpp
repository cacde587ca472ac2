// CPU linear layer (out = inp @ weight^T + bias) on OpenBLAS, forward and backward.
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/blas_gemm.h"
#include "kernels/cpu/column_blocks.h"
#include "kernels/ops.h"

namespace cf::ops {

namespace {
// Fixed partition sizes (see blas_gemm.h): rows of activations per BLAS call, and rows summed
// per partial product of a weight gradient.
constexpr int kRowBlock = 256;
constexpr int kSumBlock = 256;
}  // namespace

template <class T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int N, int C, int OC) {
  // Starting from the bias and letting gemm accumulate (beta = 1) saves a pass over out.
  if (bias) {
#pragma omp parallel for schedule(static) if (int64_t(N) * OC > 65536)
    for (int n = 0; n < N; ++n) std::copy(bias, bias + OC, out + int64_t(n) * OC);
  }
  cpu::gemm_row_blocks(false, true, N, OC, C, T(1), inp, C, weight, C, bias ? T(1) : T(0), out, OC,
                       kRowBlock);
}

template <class T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     int N, int C, int OC) {
  if (dinp)
    cpu::gemm_row_blocks(false, false, N, C, OC, T(1), dout, OC, weight, C, T(1), dinp, C,
                         kRowBlock);
  if (dweight)
    cpu::gemm_accumulate_k_blocks(true, false, OC, C, N, T(1), dout, OC, inp, C, dweight, C,
                                  kSumBlock);
  if (!dbias) return;
  const int blocks = cpu::column_block_count(OC);
#pragma omp parallel for schedule(static) if (int64_t(N) * OC > 16384)
  for (int block = 0; block < blocks; ++block) {
    const int o0 = block * cpu::kColumnBlock;
    const int width = std::min(OC, o0 + cpu::kColumnBlock) - o0;
    T sum[cpu::kColumnBlock] = {};
    for (int n = 0; n < N; ++n) {
      const T* g = dout + int64_t(n) * OC + o0;
      for (int j = 0; j < width; ++j) sum[j] += g[j];
    }
    for (int j = 0; j < width; ++j) dbias[o0 + j] += sum[j];
  }
}

#define CF_INSTANTIATE(T)                                                           \
  template void matmul_forward<T>(T*, const T*, const T*, const T*, int, int, int); \
  template void matmul_backward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

}  // namespace cf::ops
