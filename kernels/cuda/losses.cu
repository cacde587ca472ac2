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

// One block per row of the sampled item loss (ops::shared_candidates_loss_forward_backward):
// the target logit as a block dot product, then the candidates' corrected logits (accidental
// hits masked), then the softmax or gBCE loss and its logit gradients, in fp32 like the CPU.
template <class T>
__global__ void sampled_loss_rows_kernel(float* loss, int32_t* counted, T* dcand, float* dtarget,
                                         const float* cand_logits, const T* hidden,
                                         const T* target_weight, const T* bias, const float* log_q,
                                         const int32_t* candidates, const int32_t* targets, int M,
                                         int C, bool gbce, float gbce_beta, float grad_scale) {
  __shared__ float shared[32];
  const int64_t n = blockIdx.x;
  const float* row = cand_logits + n * M;
  T* drow = dcand ? dcand + n * M : nullptr;
  const int target = targets[n];
  if (target <= 0) {
    if (drow)
      for (int j = threadIdx.x; j < M; j += blockDim.x) drow[j] = from_float<T>(0.0f);
    if (threadIdx.x == 0) {
      loss[n] = 0.0f;
      counted[n] = 0;
      if (dtarget) dtarget[n] = 0.0f;
    }
    return;
  }
  float partial = 0.0f;
  for (int c = threadIdx.x; c < C; c += blockDim.x)
    partial += to_float(hidden[n * C + c]) * to_float(target_weight[n * C + c]);
  const float pos = block_sum(partial, shared) + (bias ? to_float(bias[target]) : 0.0f) -
                    (log_q ? log_q[target] : 0.0f);
  auto logit = [&](int j) {
    const int item = candidates[j];
    return row[j] + (bias ? to_float(bias[item]) : 0.0f) - (log_q ? log_q[item] : 0.0f);
  };
  if (!gbce) {
    float local_max = -INFINITY;
    for (int j = threadIdx.x; j < M; j += blockDim.x)
      if (candidates[j] != target) local_max = fmaxf(local_max, logit(j));
    const float top = fmaxf(block_max(local_max, shared), pos);
    float local_sum = 0.0f;
    for (int j = threadIdx.x; j < M; j += blockDim.x)
      if (candidates[j] != target) local_sum += expf(logit(j) - top);
    const float sum = block_sum(local_sum, shared) + expf(pos - top);
    if (drow)
      for (int j = threadIdx.x; j < M; j += blockDim.x)
        drow[j] =
            from_float<T>(candidates[j] == target ? 0.0f : grad_scale * expf(logit(j) - top) / sum);
    if (threadIdx.x == 0) {
      loss[n] = logf(sum) + top - pos;
      counted[n] = 1;
      if (dtarget) dtarget[n] = (expf(pos - top) / sum - 1.0f) * grad_scale;
    }
    return;
  }
  // gBCE: -beta log sigmoid(pos) - sum_j log(1 - sigmoid(s_j)), softplus in its stable form.
  float local = 0.0f;
  for (int j = threadIdx.x; j < M; j += blockDim.x) {
    if (candidates[j] == target) {
      if (drow) drow[j] = from_float<T>(0.0f);
      continue;
    }
    const float x = logit(j), e = expf(-fabsf(x));
    local += fmaxf(x, 0.0f) + log1pf(e);
    if (drow) drow[j] = from_float<T>((x >= 0.0f ? 1.0f : e) / (1.0f + e) * grad_scale);
  }
  const float negatives = block_sum(local, shared);
  if (threadIdx.x == 0) {
    const float e = expf(-fabsf(pos));
    const float softplus_minus_pos = fmaxf(-pos, 0.0f) + log1pf(e);
    const float sigmoid_minus_pos = pos >= 0.0f ? e / (1.0f + e) : 1.0f / (1.0f + e);
    loss[n] = gbce_beta * softplus_minus_pos + negatives;
    counted[n] = 1;
    if (dtarget) dtarget[n] = -gbce_beta * sigmoid_minus_pos * grad_scale;
  }
}

// The target term's share of the backward: dhidden[n] += dtarget[n] * target_weight[n] and
// dweight_rows[n] = dtarget[n] * hidden[n] (fp32, scattered to the table by the caller).
template <class T>
__global__ void sampled_target_grads_kernel(T* dhidden, float* dweight_rows, const float* dtarget,
                                            const T* hidden, const T* target_weight, int N, int C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(N) * C) return;
  const float d = dtarget[i / C];
  dhidden[i] = from_float<T>(to_float(dhidden[i]) + d * to_float(target_weight[i]));
  dweight_rows[i] = d * to_float(hidden[i]);
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
void sampled_loss_rows(float* loss, int32_t* counted, T* dcand, float* dtarget,
                       const float* cand_logits, const T* hidden, const T* target_weight,
                       const T* bias, const float* log_q, const int32_t* candidates,
                       const int32_t* targets, int N, int M, int C, bool gbce, float gbce_beta,
                       float grad_scale, cudaStream_t stream) {
  if (N <= 0) return;
  sampled_loss_rows_kernel<T><<<N, kXentThreads, 0, stream>>>(
      loss, counted, dcand, dtarget, cand_logits, hidden, target_weight, bias, log_q, candidates,
      targets, M, C, gbce, gbce_beta, grad_scale);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void sampled_target_grads(T* dhidden, float* dweight_rows, const float* dtarget, const T* hidden,
                          const T* target_weight, int N, int C, cudaStream_t stream) {
  const int64_t n = int64_t(N) * C;
  if (n <= 0) return;
  sampled_target_grads_kernel<T><<<int((n + 255) / 256), 256, 0, stream>>>(
      dhidden, dweight_rows, dtarget, hidden, target_weight, N, C);
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
  template void bce_with_logits<T>(float*, T*, const T*, const float*, int, float, cudaStream_t);  \
  template void sampled_loss_rows<T>(                                                              \
      float*, int32_t*, T*, float*, const float*, const T*, const T*, const T*, const float*,      \
      const int32_t*, const int32_t*, int, int, int, bool, float, float, cudaStream_t);            \
  template void sampled_target_grads<T>(T*, float*, const float*, const T*, const T*, int, int,    \
                                        cudaStream_t);
CF_INSTANTIATE(float)
CF_INSTANTIATE(bf16)
#undef CF_INSTANTIATE

}  // namespace cf::cuda
