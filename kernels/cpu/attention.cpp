// CPU reference causal multi-head attention with key padding, keeping the probabilities.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/error.h"
#include "kernels/attention_mask.h"
#include "kernels/cpu/row_softmax.h"
#include "kernels/ops.h"

namespace cf::ops {

namespace {

void check_lengths(const int32_t* lengths, int B, int Tlen) {
  for (int b = 0; b < B; ++b)
    CF_CHECK(lengths[b] >= 0 && lengths[b] <= Tlen, "attention: lengths[b] outside [0, T]");
}

}  // namespace

template <class T>
void attention_forward(T* out, T* att, const T* qkv, const int32_t* lengths, int B, int Tlen, int C,
                       int NH) {
  CF_CHECK(NH > 0 && C % NH == 0, "attention: C must be a multiple of NH");
  check_lengths(lengths, B, Tlen);
  const int hs = C / NH;
  const int64_t row = 3 * int64_t(C);
  const T scale = T(1) / std::sqrt(T(hs));
  const bool worth_threads = int64_t(B) * NH * Tlen * Tlen * hs > 65536;
#pragma omp parallel for collapse(3) schedule(static) if (worth_threads)
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      for (int t = 0; t < Tlen; ++t) {
        const T* q = qkv + (int64_t(b) * Tlen + t) * row + h * hs;
        const T* keys = qkv + int64_t(b) * Tlen * row + C + h * hs;
        const T* values = keys + C;
        T* a = att + ((int64_t(b) * NH + h) * Tlen + t) * Tlen;
        T* o = out + (int64_t(b) * Tlen + t) * C + h * hs;
        const int nvis = visible_keys(t, lengths[b]);
        std::fill(a, a + Tlen, T(0));
        std::fill(o, o + hs, T(0));
        if (nvis == 0) continue;
        T max_score = -std::numeric_limits<T>::infinity();
        for (int s = 0; s < nvis; ++s) {
          const T* k = keys + s * row;
          T dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int i = 0; i < hs; ++i) dot += q[i] * k[i];
          a[s] = dot * scale;
          max_score = std::max(max_score, a[s]);
        }
        const T inv_sum = T(1.0 / cpu::exp_shifted_and_sum(a, max_score, nvis));
        for (int s = 0; s < nvis; ++s) {
          a[s] *= inv_sum;
          const T* v = values + s * row;
          for (int i = 0; i < hs; ++i) o[i] += a[s] * v[i];
        }
      }
    }
  }
}

// One (batch, head) pair per task: its keys and values collect gradient from every query of
// the sequence, so a task owns them and walks the queries in order (deterministic, no atomics).
template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* att, const int32_t* lengths,
                        int B, int Tlen, int C, int NH) {
  CF_CHECK(NH > 0 && C % NH == 0, "attention: C must be a multiple of NH");
  check_lengths(lengths, B, Tlen);
  const int hs = C / NH;
  const int64_t row = 3 * int64_t(C);
  const T scale = T(1) / std::sqrt(T(hs));
  const bool worth_threads = int64_t(B) * NH * Tlen * Tlen * hs > 65536;
#pragma omp parallel if (worth_threads)
  {
    std::vector<T> datt(std::max(Tlen, 1));
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b) {
      for (int h = 0; h < NH; ++h) {
        const T* keys = qkv + int64_t(b) * Tlen * row + C + h * hs;
        const T* values = keys + C;
        T* dkeys = dqkv + int64_t(b) * Tlen * row + C + h * hs;
        T* dvalues = dkeys + C;
        for (int t = 0; t < Tlen; ++t) {
          const int nvis = visible_keys(t, lengths[b]);
          if (nvis == 0) continue;
          const T* q = qkv + (int64_t(b) * Tlen + t) * row + h * hs;
          T* dq = dqkv + (int64_t(b) * Tlen + t) * row + h * hs;
          const T* g = dout + (int64_t(b) * Tlen + t) * C + h * hs;
          const T* a = att + ((int64_t(b) * NH + h) * Tlen + t) * Tlen;
          // Through out = sum_s a[s] v_s: gradients of the probabilities and of the values.
          T expected = 0;  // sum_s a[s] * datt[s], the softmax Jacobian's shared term
          for (int s = 0; s < nvis; ++s) {
            const T* v = values + s * row;
            T* dv = dvalues + s * row;
            T dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int i = 0; i < hs; ++i) dot += g[i] * v[i];
            for (int i = 0; i < hs; ++i) dv[i] += a[s] * g[i];
            datt[s] = dot;
            expected += a[s] * dot;
          }
          // Through the softmax to the scaled scores q . k_s.
          for (int s = 0; s < nvis; ++s) {
            const T dscore = a[s] * (datt[s] - expected) * scale;
            const T* k = keys + s * row;
            T* dk = dkeys + s * row;
            for (int i = 0; i < hs; ++i) {
              dq[i] += dscore * k[i];
              dk[i] += dscore * q[i];
            }
          }
        }
      }
    }
  }
}

#define CF_INSTANTIATE(T)                                                                         \
  template void attention_forward<T>(T*, T*, const T*, const int32_t*, int, int, int, int);       \
  template void attention_backward<T>(T*, const T*, const T*, const T*, const int32_t*, int, int, \
                                      int, int);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

}  // namespace cf::ops
