// Reference CUDA attention: the textbook algorithm with the probabilities materialised
// (att [B, NH, T, T], fp32), one block per row. Slow and memory-hungry on purpose: it is the
// simple thing the flash kernel is tested and benchmarked against.
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "kernels/attention_mask.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_math.cuh"

namespace cf::cuda {

namespace {

constexpr int kThreads = 128;

// Block (b, h, t): scores, softmax into att, then out = att @ v.
template <class T>
__global__ void reference_forward_kernel(T* out, float* att, const T* qkv, const int32_t* lengths,
                                         int Tlen, int C, int NH) {
  __shared__ float shared[32];
  const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int hs = C / NH;
  const int64_t row = 3 * int64_t(C);
  const float scale = rsqrtf(float(hs));
  const int nvis = ops::visible_keys(t, lengths[b]);
  const T* q = qkv + (int64_t(b) * Tlen + t) * row + h * hs;
  const T* keys = qkv + int64_t(b) * Tlen * row + C + h * hs;
  const T* values = keys + C;
  float* a = att + ((int64_t(b) * NH + h) * Tlen + t) * Tlen;
  float local_max = -INFINITY;
  for (int s = threadIdx.x; s < Tlen; s += blockDim.x) {
    float score = 0.0f;
    if (s < nvis) {
      for (int i = 0; i < hs; ++i) score += to_float(q[i]) * to_float(keys[s * row + i]);
      score *= scale;
      local_max = fmaxf(local_max, score);
    }
    a[s] = score;
  }
  const float max_score = block_max(local_max, shared);
  float local_sum = 0.0f;
  for (int s = threadIdx.x; s < nvis; s += blockDim.x) local_sum += expf(a[s] - max_score);
  const float sum = block_sum(local_sum, shared);
  for (int s = threadIdx.x; s < Tlen; s += blockDim.x)
    a[s] = s < nvis ? expf(a[s] - max_score) / sum : 0.0f;
  __syncthreads();  // att row complete (global writes of this block) before the weighted sum
  T* o = out + (int64_t(b) * Tlen + t) * C + h * hs;
  for (int i = threadIdx.x; i < hs; i += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < nvis; ++s) acc += a[s] * to_float(values[s * row + i]);
    o[i] = from_float<T>(acc);
  }
}

// Block (b, h, t) of queries: dscore row into `dscore` ([B, NH, T, T]) and dq.
template <class T>
__global__ void reference_backward_query_kernel(T* dqkv, float* dscore, const T* dout, const T* qkv,
                                                const float* att, const int32_t* lengths, int Tlen,
                                                int C, int NH) {
  __shared__ float shared[32];
  const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int hs = C / NH;
  const int64_t row = 3 * int64_t(C);
  const float scale = rsqrtf(float(hs));
  const int nvis = ops::visible_keys(t, lengths[b]);
  const T* keys = qkv + int64_t(b) * Tlen * row + C + h * hs;
  const T* values = keys + C;
  const T* g = dout + (int64_t(b) * Tlen + t) * C + h * hs;
  const int64_t att_row = ((int64_t(b) * NH + h) * Tlen + t) * Tlen;
  const float* a = att + att_row;
  float* ds = dscore + att_row;
  // datt[s] = g . v_s, kept in ds for now; expected = sum_s a[s] datt[s].
  float local = 0.0f;
  for (int s = threadIdx.x; s < Tlen; s += blockDim.x) {
    float dot = 0.0f;
    if (s < nvis)
      for (int i = 0; i < hs; ++i) dot += to_float(g[i]) * to_float(values[s * row + i]);
    ds[s] = dot;
    local += a[s] * dot;
  }
  const float expected = block_sum(local, shared);
  for (int s = threadIdx.x; s < Tlen; s += blockDim.x)
    ds[s] = s < nvis ? a[s] * (ds[s] - expected) * scale : 0.0f;
  __syncthreads();
  T* dq = dqkv + (int64_t(b) * Tlen + t) * row + h * hs;
  for (int i = threadIdx.x; i < hs; i += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < nvis; ++s) acc += ds[s] * to_float(keys[s * row + i]);
    dq[i] = from_float<T>(to_float(dq[i]) + acc);
  }
}

// Block (b, h, s) of keys: dk_s = sum_t dscore[t, s] q_t, dv_s = sum_t att[t, s] g_t.
template <class T>
__global__ void reference_backward_key_kernel(T* dqkv, const float* dscore, const T* dout,
                                              const T* qkv, const float* att, int Tlen, int C,
                                              int NH) {
  const int s = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int hs = C / NH;
  const int64_t row = 3 * int64_t(C);
  const int64_t plane = (int64_t(b) * NH + h) * Tlen * Tlen;
  T* dk = dqkv + (int64_t(b) * Tlen + s) * row + C + h * hs;
  T* dv = dk + C;
  for (int i = threadIdx.x; i < hs; i += blockDim.x) {
    float acc_k = 0.0f, acc_v = 0.0f;
    for (int t = s; t < Tlen; ++t) {  // causal: only queries t >= s see key s
      const int64_t at = plane + int64_t(t) * Tlen + s;
      acc_k += dscore[at] * to_float(qkv[(int64_t(b) * Tlen + t) * row + h * hs + i]);
      acc_v += att[at] * to_float(dout[(int64_t(b) * Tlen + t) * C + h * hs + i]);
    }
    dk[i] = from_float<T>(to_float(dk[i]) + acc_k);
    dv[i] = from_float<T>(to_float(dv[i]) + acc_v);
  }
}

}  // namespace

template <class T>
void reference_attention_forward(T* out, float* att, const T* qkv, const int32_t* lengths, int B,
                                 int Tlen, int C, int NH, cudaStream_t stream) {
  CF_CHECK(NH > 0 && C % NH == 0, "attention: C must be a multiple of NH");
  CF_CHECK(B <= 65535 && NH <= 65535, "reference attention: B and NH must fit the grid");
  if (B <= 0 || Tlen <= 0) return;
  reference_forward_kernel<T>
      <<<dim3(Tlen, NH, B), kThreads, 0, stream>>>(out, att, qkv, lengths, Tlen, C, NH);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void reference_attention_backward(T* dqkv, const T* dout, const T* qkv, const float* att,
                                  const int32_t* lengths, int B, int Tlen, int C, int NH,
                                  cudaStream_t stream) {
  CF_CHECK(NH > 0 && C % NH == 0, "attention: C must be a multiple of NH");
  CF_CHECK(B <= 65535 && NH <= 65535, "reference attention: B and NH must fit the grid");
  if (B <= 0 || Tlen <= 0) return;
  // The score gradients live as long as this call: stream-ordered allocation keeps it simple.
  float* dscore = nullptr;
  CF_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&dscore),
                                sizeof(float) * int64_t(B) * NH * Tlen * Tlen, stream));
  reference_backward_query_kernel<T><<<dim3(Tlen, NH, B), kThreads, 0, stream>>>(
      dqkv, dscore, dout, qkv, att, lengths, Tlen, C, NH);
  CF_CUDA_CHECK_LAUNCH();
  reference_backward_key_kernel<T>
      <<<dim3(Tlen, NH, B), kThreads, 0, stream>>>(dqkv, dscore, dout, qkv, att, Tlen, C, NH);
  CF_CUDA_CHECK_LAUNCH();
  CF_CUDA_CHECK(cudaFreeAsync(dscore, stream));
}

// ---- HSTU pointwise attention (ops::hstu_attention_forward / _backward on the CPU) -----------
// Packed rows: sequence b owns rows [sequence_start[b], + lengths[b]) of uvqk [N, 4C] = U|V|Q|K.
// One block per (sequence, head); its threads take query (or key) positions in turn.

constexpr int kHstuThreads = 64;

template <class T>
__global__ void hstu_forward_kernel(T* out, float* scores, const T* uvqk, const T* rel_pos_bias,
                                    int bias_len, const int32_t* sequence_start,
                                    const int32_t* lengths, int Tlen, int C, int NH, float inv_n) {
  const int b = blockIdx.x / NH, h = blockIdx.x % NH;
  const int len = lengths[b], hs = C / NH;
  const int64_t first = sequence_start[b], row = 4 * int64_t(C);
  const T* bias = rel_pos_bias + int64_t(h) * bias_len;
  for (int t = threadIdx.x; t < len; t += blockDim.x) {
    const T* q = uvqk + (first + t) * row + 2 * C + h * hs;
    float* z = scores + ((int64_t(b) * NH + h) * Tlen + t) * Tlen;
    for (int s = 0; s <= t; ++s) {
      const T* k = uvqk + (first + s) * row + 3 * C + h * hs;
      float dot = 0.0f;
      for (int i = 0; i < hs; ++i) dot += to_float(q[i]) * to_float(k[i]);
      z[s] = dot + to_float(bias[t - s]);
    }
    T* o = out + (first + t) * C + h * hs;
    for (int i = 0; i < hs; ++i) {
      float acc = 0.0f;
      for (int s = 0; s <= t; ++s) {
        const float weight = z[s] / (1.0f + expf(-z[s])) * inv_n;
        acc += weight * to_float(uvqk[(first + s) * row + C + h * hs + i]);
      }
      o[i] = from_float<T>(acc);
    }
  }
}

// Phase 1 (thread per query t): dz[t, s] for s <= t into dscores and dQ_t; phase 2 (thread per
// key s): dV_s and dK_s from the stored dz. Every gradient row has one writer: deterministic.
template <class T>
__global__ void hstu_backward_kernel(T* duvqk, float* dscores, const T* dout, const T* uvqk,
                                     const float* scores, const int32_t* sequence_start,
                                     const int32_t* lengths, int Tlen, int C, int NH, float inv_n) {
  const int b = blockIdx.x / NH, h = blockIdx.x % NH;
  const int len = lengths[b], hs = C / NH;
  const int64_t first = sequence_start[b], row = 4 * int64_t(C);
  const int64_t pair = (int64_t(b) * NH + h) * Tlen;
  for (int t = threadIdx.x; t < len; t += blockDim.x) {
    const T* g = dout + (first + t) * C + h * hs;
    const float* z = scores + (pair + t) * Tlen;
    float* dz = dscores + (pair + t) * Tlen;
    for (int s = 0; s <= t; ++s) {
      const T* v = uvqk + (first + s) * row + C + h * hs;
      float dweight = 0.0f;
      for (int i = 0; i < hs; ++i) dweight += to_float(g[i]) * to_float(v[i]);
      const float sig = 1.0f / (1.0f + expf(-z[s]));
      dz[s] = dweight * inv_n * sig * (1.0f + z[s] * (1.0f - sig));
    }
    T* dq = duvqk + (first + t) * row + 2 * C + h * hs;
    for (int i = 0; i < hs; ++i) {
      float acc = 0.0f;
      for (int s = 0; s <= t; ++s)
        acc += dz[s] * to_float(uvqk[(first + s) * row + 3 * C + h * hs + i]);
      dq[i] = from_float<T>(to_float(dq[i]) + acc);
    }
  }
  __syncthreads();
  for (int s = threadIdx.x; s < len; s += blockDim.x) {
    T* dv = duvqk + (first + s) * row + C + h * hs;
    T* dk = duvqk + (first + s) * row + 3 * C + h * hs;
    for (int i = 0; i < hs; ++i) {
      float acc_v = 0.0f, acc_k = 0.0f;
      for (int t = s; t < len; ++t) {
        const float z = scores[(pair + t) * Tlen + s];
        const float weight = z / (1.0f + expf(-z)) * inv_n;
        acc_v += weight * to_float(dout[(first + t) * C + h * hs + i]);
        acc_k +=
            dscores[(pair + t) * Tlen + s] * to_float(uvqk[(first + t) * row + 2 * C + h * hs + i]);
      }
      dv[i] = from_float<T>(to_float(dv[i]) + acc_v);
      dk[i] = from_float<T>(to_float(dk[i]) + acc_k);
    }
  }
}

// drel_pos_bias[h, d] += sum over sequences b (in order) and t of dz[b, h, t, t - d].
__global__ void hstu_bias_grad_kernel(float* drel_pos_bias, const float* dscores,
                                      const int32_t* lengths, int B, int Tlen, int NH,
                                      int bias_len) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= NH * Tlen) return;
  const int h = i / Tlen, d = i % Tlen;
  float sum = 0.0f;
  for (int b = 0; b < B; ++b)
    for (int t = d; t < lengths[b]; ++t)
      sum += dscores[((int64_t(b) * NH + h) * Tlen + t) * Tlen + (t - d)];
  drel_pos_bias[int64_t(h) * bias_len + d] += sum;
}

template <class T>
void hstu_attention_forward(T* out, float* scores, const T* uvqk, const T* rel_pos_bias,
                            int bias_len, const int32_t* sequence_start, const int32_t* lengths,
                            int B, int Tlen, int C, int NH, float inv_n, cudaStream_t stream) {
  CF_CHECK(NH > 0 && C % NH == 0 && Tlen <= bias_len, "hstu attention: bad shape");
  if (B <= 0 || Tlen <= 0) return;
  hstu_forward_kernel<T><<<B * NH, kHstuThreads, 0, stream>>>(
      out, scores, uvqk, rel_pos_bias, bias_len, sequence_start, lengths, Tlen, C, NH, inv_n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void hstu_attention_backward(T* duvqk, float* drel_pos_bias, float* dscores, const T* dout,
                             const T* uvqk, const float* scores, int bias_len,
                             const int32_t* sequence_start, const int32_t* lengths, int B, int Tlen,
                             int C, int NH, float inv_n, cudaStream_t stream) {
  CF_CHECK(NH > 0 && C % NH == 0 && Tlen <= bias_len, "hstu attention: bad shape");
  if (B <= 0 || Tlen <= 0) return;
  hstu_backward_kernel<T><<<B * NH, kHstuThreads, 0, stream>>>(
      duvqk, dscores, dout, uvqk, scores, sequence_start, lengths, Tlen, C, NH, inv_n);
  CF_CUDA_CHECK_LAUNCH();
  const int pairs = NH * Tlen;
  hstu_bias_grad_kernel<<<(pairs + 255) / 256, 256, 0, stream>>>(drel_pos_bias, dscores, lengths, B,
                                                                 Tlen, NH, bias_len);
  CF_CUDA_CHECK_LAUNCH();
}

#define CF_INSTANTIATE(T)                                                                        \
  template void hstu_attention_forward<T>(T*, float*, const T*, const T*, int, const int32_t*,   \
                                          const int32_t*, int, int, int, int, float,             \
                                          cudaStream_t);                                         \
  template void hstu_attention_backward<T>(T*, float*, float*, const T*, const T*, const float*, \
                                           int, const int32_t*, const int32_t*, int, int, int,   \
                                           int, float, cudaStream_t);                            \
  template void reference_attention_forward<T>(T*, float*, const T*, const int32_t*, int, int,   \
                                               int, int, cudaStream_t);                          \
  template void reference_attention_backward<T>(T*, const T*, const T*, const float*,            \
                                                const int32_t*, int, int, int, int, cudaStream_t);
CF_INSTANTIATE(float)
CF_INSTANTIATE(bf16)
#undef CF_INSTANTIATE

}  // namespace cf::cuda
