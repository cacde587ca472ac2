// CUDA elementwise ops: conversions, GELU, residual add, dropout (the CPU's mask), column sums.
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/dropout_mask.h"
#include "kernels/gelu_formula.h"

namespace cf::cuda {

namespace {

constexpr int kThreads = 256;

template <class To, class From>
__global__ void convert_kernel(To* out, const From* inp, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) out[i] = from_float<To>(to_float(inp[i]));
}

// GELU as the CPU computes it (gelu_formula.h), in fp32.
template <class T>
__global__ void gelu_forward_kernel(T* out, const T* inp, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) out[i] = from_float<T>(ops::gelu_value(to_float(inp[i])));
}

template <class T>
__global__ void gelu_backward_kernel(T* dinp, const T* inp, const T* dout, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) {
    const float grad = ops::gelu_derivative(to_float(inp[i]));
    dinp[i] = from_float<T>(to_float(dinp[i]) + grad * to_float(dout[i]));
  }
}

// LiGR (ops::sigmoid_forward, gated_residual_*, swiglu_* on the CPU), in fp32 per element.
__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

template <class T>
__global__ void sigmoid_kernel(T* out, const T* inp, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) out[i] = from_float<T>(sigmoid_f(to_float(inp[i])));
}

template <class T>
__global__ void gated_residual_forward_kernel(T* out, const T* x, const T* gate, const T* branch,
                                              int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) {
    out[i] = from_float<T>(to_float(x[i]) + to_float(gate[i]) * to_float(branch[i]));
  }
}

template <class T>
__global__ void gated_residual_backward_kernel(T* dgate_logit, T* dbranch, const T* dout,
                                               const T* gate, const T* branch, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) {
    const float d = to_float(dout[i]), g = to_float(gate[i]);
    dgate_logit[i] =
        from_float<T>(to_float(dgate_logit[i]) + d * to_float(branch[i]) * g * (1.0f - g));
    dbranch[i] = from_float<T>(to_float(dbranch[i]) + d * g);
  }
}

template <class T>
__global__ void swiglu_forward_kernel(T* out, const T* gate_up, int64_t total, int F) {
  CF_FOR_EACH_ELEMENT(i, total) {
    const int64_t n = i / F, j = i % F;
    const float x = to_float(gate_up[n * 2 * F + j]), u = to_float(gate_up[n * 2 * F + F + j]);
    out[i] = from_float<T>(x * sigmoid_f(x) * u);
  }
}

template <class T>
__global__ void swiglu_backward_kernel(T* dgate_up, const T* gate_up, const T* dout, int64_t total,
                                       int F) {
  CF_FOR_EACH_ELEMENT(i, total) {
    const int64_t n = i / F, j = i % F;
    const int64_t gi = n * 2 * F + j, ui = gi + F;
    const float x = to_float(gate_up[gi]), u = to_float(gate_up[ui]), g = to_float(dout[i]);
    const float sig = sigmoid_f(x);
    dgate_up[gi] = from_float<T>(to_float(dgate_up[gi]) + g * u * sig * (1.0f + x * (1.0f - sig)));
    dgate_up[ui] = from_float<T>(to_float(dgate_up[ui]) + g * x * sig);
  }
}

template <class T>
__global__ void silu_forward_kernel(T* out, const T* inp, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) {
    const float x = to_float(inp[i]);
    out[i] = from_float<T>(x * sigmoid_f(x));
  }
}

template <class T>
__global__ void silu_backward_kernel(T* dinp, const T* inp, const T* dout, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) {
    const float x = to_float(inp[i]), sig = sigmoid_f(x);
    dinp[i] =
        from_float<T>(to_float(dinp[i]) + to_float(dout[i]) * sig * (1.0f + x * (1.0f - sig)));
  }
}

template <class T>
__global__ void hstu_gate_forward_kernel(T* out, const T* normed, const T* uvqk, int64_t total,
                                         int C) {
  CF_FOR_EACH_ELEMENT(i, total) {
    const int64_t n = i / C, c = i % C;
    out[i] = from_float<T>(to_float(normed[i]) * to_float(uvqk[n * 4 * C + c]));
  }
}

template <class T>
__global__ void hstu_gate_backward_kernel(T* dnormed, T* duvqk, const T* dout, const T* normed,
                                          const T* uvqk, int64_t total, int C) {
  CF_FOR_EACH_ELEMENT(i, total) {
    const int64_t n = i / C, c = i % C, u = n * 4 * C + c;
    const float d = to_float(dout[i]);
    dnormed[i] = from_float<T>(to_float(dnormed[i]) + d * to_float(uvqk[u]));
    duvqk[u] = from_float<T>(to_float(duvqk[u]) + d * to_float(normed[i]));
  }
}

template <class T>
__global__ void residual_kernel(T* out, const T* a, const T* b, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) out[i] = from_float<T>(to_float(a[i]) + to_float(b[i]));
}

template <class T>
__global__ void dropout_forward_kernel(T* out, const T* inp, uint64_t mixed_seed,
                                       uint32_t threshold, float scale, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) {
    const bool keep = ops::dropout_bits(mixed_seed, i) >= threshold;
    out[i] = from_float<T>(keep ? to_float(inp[i]) * scale : 0.0f);
  }
}

template <class T>
__global__ void dropout_backward_kernel(T* dinp, const T* dout, uint64_t mixed_seed,
                                        uint32_t threshold, float scale, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) {
    const bool keep = ops::dropout_bits(mixed_seed, i) >= threshold;
    const float g = keep ? to_float(dout[i]) * scale : 0.0f;
    dinp[i] = from_float<T>(to_float(dinp[i]) + g);
  }
}

template <class T>
__global__ void add_into_kernel(T* dinp, const T* dout, int64_t n) {
  CF_FOR_EACH_ELEMENT(i, n) dinp[i] = from_float<T>(to_float(dinp[i]) + to_float(dout[i]));
}

// Column sums: a block owns 32 columns; its 8 warps each sum every 8th row in order, then warp 0
// adds the 8 partials in order. The order depends only on (N, C): deterministic.
constexpr int kColumnWarps = 8;

template <class T>
__global__ void column_sums_kernel(float* dbias, const T* dout, int N, int C) {
  __shared__ float partial[kColumnWarps][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int c = blockIdx.x * 32 + lane;
  float sum = 0.0f;
  if (c < C)
    for (int n = warp; n < N; n += kColumnWarps) sum += to_float(dout[int64_t(n) * C + c]);
  partial[warp][lane] = sum;
  __syncthreads();
  if (warp == 0 && c < C) {
    float total = 0.0f;
    for (int w = 0; w < kColumnWarps; ++w) total += partial[w][lane];
    dbias[c] += total;
  }
}

}  // namespace

template <class To, class From>
void convert(To* out, const From* inp, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  convert_kernel<To, From><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(out, inp, n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void gelu_forward(T* out, const T* inp, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  gelu_forward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(out, inp, n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  gelu_backward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(dinp, inp, dout, n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void residual_forward(T* out, const T* a, const T* b, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  residual_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(out, a, b, n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void dropout_forward(T* out, const T* inp, float p, uint64_t seed, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  if (p <= 0.0f) {
    if (out != inp)
      CF_CUDA_CHECK(cudaMemcpyAsync(out, inp, sizeof(T) * n, cudaMemcpyDeviceToDevice, stream));
    return;
  }
  const float scale = ops::keep_scale<float>(p);
  dropout_forward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(
      out, inp, ops::mix64(seed), ops::keep_threshold(p), scale, n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void dropout_backward(T* dinp, const T* dout, float p, uint64_t seed, int64_t n,
                      cudaStream_t stream) {
  if (n <= 0) return;
  if (p <= 0.0f) {
    add_into_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(dinp, dout, n);
  } else {
    const float scale = ops::keep_scale<float>(p);
    dropout_backward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(
        dinp, dout, ops::mix64(seed), ops::keep_threshold(p), scale, n);
  }
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void column_sums(float* dbias, const T* dout, int N, int C, cudaStream_t stream) {
  if (N <= 0 || C <= 0) return;
  column_sums_kernel<T><<<(C + 31) / 32, 32 * kColumnWarps, 0, stream>>>(dbias, dout, N, C);
  CF_CUDA_CHECK_LAUNCH();
}

template void convert<float, bf16>(float*, const bf16*, int64_t, cudaStream_t);
template void convert<bf16, float>(bf16*, const float*, int64_t, cudaStream_t);
template void convert<float, float>(float*, const float*, int64_t, cudaStream_t);
template <class T>
void sigmoid_forward(T* out, const T* inp, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  sigmoid_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(out, inp, n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void gated_residual_forward(T* out, const T* x, const T* gate, const T* branch, int64_t n,
                            cudaStream_t stream) {
  if (n <= 0) return;
  gated_residual_forward_kernel<T>
      <<<blocks_for(n, kThreads), kThreads, 0, stream>>>(out, x, gate, branch, n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void gated_residual_backward(T* dgate_logit, T* dbranch, const T* dout, const T* gate,
                             const T* branch, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  gated_residual_backward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(
      dgate_logit, dbranch, dout, gate, branch, n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void swiglu_forward(T* out, const T* gate_up, int N, int F, cudaStream_t stream) {
  const int64_t total = int64_t(N) * F;
  if (total <= 0) return;
  swiglu_forward_kernel<T>
      <<<blocks_for(total, kThreads), kThreads, 0, stream>>>(out, gate_up, total, F);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void swiglu_backward(T* dgate_up, const T* gate_up, const T* dout, int N, int F,
                     cudaStream_t stream) {
  const int64_t total = int64_t(N) * F;
  if (total <= 0) return;
  swiglu_backward_kernel<T>
      <<<blocks_for(total, kThreads), kThreads, 0, stream>>>(dgate_up, gate_up, dout, total, F);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void silu_forward(T* out, const T* inp, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  silu_forward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(out, inp, n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void silu_backward(T* dinp, const T* inp, const T* dout, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  silu_backward_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(dinp, inp, dout, n);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void hstu_gate_forward(T* out, const T* normed, const T* uvqk, int N, int C, cudaStream_t stream) {
  const int64_t total = int64_t(N) * C;
  if (total <= 0) return;
  hstu_gate_forward_kernel<T>
      <<<blocks_for(total, kThreads), kThreads, 0, stream>>>(out, normed, uvqk, total, C);
  CF_CUDA_CHECK_LAUNCH();
}

template <class T>
void hstu_gate_backward(T* dnormed, T* duvqk, const T* dout, const T* normed, const T* uvqk, int N,
                        int C, cudaStream_t stream) {
  const int64_t total = int64_t(N) * C;
  if (total <= 0) return;
  hstu_gate_backward_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, stream>>>(
      dnormed, duvqk, dout, normed, uvqk, total, C);
  CF_CUDA_CHECK_LAUNCH();
}

#define CF_INSTANTIATE(T)                                                                  \
  template void silu_forward<T>(T*, const T*, int64_t, cudaStream_t);                      \
  template void silu_backward<T>(T*, const T*, const T*, int64_t, cudaStream_t);           \
  template void hstu_gate_forward<T>(T*, const T*, const T*, int, int, cudaStream_t);      \
  template void hstu_gate_backward<T>(T*, T*, const T*, const T*, const T*, int, int,      \
                                      cudaStream_t);                                       \
  template void sigmoid_forward<T>(T*, const T*, int64_t, cudaStream_t);                   \
  template void gated_residual_forward<T>(T*, const T*, const T*, const T*, int64_t,       \
                                          cudaStream_t);                                   \
  template void gated_residual_backward<T>(T*, T*, const T*, const T*, const T*, int64_t,  \
                                           cudaStream_t);                                  \
  template void swiglu_forward<T>(T*, const T*, int, int, cudaStream_t);                   \
  template void swiglu_backward<T>(T*, const T*, const T*, int, int, cudaStream_t);        \
  template void gelu_forward<T>(T*, const T*, int64_t, cudaStream_t);                      \
  template void gelu_backward<T>(T*, const T*, const T*, int64_t, cudaStream_t);           \
  template void residual_forward<T>(T*, const T*, const T*, int64_t, cudaStream_t);        \
  template void dropout_forward<T>(T*, const T*, float, uint64_t, int64_t, cudaStream_t);  \
  template void dropout_backward<T>(T*, const T*, float, uint64_t, int64_t, cudaStream_t); \
  template void column_sums<T>(float*, const T*, int, int, cudaStream_t);
CF_INSTANTIATE(float)
CF_INSTANTIATE(bf16)
#undef CF_INSTANTIATE

}  // namespace cf::cuda
