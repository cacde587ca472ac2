// CPU ops of the ligr and hstu blocks: sigmoid gates, SiLU/SwiGLU, and HSTU's pointwise
// attention. The GEMMs of those blocks go through matmul.cpp; only these O(N*C) elementwise
// passes and the O(T^2) attention live here.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/ops.h"

namespace cf::ops {

namespace {

template <class T>
inline T sigmoid_of(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// Below this many elements a pass is cheaper than waking the OpenMP team.
constexpr int64_t kParallelElements = 1 << 16;

// Sigmoids are computed a span at a time into a stack buffer, and the op's arithmetic then runs
// over plain arrays the compiler vectorises. In float on AVX2 the exponential is exp8, the one
// GELU and the softmax use: std::exp per element made SwiGLU alone cost more than its GEMMs.
// Double (the gradient checks) keeps std::exp.
constexpr int kSpan = 256;

__attribute__((target("avx2,fma"))) void sigmoid_span_avx2(float* out, const float* x, int n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = cpu::exp8(_mm256_xor_ps(_mm256_loadu_ps(x + i), sign));  // exp(-x)
    _mm256_storeu_ps(out + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
  }
  for (; i < n; ++i) out[i] = 1.0f / (1.0f + cpu::exp_scalar_fma(-x[i]));  // the lanes' twin
}

template <class T>
void sigmoid_span(T* out, const T* x, int n) {
  if constexpr (std::is_same_v<T, float>) {
    if (cpu::has_avx2_fma()) return sigmoid_span_avx2(out, x, n);
  }
  for (int i = 0; i < n; ++i) out[i] = sigmoid_of(x[i]);
}

// Calls body(begin, width, sig) for consecutive spans of [0, n), sig = sigmoid(x[begin..]).
template <class T, class Body>
void for_each_sigmoid_span(const T* x, int64_t n, Body&& body) {
  T sig[kSpan];
  for (int64_t begin = 0; begin < n; begin += kSpan) {
    const int width = int(std::min<int64_t>(kSpan, n - begin));
    sigmoid_span(sig, x + begin, width);
    body(begin, width, sig);
  }
}

// Flat elementwise passes over [0, n) in fixed chunks of spans, in parallel when large.
constexpr int64_t kChunk = 16 * kSpan;

template <class T, class Body>
void parallel_sigmoid_spans(const T* x, int64_t n, Body&& body) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t begin = k * kChunk, end = std::min(n, begin + kChunk);
    for_each_sigmoid_span(x + begin, end - begin, [&](int64_t at, int width, const T* sig) {
      body(begin + at, width, sig);
    });
  }
}

}  // namespace

template <class T>
void sigmoid_forward(T* out, const T* inp, int64_t n) {
  parallel_sigmoid_spans(inp, n, [&](int64_t at, int width, const T* sig) {
    std::copy_n(sig, width, out + at);
  });
}

template <class T>
void silu_forward(T* out, const T* inp, int64_t n) {
  parallel_sigmoid_spans(inp, n, [&](int64_t at, int width, const T* sig) {
    for (int i = 0; i < width; ++i) out[at + i] = inp[at + i] * sig[i];
  });
}

template <class T>
void silu_backward(T* dinp, const T* inp, const T* dout, int64_t n) {
  parallel_sigmoid_spans(inp, n, [&](int64_t at, int width, const T* sig) {
    for (int i = 0; i < width; ++i) {
      const T x = inp[at + i];
      dinp[at + i] += dout[at + i] * sig[i] * (T(1) + x * (T(1) - sig[i]));
    }
  });
}

template <class T>
void gated_residual_forward(T* out, const T* x, const T* gate, const T* branch, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] + gate[i] * branch[i];
}

template <class T>
void gated_residual_backward(T* dgate_logit, T* dbranch, const T* dout, const T* gate,
                             const T* branch, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (int64_t i = 0; i < n; ++i) {
    dgate_logit[i] += dout[i] * branch[i] * gate[i] * (T(1) - gate[i]);
    dbranch[i] += dout[i] * gate[i];
  }
}

template <class T>
void swiglu_forward(T* out, const T* gate_up, int N, int F) {
#pragma omp parallel for schedule(static) if (int64_t(N) * F > kParallelElements)
  for (int n = 0; n < N; ++n) {
    const T* s = gate_up + int64_t(n) * 2 * F;
    const T* u = s + F;
    T* o = out + int64_t(n) * F;
    for_each_sigmoid_span(s, F, [&](int64_t at, int width, const T* sig) {
      for (int j = 0; j < width; ++j) o[at + j] = s[at + j] * sig[j] * u[at + j];
    });
  }
}

template <class T>
void swiglu_backward(T* dgate_up, const T* gate_up, const T* dout, int N, int F) {
#pragma omp parallel for schedule(static) if (int64_t(N) * F > kParallelElements)
  for (int n = 0; n < N; ++n) {
    const T* s = gate_up + int64_t(n) * 2 * F;
    const T* u = s + F;
    const T* g = dout + int64_t(n) * F;
    T* ds = dgate_up + int64_t(n) * 2 * F;
    T* du = ds + F;
    for_each_sigmoid_span(s, F, [&](int64_t at, int width, const T* sig) {
      for (int j = 0; j < width; ++j) {
        const T x = s[at + j], gj = g[at + j];
        ds[at + j] += gj * u[at + j] * sig[j] * (T(1) + x * (T(1) - sig[j]));
        du[at + j] += gj * x * sig[j];
      }
    });
  }
}

template <class T>
void hstu_gate_forward(T* out, const T* normed, const T* uvqk, int N, int C) {
#pragma omp parallel for schedule(static) if (int64_t(N) * C > kParallelElements)
  for (int n = 0; n < N; ++n) {
    const T* u = uvqk + int64_t(n) * 4 * C;
    const T* a = normed + int64_t(n) * C;
    T* o = out + int64_t(n) * C;
    for (int c = 0; c < C; ++c) o[c] = a[c] * u[c];
  }
}

template <class T>
void hstu_gate_backward(T* dnormed, T* duvqk, const T* dout, const T* normed, const T* uvqk, int N,
                        int C) {
#pragma omp parallel for schedule(static) if (int64_t(N) * C > kParallelElements)
  for (int n = 0; n < N; ++n) {
    const T* u = uvqk + int64_t(n) * 4 * C;
    const T* a = normed + int64_t(n) * C;
    const T* g = dout + int64_t(n) * C;
    T* da = dnormed + int64_t(n) * C;
    T* du = duvqk + int64_t(n) * 4 * C;
    for (int c = 0; c < C; ++c) {
      da[c] += g[c] * u[c];
      du[c] += g[c] * a[c];
    }
  }
}

namespace {

void check_hstu_shapes(const int32_t* lengths, int B, int Tlen, int C, int NH, int bias_len) {
  CF_CHECK(NH > 0 && C % NH == 0, "hstu attention: C must be a multiple of NH");
  CF_CHECK(Tlen <= bias_len, "hstu attention: T exceeds the relative position bias length");
  for (int b = 0; b < B; ++b)
    CF_CHECK(lengths[b] >= 0 && lengths[b] <= Tlen, "hstu attention: lengths[b] outside [0, T]");
}

bool hstu_worth_threads(int B, int NH, int Tlen, int hs) {
  return int64_t(B) * NH * Tlen * Tlen * hs > 65536;
}

}  // namespace

// Column offsets of the four projections inside a uvqk row: U | V | Q | K.
template <class T>
void hstu_attention_forward(T* out, T* scores, const T* uvqk, const T* rel_pos_bias, int bias_len,
                            const int32_t* sequence_start, const int32_t* lengths, int B, int Tlen,
                            int C, int NH, T inv_n) {
  check_hstu_shapes(lengths, B, Tlen, C, NH, bias_len);
  const int hs = C / NH;
  const int64_t row = 4 * int64_t(C);
#pragma omp parallel for collapse(2) schedule(static) if (hstu_worth_threads(B, NH, Tlen, hs))
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      const int len = lengths[b];
      const int64_t first = sequence_start[b];
      const T* bias = rel_pos_bias + int64_t(h) * bias_len;
      for (int t = 0; t < len; ++t) {
        const T* q = uvqk + (first + t) * row + 2 * C + h * hs;
        T* z = scores + ((int64_t(b) * NH + h) * Tlen + t) * Tlen;
        T* o = out + (first + t) * C + h * hs;
        std::fill(o, o + hs, T(0));
        for (int s = 0; s <= t; ++s) {
          const T* k = uvqk + (first + s) * row + 3 * C + h * hs;
          const T* v = uvqk + (first + s) * row + C + h * hs;
          T dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int i = 0; i < hs; ++i) dot += q[i] * k[i];
          z[s] = dot + bias[t - s];
          const T weight = z[s] * sigmoid_of(z[s]) * inv_n;
#pragma omp simd
          for (int i = 0; i < hs; ++i) o[i] += weight * v[i];
        }
      }
    }
  }
}

// One (sequence, head) pair per task: its rows' V, Q, K gradients belong to it alone; the
// position bias, shared by every sequence, is summed from per-pair partials in a fixed order.
template <class T>
void hstu_attention_backward(T* duvqk, T* drel_pos_bias, const T* dout, const T* uvqk,
                             const T* scores, int bias_len, const int32_t* sequence_start,
                             const int32_t* lengths, int B, int Tlen, int C, int NH, T inv_n) {
  check_hstu_shapes(lengths, B, Tlen, C, NH, bias_len);
  const int hs = C / NH;
  const int64_t row = 4 * int64_t(C);
  std::vector<T> bias_partial(size_t(B) * NH * std::max(Tlen, 1), T(0));
#pragma omp parallel for collapse(2) schedule(static) if (hstu_worth_threads(B, NH, Tlen, hs))
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      const int len = lengths[b];
      const int64_t first = sequence_start[b];
      T* dbias = bias_partial.data() + (int64_t(b) * NH + h) * Tlen;
      for (int t = 0; t < len; ++t) {
        const T* q = uvqk + (first + t) * row + 2 * C + h * hs;
        T* dq = duvqk + (first + t) * row + 2 * C + h * hs;
        const T* g = dout + (first + t) * C + h * hs;
        const T* z = scores + ((int64_t(b) * NH + h) * Tlen + t) * Tlen;
        for (int s = 0; s <= t; ++s) {
          const T* k = uvqk + (first + s) * row + 3 * C + h * hs;
          const T* v = uvqk + (first + s) * row + C + h * hs;
          T* dk = duvqk + (first + s) * row + 3 * C + h * hs;
          T* dv = duvqk + (first + s) * row + C + h * hs;
          const T sig = sigmoid_of(z[s]);
          const T weight = z[s] * sig * inv_n;
          T dweight = 0;  // dL/d(weight) = g . v_s
#pragma omp simd reduction(+ : dweight)
          for (int i = 0; i < hs; ++i) dweight += g[i] * v[i];
#pragma omp simd
          for (int i = 0; i < hs; ++i) dv[i] += weight * g[i];
          const T dz = dweight * inv_n * sig * (T(1) + z[s] * (T(1) - sig));
#pragma omp simd
          for (int i = 0; i < hs; ++i) {
            dq[i] += dz * k[i];
            dk[i] += dz * q[i];
          }
          dbias[t - s] += dz;
        }
      }
    }
  }
  for (int h = 0; h < NH; ++h)
    for (int b = 0; b < B; ++b) {
      const T* partial = bias_partial.data() + (int64_t(b) * NH + h) * Tlen;
      T* dbias = drel_pos_bias + int64_t(h) * bias_len;
      for (int d = 0; d < Tlen; ++d) dbias[d] += partial[d];
    }
}

#define CF_INSTANTIATE(T)                                                                        \
  template void sigmoid_forward<T>(T*, const T*, int64_t);                                       \
  template void silu_forward<T>(T*, const T*, int64_t);                                          \
  template void silu_backward<T>(T*, const T*, const T*, int64_t);                               \
  template void gated_residual_forward<T>(T*, const T*, const T*, const T*, int64_t);            \
  template void gated_residual_backward<T>(T*, T*, const T*, const T*, const T*, int64_t);       \
  template void swiglu_forward<T>(T*, const T*, int, int);                                       \
  template void swiglu_backward<T>(T*, const T*, const T*, int, int);                            \
  template void hstu_gate_forward<T>(T*, const T*, const T*, int, int);                          \
  template void hstu_gate_backward<T>(T*, T*, const T*, const T*, const T*, int, int);           \
  template void hstu_attention_forward<T>(T*, T*, const T*, const T*, int, const int32_t*,       \
                                          const int32_t*, int, int, int, int, T);                \
  template void hstu_attention_backward<T>(T*, T*, const T*, const T*, const T*, int,            \
                                           const int32_t*, const int32_t*, int, int, int, int, T);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

}  // namespace cf::ops
