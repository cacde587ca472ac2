// exp8 / exp_scalar_fma: a fast float exponential (AVX2 + FMA), shared by the softmax and GELU.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace cf::ops::cpu {

// exp(x) = 2^k * exp(r), k = round(x / ln2), |r| <= ln2 / 2, with exp(r) from its Taylor series
// to degree 7 (truncation below 1e-8 relative on that interval). ln2 is split in a short high
// part (k * hi is exact) and a low correction so that r keeps full precision.
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
// Inputs are clamped so that 2^k stays a finite normal float (k in [-126, 127]); exp(88) is
// 1.65e38, just below FLT_MAX.
constexpr float kExpMin = -87.33654f;
constexpr float kExpMax = 88.0f;
constexpr float kTaylor[8] = {1.0f,      1.0f,       1.0f / 2,   1.0f / 6,
                              1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};

// The scalar twin of exp8 below, operation for operation, so that a row's tail elements get
// exactly the values the vector lanes would give.
__attribute__((target("avx2,fma"))) inline float exp_scalar_fma(float x) {
  x = std::min(std::max(x, kExpMin), kExpMax);
  const float k = std::nearbyint(x * kLog2e);
  float r = std::fma(-k, kLn2Hi, x);
  r = std::fma(-k, kLn2Lo, r);
  float p = kTaylor[7];
  for (int i = 6; i >= 0; --i) p = std::fma(p, r, kTaylor[i]);
  const int bits = (int(k) + 127) << 23;
  float two_k;
  std::memcpy(&two_k, &bits, sizeof two_k);
  return p * two_k;
}

__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpMin)), _mm256_set1_ps(kExpMax));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kTaylor[7]);
  for (int i = 6; i >= 0; --i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kTaylor[i]));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// exp8 on 16 lanes, operation for operation, so both give the same bits for the same input.
// (GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders as maybe-uninitialized.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(kExpMin)), _mm512_set1_ps(kExpMax));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kTaylor[7]);
  for (int i = 6; i >= 0; --i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kTaylor[i]));
  const __m512i bits =
      _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}
#pragma GCC diagnostic pop

// Whether this CPU runs the AVX-512 code paths (checked once).
inline bool has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

// Whether this CPU runs the AVX2 + FMA code paths (checked once).
inline bool has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

}  // namespace cf::ops::cpu
