// CUDA embedding lookup and its deterministic backward (one block per table row in use).
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_math.cuh"

namespace cf::cuda {

namespace {

constexpr int kThreads = 128;

template <class T>
__global__ void embedding_forward_kernel(T* out, const int32_t* ids, const T* table, int C) {
  const int64_t n = blockIdx.x;
  const T* row = table + int64_t(ids[n]) * C;
  T* o = out + n * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x)
    o[c] = from_float<T>(to_float(o[c]) + to_float(row[c]));
}

// Block u owns table row unique_ids[u] and adds its rows in ascending n: no atomics, and the
// same sum every run.
template <class T>
__global__ void embedding_backward_kernel(float* dtable, const int32_t* unique_ids,
                                          const int32_t* offsets, const int32_t* rows,
                                          const T* dout, int C) {
  const int u = blockIdx.x;
  const int begin = offsets[u], end = offsets[u + 1];
  float* d = dtable + int64_t(unique_ids[u]) * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float sum = 0.0f;
    for (int r = begin; r < end; ++r) sum += to_float(dout[int64_t(rows[r]) * C + c]);
    d[c] += sum;
  }
}

}  // namespace

template <class T>
void embedding_forward(T* out, const int32_t* ids, const T* table, int N, int C,
                       cudaStream_t stream) {
  if (N <= 0 || C <= 0) return;
  embedding_forward_kernel<T><<<N, kThreads, 0, stream>>>(out, ids, table, C);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void embedding_backward(float* dtable, const int32_t* unique_ids, const int32_t* offsets,
                        const int32_t* rows, int U, const T* dout, int C, cudaStream_t stream) {
  if (U <= 0 || C <= 0) return;
  embedding_backward_kernel<T>
      <<<U, kThreads, 0, stream>>>(dtable, unique_ids, offsets, rows, dout, C);
  CF_CUDA_CHECK_LAUNCH();
}

#define CF_INSTANTIATE(T)                                                                          \
  template void embedding_forward<T>(T*, const int32_t*, const T*, int, int, cudaStream_t);        \
  template void embedding_backward<T>(float*, const int32_t*, const int32_t*, const int32_t*, int, \
                                      const T*, int, cudaStream_t);
CF_INSTANTIATE(float)
CF_INSTANTIATE(bf16)
#undef CF_INSTANTIATE

}  // namespace cf::cuda
