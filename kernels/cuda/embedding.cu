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

// Row n (thread block) adds the mean of its item's feature rows: no two blocks write one row.
template <class T>
__global__ void item_features_forward_kernel(T* out, const int32_t* items, const int32_t* offsets,
                                             const int32_t* ids, const T* table, int C) {
  const int64_t n = blockIdx.x;
  const int item = items ? items[n] : int(n);
  const int begin = offsets[item], end = offsets[item + 1];
  if (begin == end) return;
  const float weight = 1.0f / float(end - begin);
  T* o = out + n * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float sum = 0.0f;
    for (int k = begin; k < end; ++k) sum += to_float(table[int64_t(ids[k]) * C + c]);
    o[c] = from_float<T>(to_float(o[c]) + weight * sum);
  }
}

template <class T>
__global__ void weighted_gather_rows_kernel(float* out, const T* inp, const int32_t* rows,
                                            const float* weights, int64_t total, int C) {
  CF_FOR_EACH_ELEMENT(i, total) {
    const int64_t p = i / C;
    out[i] = weights[p] * to_float(inp[int64_t(rows[p]) * C + i % C]);
  }
}

}  // namespace

template <class T>
void item_features_forward(T* out, const int32_t* items, const int32_t* offsets, const int32_t* ids,
                           const T* table, int N, int C, cudaStream_t stream) {
  if (N <= 0 || C <= 0) return;
  item_features_forward_kernel<T><<<N, kThreads, 0, stream>>>(out, items, offsets, ids, table, C);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void weighted_gather_rows(float* out, const T* inp, const int32_t* rows, const float* weights,
                          int P, int C, cudaStream_t stream) {
  const int64_t total = int64_t(P) * C;
  if (total <= 0) return;
  weighted_gather_rows_kernel<T>
      <<<blocks_for(total, 256), 256, 0, stream>>>(out, inp, rows, weights, total, C);
  CF_CUDA_CHECK_LAUNCH();
}

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
  template void item_features_forward<T>(T*, const int32_t*, const int32_t*, const int32_t*,       \
                                         const T*, int, int, cudaStream_t);                        \
  template void weighted_gather_rows<T>(float*, const T*, const int32_t*, const float*, int, int,  \
                                        cudaStream_t);                                             \
  template void embedding_backward<T>(float*, const int32_t*, const int32_t*, const int32_t*, int, \
                                      const T*, int, cudaStream_t);
CF_INSTANTIATE(float)
CF_INSTANTIATE(bf16)
#undef CF_INSTANTIATE

}  // namespace cf::cuda
