// CUDA AdamW over the flat parameter buffer (refreshing the compute copy in the same pass) and
// the deterministic sum of squares behind the global gradient norm.
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "kernels/adamw_rule.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_math.cuh"

namespace cf::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kSquaresBlocks = 1024;  // fixed: the summation order must not depend on the GPU

// The arithmetic of ops::adamw_update, element for element.
template <class T>
__global__ void adamw_kernel(float* params, T* compute_copy, const float* grads, float* m, float* v,
                             int64_t n, float lr, float beta1, float beta2, float eps,
                             float weight_decay, float correction1, float correction2,
                             float grad_scale) {
  CF_FOR_EACH_ELEMENT(i, n) {
    float mi = m[i], vi = v[i];
    const float p = ops::adamw_element(params[i], grads[i] * grad_scale, mi, vi, lr, beta1, beta2,
                                       eps, weight_decay, correction1, correction2);
    m[i] = mi;
    v[i] = vi;
    params[i] = p;
    if (compute_copy) compute_copy[i] = from_float<T>(p);
  }
}

// Block b sums the elements i = b*threads + t (mod the grid's stride) in double; the partials are
// then added in block order on the host.
__global__ void sum_of_squares_kernel(double* partials, const float* x, int64_t n) {
  __shared__ double shared[32];
  double s = 0.0;
  CF_FOR_EACH_ELEMENT(i, n) s += double(x[i]) * double(x[i]);
  const double total = block_sum(s, shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// DP-SGD over a user's gradient support, one block per chunk [begin[c], end[c]): the squares
// of the chunk summed in double (a fixed order: the same every run), ...
__global__ void chunk_sum_of_squares_kernel(double* partials, const float* x,
                                            const int64_t* begin, const int64_t* end) {
  __shared__ double shared[32];
  double s = 0.0;
  for (int64_t i = begin[blockIdx.x] + threadIdx.x; i < end[blockIdx.x]; i += blockDim.x)
    s += double(x[i]) * double(x[i]);
  const double total = block_sum(s, shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// ... and the chunk's share of the user's clipped gradient into the step's double sum, the
// gradient cleared for the next user in the same pass.
__global__ void chunk_add_scaled_and_zero_kernel(double* sum, float* x, double scale,
                                                 const int64_t* begin, const int64_t* end) {
  for (int64_t i = begin[blockIdx.x] + threadIdx.x; i < end[blockIdx.x]; i += blockDim.x) {
    sum[i] += scale * double(x[i]);
    x[i] = 0.0f;
  }
}

}  // namespace

template <class T>
void adamw_update(float* params, T* compute_copy, const float* grads, float* m, float* v, int64_t n,
                  float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step,
                  float grad_scale, cudaStream_t stream) {
  CF_CHECK(step >= 1, "adamw_update: step is 1-based");
  if (n <= 0) return;
  // As on the CPU: bias corrections in double, then rounded to float.
  const float correction1 = float(1.0 - std::pow(double(beta1), double(step)));
  const float correction2 = float(1.0 - std::pow(double(beta2), double(step)));
  adamw_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(
      params, compute_copy, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, correction1,
      correction2, grad_scale);
  CF_CUDA_CHECK_LAUNCH();
}

int sum_of_squares_partials() { return kSquaresBlocks; }

double sum_of_squares(const float* x, int64_t n, double* partials, cudaStream_t stream) {
  if (n <= 0) return 0.0;
  sum_of_squares_kernel<<<kSquaresBlocks, kThreads, 0, stream>>>(partials, x, n);
  CF_CUDA_CHECK_LAUNCH();
  std::vector<double> host(kSquaresBlocks);
  CF_CUDA_CHECK(cudaMemcpyAsync(host.data(), partials, sizeof(double) * kSquaresBlocks,
                                cudaMemcpyDeviceToHost, stream));
  CF_CUDA_CHECK(cudaStreamSynchronize(stream));
  double total = 0.0;
  for (double s : host) total += s;
  return total;
}

double chunk_sum_of_squares(const float* x, const int64_t* begin, const int64_t* end, int chunks,
                            double* partials, cudaStream_t stream) {
  if (chunks <= 0) return 0.0;
  chunk_sum_of_squares_kernel<<<chunks, kThreads, 0, stream>>>(partials, x, begin, end);
  CF_CUDA_CHECK_LAUNCH();
  std::vector<double> host(static_cast<size_t>(chunks), 0.0);
  CF_CUDA_CHECK(cudaMemcpyAsync(host.data(), partials, sizeof(double) * size_t(chunks),
                                cudaMemcpyDeviceToHost, stream));
  CF_CUDA_CHECK(cudaStreamSynchronize(stream));
  double total = 0.0;
  for (const double v : host) total += v;
  return total;
}

void chunk_add_scaled_and_zero(double* sum, float* x, double scale, const int64_t* begin,
                               const int64_t* end, int chunks, cudaStream_t stream) {
  if (chunks <= 0) return;
  chunk_add_scaled_and_zero_kernel<<<chunks, kThreads, 0, stream>>>(sum, x, scale, begin, end);
  CF_CUDA_CHECK_LAUNCH();
}

template void adamw_update<float>(float*, float*, const float*, float*, float*, int64_t, float,
                                  float, float, float, float, int64_t, float, cudaStream_t);
template void adamw_update<bf16>(float*, bf16*, const float*, float*, float*, int64_t, float, float,
                                 float, float, float, int64_t, float, cudaStream_t);

}  // namespace cf::cuda
