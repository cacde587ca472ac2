// Row softmax primitives: plain loops for double; AVX-512 or AVX2 + FMA paths for float when
// the CPU has them (the same exp arithmetic in both, fast_exp.h).
#include "kernels/cpu/row_softmax.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/fast_exp.h"

namespace cf::ops::cpu {

namespace {

__attribute__((target("avx2,fma"))) float add_bias_and_max_avx2(float* x, const float* bias,
                                                                int n) {
  __m256 vmax = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (bias) {
      v = _mm256_add_ps(v, _mm256_loadu_ps(bias + i));
      _mm256_storeu_ps(x + i, v);
    }
    vmax = _mm256_max_ps(vmax, v);
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, vmax);
  float m = *std::max_element(lanes, lanes + 8);
  for (; i < n; ++i) {
    if (bias) x[i] += bias[i];
    m = std::max(m, x[i]);
  }
  return m;
}

__attribute__((target("avx2,fma"))) double exp_shifted_and_sum_avx2(float* x, float shift, int n) {
  const __m256 vshift = _mm256_set1_ps(shift);
  __m256d sum_lo = _mm256_setzero_pd(), sum_hi = _mm256_setzero_pd();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = cpu::exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vshift));
    _mm256_storeu_ps(x + i, e);
    sum_lo = _mm256_add_pd(sum_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sum_hi = _mm256_add_pd(sum_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, _mm256_add_pd(sum_lo, sum_hi));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) {
    x[i] = cpu::exp_scalar_fma(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

__attribute__((target("avx2,fma"))) void scale_row_avx2(float* x, float factor, int n) {
  const __m256 f = _mm256_set1_ps(factor);
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), f));
  for (; i < n; ++i) x[i] *= factor;
}

// GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders as uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) float add_bias_and_max_avx512(float* x, const float* bias,
                                                                  int n) {
  __m512 vmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    if (bias) {
      v = _mm512_add_ps(v, _mm512_loadu_ps(bias + i));
      _mm512_storeu_ps(x + i, v);
    }
    vmax = _mm512_max_ps(vmax, v);
  }
  float m = _mm512_reduce_max_ps(vmax);
  for (; i < n; ++i) {
    if (bias) x[i] += bias[i];
    m = std::max(m, x[i]);
  }
  return m;
}

__attribute__((target("avx512f"))) double exp_shifted_and_sum_avx512(float* x, float shift,
                                                                      int n) {
  const __m512 vshift = _mm512_set1_ps(shift);
  __m512d sum_lo = _mm512_setzero_pd(), sum_hi = _mm512_setzero_pd();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = cpu::exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vshift));
    _mm512_storeu_ps(x + i, e);
    sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    sum_hi = _mm512_add_pd(
        sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  double sum = _mm512_reduce_add_pd(_mm512_add_pd(sum_lo, sum_hi));
  for (; i < n; ++i) {
    x[i] = cpu::exp_scalar_fma(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

__attribute__((target("avx512f"))) void exp_shifted_scaled_avx512(float* x, const float* bias,
                                                                   float shift, float factor,
                                                                   int n) {
  const __m512 vshift = _mm512_set1_ps(shift), vfactor = _mm512_set1_ps(factor);
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + i));
    _mm512_storeu_ps(x + i, _mm512_mul_ps(cpu::exp16(_mm512_sub_ps(v, vshift)), vfactor));
  }
  for (; i < n; ++i) {
    const float v = bias ? x[i] + bias[i] : x[i];
    x[i] = cpu::exp_scalar_fma(v - shift) * factor;
  }
}
#pragma GCC diagnostic pop

__attribute__((target("avx2,fma"))) void exp_shifted_scaled_avx2(float* x, const float* bias,
                                                                 float shift, float factor,
                                                                 int n) {
  const __m256 vshift = _mm256_set1_ps(shift), vfactor = _mm256_set1_ps(factor);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + i));
    _mm256_storeu_ps(x + i, _mm256_mul_ps(cpu::exp8(_mm256_sub_ps(v, vshift)), vfactor));
  }
  for (; i < n; ++i) {
    const float v = bias ? x[i] + bias[i] : x[i];
    x[i] = cpu::exp_scalar_fma(v - shift) * factor;
  }
}

template <class T>
T add_bias_and_max_plain(T* x, const T* bias, int n) {
  T m = -std::numeric_limits<T>::infinity();
  for (int i = 0; i < n; ++i) {
    if (bias) x[i] += bias[i];
    m = std::max(m, x[i]);
  }
  return m;
}

template <class T>
double exp_shifted_and_sum_plain(T* x, T shift, int n) {
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

template <class T>
void scale_row_plain(T* x, T factor, int n) {
  for (int i = 0; i < n; ++i) x[i] *= factor;
}

template <class T>
void exp_shifted_scaled_plain(T* x, const T* bias, T shift, T factor, int n) {
  for (int i = 0; i < n; ++i) {
    const T v = bias ? x[i] + bias[i] : x[i];
    x[i] = std::exp(v - shift) * factor;
  }
}

}  // namespace

template <>
float add_bias_and_max<float>(float* x, const float* bias, int n) {
  if (cpu::has_avx512()) return add_bias_and_max_avx512(x, bias, n);
  return cpu::has_avx2_fma() ? add_bias_and_max_avx2(x, bias, n)
                             : add_bias_and_max_plain(x, bias, n);
}
template <>
double add_bias_and_max<double>(double* x, const double* bias, int n) {
  return add_bias_and_max_plain(x, bias, n);
}

template <>
double exp_shifted_and_sum<float>(float* x, float shift, int n) {
  if (cpu::has_avx512()) return exp_shifted_and_sum_avx512(x, shift, n);
  return cpu::has_avx2_fma() ? exp_shifted_and_sum_avx2(x, shift, n)
                             : exp_shifted_and_sum_plain(x, shift, n);
}
template <>
double exp_shifted_and_sum<double>(double* x, double shift, int n) {
  return exp_shifted_and_sum_plain(x, shift, n);
}

template <>
void exp_shifted_scaled<float>(float* x, const float* bias, float shift, float factor, int n) {
  if (cpu::has_avx512()) return exp_shifted_scaled_avx512(x, bias, shift, factor, n);
  if (cpu::has_avx2_fma()) return exp_shifted_scaled_avx2(x, bias, shift, factor, n);
  exp_shifted_scaled_plain(x, bias, shift, factor, n);
}
template <>
void exp_shifted_scaled<double>(double* x, const double* bias, double shift, double factor,
                                int n) {
  exp_shifted_scaled_plain(x, bias, shift, factor, n);
}

template <>
void scale_row<float>(float* x, float factor, int n) {
  cpu::has_avx2_fma() ? scale_row_avx2(x, factor, n) : scale_row_plain(x, factor, n);
}
template <>
void scale_row<double>(double* x, double factor, int n) {
  scale_row_plain(x, factor, n);
}

}  // namespace cf::ops::cpu
