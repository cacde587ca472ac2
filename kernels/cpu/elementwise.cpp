// CPU elementwise ops: GELU (tanh form), residual add, and counter-based inverted dropout.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/fast_exp.h"
#include "kernels/dropout_mask.h"
#include "kernels/gelu_formula.h"
#include "kernels/ops.h"

namespace cf::ops {

namespace {

// Elements per parallel task: large enough to amortise scheduling, fixed so that vector and tail
// elements fall in the same places whatever the thread count.
constexpr int64_t kElementwiseChunk = 8192;

inline int64_t chunk_count(int64_t n) { return (n + kElementwiseChunk - 1) / kElementwiseChunk; }

// Scalar paths (tails, double, machines without AVX2): the shared formula, gelu_formula.h.
template <class T>
void gelu_forward_plain(T* out, const T* inp, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) out[i] = gelu_value(inp[i]);
}

template <class T>
void gelu_backward_plain(T* dinp, const T* inp, const T* dout, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) dinp[i] += gelu_derivative(inp[i]) * dout[i];
}

__attribute__((target("avx2,fma"))) void gelu_forward_avx2(float* out, const float* inp,
                                                           int64_t begin, int64_t end) {
  const __m256 scale = _mm256_set1_ps(-2.0f * kGeluScale<float>);
  const __m256 cubic = _mm256_set1_ps(kGeluCubic<float>);
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256 x = _mm256_loadu_ps(inp + i);
    const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    const __m256 minus_2u = _mm256_mul_ps(scale, _mm256_fmadd_ps(cubic, x3, x));
    const __m256 e = cpu::exp8(minus_2u);
    _mm256_storeu_ps(out + i, _mm256_div_ps(x, _mm256_add_ps(one, e)));
  }
  gelu_forward_plain(out, inp, i, end);
}

__attribute__((target("avx2,fma"))) void gelu_backward_avx2(float* dinp, const float* inp,
                                                            const float* dout, int64_t begin,
                                                            int64_t end) {
  const __m256 scale = _mm256_set1_ps(-2.0f * kGeluScale<float>);
  const __m256 cubic = _mm256_set1_ps(kGeluCubic<float>);
  const __m256 cubic3 = _mm256_set1_ps(3.0f * kGeluCubic<float>);
  const __m256 two_scale = _mm256_set1_ps(2.0f * kGeluScale<float>);
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256 x = _mm256_loadu_ps(inp + i);
    const __m256 x2 = _mm256_mul_ps(x, x);
    const __m256 minus_2u = _mm256_mul_ps(scale, _mm256_fmadd_ps(cubic, _mm256_mul_ps(x2, x), x));
    const __m256 e = cpu::exp8(minus_2u);
    const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e));
    const __m256 two_du = _mm256_mul_ps(two_scale, _mm256_fmadd_ps(cubic3, x2, one));
    // s + x s (e s) 2u'
    const __m256 tail = _mm256_cmp_ps(minus_2u, _mm256_set1_ps(kGeluTailExponent), _CMP_GT_OQ);
    const __m256 grad = _mm256_andnot_ps(
        tail, _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(x, s), _mm256_mul_ps(e, s)), two_du, s));
    _mm256_storeu_ps(dinp + i,
                     _mm256_fmadd_ps(grad, _mm256_loadu_ps(dout + i), _mm256_loadu_ps(dinp + i)));
  }
  gelu_backward_plain(dinp, inp, dout, i, end);
}

}  // namespace

float dropout_uniform(uint64_t seed, int64_t i) {
  return float(dropout_bits(mix64(seed), i)) * (1.0f / 16777216.0f);
}

template <class T>
void gelu_forward(T* out, const T* inp, int64_t n) {
  const int64_t chunks = chunk_count(n);
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t begin = k * kElementwiseChunk, end = std::min(n, begin + kElementwiseChunk);
    if constexpr (std::is_same_v<T, float>) {
      if (cpu::has_avx2_fma()) {
        gelu_forward_avx2(out, inp, begin, end);
        continue;
      }
    }
    gelu_forward_plain(out, inp, begin, end);
  }
}

template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n) {
  const int64_t chunks = chunk_count(n);
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t begin = k * kElementwiseChunk, end = std::min(n, begin + kElementwiseChunk);
    if constexpr (std::is_same_v<T, float>) {
      if (cpu::has_avx2_fma()) {
        gelu_backward_avx2(dinp, inp, dout, begin, end);
        continue;
      }
    }
    gelu_backward_plain(dinp, inp, dout, begin, end);
  }
}

template <class T>
void residual_forward(T* out, const T* a, const T* b, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <class T>
void fill_zero(T* x, int64_t n) {
  constexpr int64_t kPiece = int64_t{1} << 16;  // elements per memset
  const int64_t pieces = (n + kPiece - 1) / kPiece;
#pragma omp parallel for schedule(static) if (pieces > 4)
  for (int64_t piece = 0; piece < pieces; ++piece) {
    const int64_t begin = piece * kPiece;
    std::memset(x + begin, 0, size_t(std::min(kPiece, n - begin)) * sizeof(T));
  }
}

template <class T>
void dropout_forward(T* out, const T* inp, float p, uint64_t seed, int64_t n) {
  if (p <= 0.0f) {
    if (out != inp) std::copy(inp, inp + n, out);
    return;
  }
  const T scale = keep_scale<T>(p);
  const uint64_t mixed = mix64(seed);
  const uint32_t threshold = keep_threshold(p);
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i)
    out[i] = inp[i] * (T(dropout_bits(mixed, i) >= threshold) * scale);
}

template <class T>
void dropout_backward(T* dinp, const T* dout, float p, uint64_t seed, int64_t n) {
  if (p <= 0.0f) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) dinp[i] += dout[i];
    return;
  }
  const T scale = keep_scale<T>(p);
  const uint64_t mixed = mix64(seed);
  const uint32_t threshold = keep_threshold(p);
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i)
    dinp[i] += dout[i] * (T(dropout_bits(mixed, i) >= threshold) * scale);
}

#define CF_INSTANTIATE(T)                                                   \
  template void gelu_forward<T>(T*, const T*, int64_t);                     \
  template void gelu_backward<T>(T*, const T*, const T*, int64_t);          \
  template void residual_forward<T>(T*, const T*, const T*, int64_t);       \
  template void fill_zero<T>(T*, int64_t);                                  \
  template void dropout_forward<T>(T*, const T*, float, uint64_t, int64_t); \
  template void dropout_backward<T>(T*, const T*, float, uint64_t, int64_t);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

}  // namespace cf::ops
