// CUDA row movement (gather/scatter between packed and padded layouts) and per-sequence dropout
// over packed rows.
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/dropout_mask.h"

namespace cf::cuda {

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void gather_rows_kernel(T* out, const T* inp, const int32_t* index, int rows,
                                   int width) {
  CF_FOR_EACH_ELEMENT(i, int64_t(rows) * width) {
    const int64_t r = i / width, c = i % width;
    out[i] = inp[int64_t(index[r]) * width + c];
  }
}

template <class T>
__global__ void scatter_rows_kernel(T* out, const T* inp, const int32_t* index, int rows, int width,
                                    bool add) {
  CF_FOR_EACH_ELEMENT(i, int64_t(rows) * width) {
    const int64_t r = i / width, c = i % width;
    T* dst = out + int64_t(index[r]) * width + c;
    *dst = add ? from_float<T>(to_float(*dst) + to_float(inp[i])) : inp[i];
  }
}

template <class T>
__global__ void dropout_rows_kernel(T* out, const T* inp, bool accumulate,
                                    const uint64_t* mixed_seeds, const int32_t* row_sequence,
                                    const int32_t* row_position, uint32_t threshold, float scale,
                                    int rows, int width) {
  CF_FOR_EACH_ELEMENT(i, int64_t(rows) * width) {
    const int64_t r = i / width, c = i % width;
    const int64_t element = int64_t(row_position[r]) * width + c;
    const bool keep = ops::dropout_bits(mixed_seeds[row_sequence[r]], element) >= threshold;
    const float value = keep ? to_float(inp[i]) * scale : 0.0f;
    out[i] = from_float<T>(accumulate ? to_float(out[i]) + value : value);
  }
}

template <class T>
void dropout_rows(T* out, const T* inp, bool accumulate, float p, const uint64_t* mixed_seeds,
                  const int32_t* row_sequence, const int32_t* row_position, int rows, int width,
                  cudaStream_t stream) {
  const int64_t n = int64_t(rows) * width;
  if (n <= 0) return;
  // p <= 0 keeps everything (threshold 0) at scale 1: a copy or an add.
  const uint32_t threshold = p <= 0.0f ? 0u : ops::keep_threshold(p);
  const float scale = p <= 0.0f ? 1.0f : ops::keep_scale<float>(p);
  dropout_rows_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(
      out, inp, accumulate, mixed_seeds, row_sequence, row_position, threshold, scale, rows, width);
  CF_CUDA_CHECK_LAUNCH();
}

}  // namespace

template <class T>
void gather_rows(T* out, const T* inp, const int32_t* index, int rows, int width,
                 cudaStream_t stream) {
  const int64_t n = int64_t(rows) * width;
  if (n <= 0) return;
  gather_rows_kernel<T>
      <<<blocks_for(n, kThreads), kThreads, 0, stream>>>(out, inp, index, rows, width);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void scatter_rows(T* out, const T* inp, const int32_t* index, int rows, int width, bool add,
                  cudaStream_t stream) {
  const int64_t n = int64_t(rows) * width;
  if (n <= 0) return;
  scatter_rows_kernel<T>
      <<<blocks_for(n, kThreads), kThreads, 0, stream>>>(out, inp, index, rows, width, add);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void dropout_rows_forward(T* out, const T* inp, float p, const uint64_t* mixed_seeds,
                          const int32_t* row_sequence, const int32_t* row_position, int rows,
                          int width, cudaStream_t stream) {
  dropout_rows(out, inp, false, p, mixed_seeds, row_sequence, row_position, rows, width, stream);
}

template <class T>
void dropout_rows_backward(T* dinp, const T* dout, float p, const uint64_t* mixed_seeds,
                           const int32_t* row_sequence, const int32_t* row_position, int rows,
                           int width, cudaStream_t stream) {
  dropout_rows(dinp, dout, true, p, mixed_seeds, row_sequence, row_position, rows, width, stream);
}

#define CF_INSTANTIATE(T)                                                                      \
  template void gather_rows<T>(T*, const T*, const int32_t*, int, int, cudaStream_t);          \
  template void scatter_rows<T>(T*, const T*, const int32_t*, int, int, bool, cudaStream_t);   \
  template void dropout_rows_forward<T>(T*, const T*, float, const uint64_t*, const int32_t*,  \
                                        const int32_t*, int, int, cudaStream_t);               \
  template void dropout_rows_backward<T>(T*, const T*, float, const uint64_t*, const int32_t*, \
                                         const int32_t*, int, int, cudaStream_t);
CF_INSTANTIATE(float)
CF_INSTANTIATE(bf16)
#undef CF_INSTANTIATE

}  // namespace cf::cuda
