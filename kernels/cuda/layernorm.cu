// CUDA LayerNorm fused with the residual add: forward one warp per row, backward in two passes
// whose weight/bias sums run in a fixed order (deterministic).
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_math.cuh"

namespace cf::cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // one warp per row
constexpr int kColumnWarps = 8;

// Row partitions for the weight and bias gradient sums: enough blocks to fill the GPU, few
// enough that the second pass over the partials is cheap.
int partitions(int N) { return std::clamp((N + 127) / 128, 1, 128); }

// The LN statistics are taken of the residual as stored (rounded to T), which is what backward
// sees and what the CPU reference normalises.
template <class T>
__global__ void residual_layernorm_forward_kernel(T* residual, T* out, float* mean, float* rstd,
                                                  const T* a, const T* b, const T* weight,
                                                  const T* bias, int N, int C, float eps) {
  const int lane = threadIdx.x & 31;
  const int n = blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
  if (n >= N) return;
  const int64_t base = int64_t(n) * C;
  const T* x = a + base;
  float sum = 0.0f;
  if (b != nullptr) {
    for (int c = lane; c < C; c += 32) {
      const T r = from_float<T>(to_float(a[base + c]) + to_float(b[base + c]));
      residual[base + c] = r;
      sum += to_float(r);
    }
    x = residual + base;
  } else {
    for (int c = lane; c < C; c += 32) sum += to_float(x[c]);
  }
  const float m = warp_sum(sum) / float(C);
  float sq = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float d = to_float(x[c]) - m;
    sq += d * d;
  }
  const float s = rsqrtf(warp_sum(sq) / float(C) + eps);
  for (int c = lane; c < C; c += 32) {
    const float norm = (to_float(x[c]) - m) * s;
    out[base + c] = from_float<T>(norm * to_float(weight[c]) + to_float(bias[c]));
  }
  if (lane == 0) {
    mean[n] = m;
    rstd[n] = s;
  }
}

template <class T>
__global__ void layernorm_backward_input_kernel(T* dinp, const T* dout, const T* inp,
                                                const T* weight, const float* mean,
                                                const float* rstd, int N, int C) {
  const int lane = threadIdx.x & 31;
  const int n = blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
  if (n >= N) return;
  const int64_t base = int64_t(n) * C;
  const float m = mean[n], s = rstd[n];
  float dnorm_sum = 0.0f, dnorm_norm_sum = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float dnorm = to_float(dout[base + c]) * to_float(weight[c]);
    dnorm_sum += dnorm;
    dnorm_norm_sum += dnorm * (to_float(inp[base + c]) - m) * s;
  }
  const float dnorm_mean = warp_sum(dnorm_sum) / float(C);
  const float dnorm_norm_mean = warp_sum(dnorm_norm_sum) / float(C);
  for (int c = lane; c < C; c += 32) {
    const float norm = (to_float(inp[base + c]) - m) * s;
    const float g = to_float(dout[base + c]) * to_float(weight[c]);
    const float d = (g - dnorm_mean - norm * dnorm_norm_mean) * s;
    dinp[base + c] = from_float<T>(to_float(dinp[base + c]) + d);
  }
}

// Pass 1: block (column group, partition p) sums the rows of partition p for 32 columns; its 8
// warps take every 8th row, then warp 0 adds their partials in order.
template <class T>
__global__ void layernorm_param_partials_kernel(float* partial_dw, float* partial_db, const T* dout,
                                                const T* inp, const float* mean, const float* rstd,
                                                int N, int C, int rows_per_partition) {
  __shared__ float dw_part[kColumnWarps][32], db_part[kColumnWarps][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int c = blockIdx.x * 32 + lane;
  const int p = blockIdx.y;
  const int row_begin = p * rows_per_partition;
  const int row_end = min(N, row_begin + rows_per_partition);
  float dw = 0.0f, db = 0.0f;
  if (c < C) {
    for (int n = row_begin + warp; n < row_end; n += kColumnWarps) {
      const int64_t i = int64_t(n) * C + c;
      const float g = to_float(dout[i]);
      dw += g * (to_float(inp[i]) - mean[n]) * rstd[n];
      db += g;
    }
  }
  dw_part[warp][lane] = dw;
  db_part[warp][lane] = db;
  __syncthreads();
  if (warp == 0 && c < C) {
    float dw_total = 0.0f, db_total = 0.0f;
    for (int w = 0; w < kColumnWarps; ++w) {
      dw_total += dw_part[w][lane];
      db_total += db_part[w][lane];
    }
    partial_dw[int64_t(p) * C + c] = dw_total;
    partial_db[int64_t(p) * C + c] = db_total;
  }
}

// Pass 2: each column adds its partitions' partials in ascending order.
__global__ void layernorm_param_finish_kernel(float* dweight, float* dbias, const float* partial_dw,
                                              const float* partial_db, int parts, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float dw = 0.0f, db = 0.0f;
  for (int p = 0; p < parts; ++p) {
    dw += partial_dw[int64_t(p) * C + c];
    db += partial_db[int64_t(p) * C + c];
  }
  dweight[c] += dw;
  dbias[c] += db;
}

}  // namespace

template <class T>
void residual_layernorm_forward(T* residual, T* out, float* mean, float* rstd, const T* a,
                                const T* b, const T* weight, const T* bias, int N, int C,
                                cudaStream_t stream, float eps) {
  if (N <= 0) return;
  const int blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
  residual_layernorm_forward_kernel<T><<<blocks, 32 * kRowsPerBlock, 0, stream>>>(
      residual, out, mean, rstd, a, b, weight, bias, N, C, eps);
  CF_CUDA_CHECK_LAUNCH();
}

int64_t layernorm_backward_scratch_floats(int N, int C) {
  return 2 * int64_t(partitions(std::max(N, 1))) * C;
}

template <class T>
void layernorm_backward(T* dinp, float* dweight, float* dbias, float* scratch, const T* dout,
                        const T* inp, const T* weight, const float* mean, const float* rstd, int N,
                        int C, cudaStream_t stream) {
  if (N <= 0) return;
  const int blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
  layernorm_backward_input_kernel<T>
      <<<blocks, 32 * kRowsPerBlock, 0, stream>>>(dinp, dout, inp, weight, mean, rstd, N, C);
  CF_CUDA_CHECK_LAUNCH();
  const int parts = partitions(N);
  const int rows_per_partition = (N + parts - 1) / parts;
  float* partial_dw = scratch;
  float* partial_db = scratch + int64_t(parts) * C;
  layernorm_param_partials_kernel<T><<<dim3((C + 31) / 32, parts), 32 * kColumnWarps, 0, stream>>>(
      partial_dw, partial_db, dout, inp, mean, rstd, N, C, rows_per_partition);
  CF_CUDA_CHECK_LAUNCH();
  layernorm_param_finish_kernel<<<(C + 127) / 128, 128, 0, stream>>>(dweight, dbias, partial_dw,
                                                                     partial_db, parts, C);
  CF_CUDA_CHECK_LAUNCH();
}

#define CF_INSTANTIATE(T)                                                                         \
  template void residual_layernorm_forward<T>(T*, T*, float*, float*, const T*, const T*,         \
                                              const T*, const T*, int, int, cudaStream_t, float); \
  template void layernorm_backward<T>(T*, float*, float*, float*, const T*, const T*, const T*,   \
                                      const float*, const float*, int, int, cudaStream_t);
CF_INSTANTIATE(float)
CF_INSTANTIATE(bf16)
#undef CF_INSTANTIATE

}  // namespace cf::cuda
