// CPU layer normalisation over the last dimension, forward and backward.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/column_blocks.h"
#include "kernels/ops.h"

namespace cf::ops {

template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias,
                       int N, int C, T eps) {
#pragma omp parallel for schedule(static) if (int64_t(N) * C > 32768)
  for (int n = 0; n < N; ++n) {
    const T* x = inp + int64_t(n) * C;
    T* o = out + int64_t(n) * C;
    // Two passes (mean, then centred squares) rather than E[x^2] - E[x]^2, which cancels badly
    // for rows with a large mean.
    T sum = 0;
    for (int c = 0; c < C; ++c) sum += x[c];
    const T m = sum / T(C);
    T sq = 0;
    for (int c = 0; c < C; ++c) sq += (x[c] - m) * (x[c] - m);
    const T s = T(1) / std::sqrt(sq / T(C) + eps);
    for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = s;
  }
}

template <class T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                        const T* mean, const T* rstd, int N, int C) {
  // Input gradient: rows are independent.
#pragma omp parallel for schedule(static) if (int64_t(N) * C > 32768)
  for (int n = 0; n < N; ++n) {
    const T* x = inp + int64_t(n) * C;
    const T* g = dout + int64_t(n) * C;
    T* d = dinp + int64_t(n) * C;
    const T m = mean[n], s = rstd[n];
    T dnorm_mean = 0, dnorm_norm_mean = 0;
    for (int c = 0; c < C; ++c) {
      const T dnorm = g[c] * weight[c];
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * (x[c] - m) * s;
    }
    dnorm_mean /= T(C);
    dnorm_norm_mean /= T(C);
    for (int c = 0; c < C; ++c) {
      const T norm = (x[c] - m) * s;
      d[c] += (g[c] * weight[c] - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
  }
  // Weight and bias gradients sum over rows: column blocks keep the order fixed (column_blocks.h).
  const int blocks = cpu::column_block_count(C);
#pragma omp parallel for schedule(static) if (int64_t(N) * C > 16384)
  for (int block = 0; block < blocks; ++block) {
    const int c0 = block * cpu::kColumnBlock;
    const int width = std::min(C, c0 + cpu::kColumnBlock) - c0;
    T dw[cpu::kColumnBlock] = {}, db[cpu::kColumnBlock] = {};
    for (int n = 0; n < N; ++n) {
      const T* x = inp + int64_t(n) * C + c0;
      const T* g = dout + int64_t(n) * C + c0;
      const T m = mean[n], s = rstd[n];
      for (int j = 0; j < width; ++j) {
        dw[j] += g[j] * (x[j] - m) * s;
        db[j] += g[j];
      }
    }
    for (int j = 0; j < width; ++j) {
      dweight[c0 + j] += dw[j];
      dbias[c0 + j] += db[j];
    }
  }
}

#define CF_INSTANTIATE(T)                                                                    \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, T); \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,    \
                                      const T*, int, int);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

}  // namespace cf::ops
