// CUDA loss rows: softmax cross-entropy over one chunk of fp32 logits, and binary cross-entropy.
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_math.cuh"

namespace cf::cuda {

namespace {

constexpr int kXentThreads = 256;

// One block per row: max, sum of exponentials, then the gradient, all in fp32.
template <class T>
__global__ void softmax_xent_rows_kernel(float* loss, int32_t* counted, T* dlogits,
                                         const float* logits, const T* bias, const int32_t* targets,
                                         int V, float grad_scale) {
  __shared__ float shared[32];
  const int64_t n = blockIdx.x;
  const float* row = logits + n * V;
  T* drow = dlogits + n * V;
  const int target = targets[n];
  if (target <= 0) {
    for (int v = threadIdx.x; v < V; v += blockDim.x) drow[v] = from_float<T>(0.0f);
    if (threadIdx.x == 0) {
      loss[n] = 0.0f;
      counted[n] = 0;
    }
    return;
  }
  auto logit = [&](int v) { return row[v] + (bias ? to_float(bias[v]) : 0.0f); };
  float local_max = -INFINITY;
  for (int v = threadIdx.x; v < V; v += blockDim.x) local_max = fmaxf(local_max, logit(v));
  const float max_logit = block_max(local_max, shared);
  float local_sum = 0.0f;
  for (int v = threadIdx.x; v < V; v += blockDim.x) local_sum += expf(logit(v) - max_logit);
  const float lse = max_logit + logf(block_sum(local_sum, shared));
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    const float p = expf(logit(v) - lse);
    drow[v] = from_float<T>(grad_scale * (p - (v == target ? 1.0f : 0.0f)));
  }
  if (threadIdx.x == 0) {
    loss[n] = lse - logit(target);
    counted[n] = 1;
  }
}

// Stable form as on the CPU: max(x, 0) - x y + log1p(exp(-|x|)).
template <class T>
__global__ void bce_kernel(float* loss, T* dlogits, const T* logits, const float* labels, int N,
                           float grad_scale) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const float y = labels[n];
  if (y < 0.0f) {
    loss[n] = 0.0f;
    return;
  }
  const float x = to_float(logits[n]);
  const float e = expf(-fabsf(x));
  loss[n] = fmaxf(x, 0.0f) - x * y + log1pf(e);
  if (dlogits) {
    const float sigmoid = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    dlogits[n] = from_float<T>(to_float(dlogits[n]) + (sigmoid - y) * grad_scale);
  }
}

}  // namespace

template <class T>
void softmax_xent_rows(float* loss, int32_t* counted, T* dlogits, const float* logits,
                       const T* bias, const int32_t* targets, int N, int V, float grad_scale,
                       cudaStream_t stream) {
  if (N <= 0) return;
  softmax_xent_rows_kernel<T><<<N, kXentThreads, 0, stream>>>(loss, counted, dlogits, logits, bias,
                                                              targets, V, grad_scale);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void bce_with_logits(float* loss, T* dlogits, const T* logits, const float* labels, int N,
                     float grad_scale, cudaStream_t stream) {
  if (N <= 0) return;
  bce_kernel<T><<<(N + 255) / 256, 256, 0, stream>>>(loss, dlogits, logits, labels, N, grad_scale);
  CF_CUDA_CHECK_LAUNCH();
}

#define CF_INSTANTIATE(T)                                                                          \
  template void softmax_xent_rows<T>(float*, int32_t*, T*, const float*, const T*, const int32_t*, \
                                     int, int, float, cudaStream_t);                               \
  template void bce_with_logits<T>(float*, T*, const T*, const float*, int, float, cudaStream_t);
CF_INSTANTIATE(float)
CF_INSTANTIATE(bf16)
#undef CF_INSTANTIATE

}  // namespace cf::cuda
