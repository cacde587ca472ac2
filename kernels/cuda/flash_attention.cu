// Causal flash attention, forward and backward, on CUDA cores with fp32 accumulation.
//
// Layout and masking as ops::attention_forward. Tiles of 32 query rows (or 32 keys) per block
// of 128 threads: four threads share a row, thread `sub` owning head dims sub, sub + 4, ...
// (interleaved, so the four read neighbouring shared-memory banks), and a dot product is four
// partial sums joined by two shuffles. The other operand streams through shared memory in tiles
// of 32 rows. Forward keeps a running max and sum per query (online softmax) and stores only
// the log-sum-exp; backward recomputes the probabilities from it (FlashAttention-2's scheme):
//  - key-major pass: each block owns 32 keys and walks the queries that see them, summing dK and
//    dV in registers; dQ is either added with atomics there (fast, not reproducible) or
//  - query-major pass: each block owns 32 queries and walks their keys, summing dQ in registers
//    (deterministic).
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "kernels/attention_mask.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/flash_attention_parts.h"

namespace cf::cuda {

namespace {

constexpr int kTile = 32;          // query rows or keys per block, and per shared tile
constexpr int kThreadsPerRow = 4;  // threads sharing one row's head dims
constexpr int kThreads = kTile * kThreadsPerRow;
using flash::kLog2e;

// Sum of a value over the four threads of a row (lanes 4r .. 4r+3 of a warp).
__device__ __forceinline__ float row_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  x += __shfl_xor_sync(0xffffffffu, x, 2);
  return x;
}

// Loads `count` rows (of a 3C-wide qkv or a C-wide tensor, `stride` apart) of one head into a
// [kTile][HS] fp32 shared tile; rows past `count` are zero.
template <int HS, class T>
__device__ __forceinline__ void load_tile(float (*tile)[HS], const T* first, int64_t stride,
                                          int count) {
  for (int e = threadIdx.x; e < kTile * HS; e += kThreads) {
    const int r = e / HS, d = e % HS;
    tile[r][d] = r < count ? to_float(first[r * stride + d]) : 0.0f;
  }
}

template <int HS, class T>
__global__ void __launch_bounds__(kThreads)
    flash_forward_kernel(T* out, float* lse, const T* qkv, const int32_t* lengths, int Tlen, int C,
                         int NH) {
  constexpr int kDims = HS / kThreadsPerRow;
  __shared__ float k_tile[kTile][HS];
  __shared__ float v_tile[kTile][HS];
  const int h = blockIdx.x % NH, b = blockIdx.x / NH;
  const int sub = threadIdx.x % kThreadsPerRow;
  const int t = blockIdx.y * kTile + threadIdx.x / kThreadsPerRow;
  const int length = lengths[b];
  const int64_t row = 3 * int64_t(C);
  const T* base = qkv + int64_t(b) * Tlen * row + h * HS;
  // Scores in base-2 units: exp2f on s * log2(e) equals expf on s, and is one instruction.
  const float scale2 = rsqrtf(float(HS)) * kLog2e;

  float q[kDims], o[kDims];
  const bool real_row = t < Tlen;
#pragma unroll
  for (int i = 0; i < kDims; ++i) {
    q[i] = real_row ? to_float(base[int64_t(t) * row + sub + kThreadsPerRow * i]) * scale2 : 0.0f;
    o[i] = 0.0f;
  }
  const int visible = real_row ? ops::visible_keys(t, length) : 0;
  float running_max = -INFINITY, running_sum = 0.0f;

  // Keys any row of this block can see.
  const int block_keys = min(min(blockIdx.y * kTile + kTile, Tlen), length);
  for (int k0 = 0; k0 < block_keys; k0 += kTile) {
    const int count = min(kTile, block_keys - k0);
    __syncthreads();  // the previous tile is no longer read
    load_tile<HS>(k_tile, base + int64_t(k0) * row + C, row, count);
    load_tile<HS>(v_tile, base + int64_t(k0) * row + 2 * C, row, count);
    __syncthreads();

    float s[kTile];
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kTile; ++j) {
      float partial = 0.0f;
#pragma unroll
      for (int i = 0; i < kDims; ++i) partial += q[i] * k_tile[j][sub + kThreadsPerRow * i];
      const float score = row_sum(partial);
      s[j] = k0 + j < visible ? score : -INFINITY;
      tile_max = fmaxf(tile_max, s[j]);
    }
    if (tile_max == -INFINITY) continue;  // nothing visible to this row in this tile
    const float new_max = fmaxf(running_max, tile_max);
    const float correction = exp2f(running_max - new_max);  // 0 on the first visible tile
    running_sum *= correction;
#pragma unroll
    for (int i = 0; i < kDims; ++i) o[i] *= correction;
#pragma unroll
    for (int j = 0; j < kTile; ++j) {
      const float p = exp2f(s[j] - new_max);  // 0 for masked keys
      running_sum += p;
#pragma unroll
      for (int i = 0; i < kDims; ++i) o[i] += p * v_tile[j][sub + kThreadsPerRow * i];
    }
    running_max = new_max;
  }
  if (!real_row) return;
  const float inv = running_sum > 0.0f ? 1.0f / running_sum : 0.0f;
  T* dst = out + (int64_t(b) * Tlen + t) * C + h * HS;
#pragma unroll
  for (int i = 0; i < kDims; ++i) dst[sub + kThreadsPerRow * i] = from_float<T>(o[i] * inv);
  if (sub == 0)
    lse[(int64_t(b) * NH + h) * Tlen + t] =
        running_sum > 0.0f ? (running_max + log2f(running_sum)) / kLog2e : -INFINITY;
}

// delta[b, h, t] = dout_t . out_t: the softmax Jacobian's shared term for each query row.
template <class T>
__global__ void flash_delta_kernel(float* delta, const T* dout, const T* out, int B, int Tlen,
                                   int C, int NH) {
  const int64_t total = int64_t(B) * NH * Tlen;
  CF_FOR_EACH_ELEMENT(idx, total) {
    const int t = int(idx % Tlen);
    const int h = int((idx / Tlen) % NH);
    const int b = int(idx / (int64_t(Tlen) * NH));
    const int hs = C / NH;
    const int64_t at = (int64_t(b) * Tlen + t) * C + h * hs;
    float sum = 0.0f;
    for (int i = 0; i < hs; ++i) sum += to_float(dout[at + i]) * to_float(out[at + i]);
    delta[idx] = sum;
  }
}

// Key-major pass: block (b*NH + h, key tile). dK, dV in registers; dQ through atomics into
// dq_accum ([B, T, C] fp32) when it is non-null.
template <int HS, class T>
__global__ void __launch_bounds__(kThreads)
    flash_backward_kv_kernel(T* dqkv, float* dq_accum, const T* dout, const T* qkv,
                             const float* lse, const float* delta, const int32_t* lengths, int Tlen,
                             int C, int NH) {
  constexpr int kDims = HS / kThreadsPerRow;
  __shared__ float q_tile[kTile][HS];
  __shared__ float g_tile[kTile][HS];
  __shared__ float lse_tile[kTile], delta_tile[kTile];
  const int h = blockIdx.x % NH, b = blockIdx.x / NH;
  const int sub = threadIdx.x % kThreadsPerRow;
  const int j = blockIdx.y * kTile + threadIdx.x / kThreadsPerRow;  // this row's key
  const int length = lengths[b];
  const int64_t row = 3 * int64_t(C);
  const T* base = qkv + int64_t(b) * Tlen * row + h * HS;
  const T* g_base = dout + int64_t(b) * Tlen * C + h * HS;
  const float scale = rsqrtf(float(HS));
  const int64_t stat_base = (int64_t(b) * NH + h) * Tlen;

  const bool real_key = j < min(Tlen, length);
  float k[kDims], v[kDims], dk[kDims], dv[kDims];
#pragma unroll
  for (int i = 0; i < kDims; ++i) {
    const int d = sub + kThreadsPerRow * i;
    k[i] = real_key ? to_float(base[int64_t(j) * row + C + d]) : 0.0f;
    v[i] = real_key ? to_float(base[int64_t(j) * row + 2 * C + d]) : 0.0f;
    dk[i] = dv[i] = 0.0f;
  }
  // Queries that can see a key of this tile: t >= the tile's first key; none if the tile lies
  // past the sequence's length.
  const int first_key = blockIdx.y * kTile;
  const int q_begin = first_key < length ? first_key : Tlen;
  for (int t0 = q_begin; t0 < Tlen; t0 += kTile) {
    const int count = min(kTile, Tlen - t0);
    __syncthreads();
    load_tile<HS>(q_tile, base + int64_t(t0) * row, row, count);
    load_tile<HS>(g_tile, g_base + int64_t(t0) * C, C, count);
    if (const int r = int(threadIdx.x); r < kTile) {
      lse_tile[r] = r < count ? lse[stat_base + t0 + r] : 0.0f;
      delta_tile[r] = r < count ? delta[stat_base + t0 + r] : 0.0f;
    }
    __syncthreads();
    for (int r = 0; r < count; ++r) {
      const int t = t0 + r;
      float s_part = 0.0f, dp_part = 0.0f;
#pragma unroll
      for (int i = 0; i < kDims; ++i) {
        const int d = sub + kThreadsPerRow * i;
        s_part += q_tile[r][d] * k[i];
        dp_part += g_tile[r][d] * v[i];
      }
      const float score = row_sum(s_part) * scale;
      const float dp = row_sum(dp_part);
      // Query t sees key j iff j <= t and j < length (real_key covers the second).
      const bool visible = real_key && j <= t;
      const float p = visible ? expf(score - lse_tile[r]) : 0.0f;
      const float ds = p * (dp - delta_tile[r]) * scale;
#pragma unroll
      for (int i = 0; i < kDims; ++i) {
        const int d = sub + kThreadsPerRow * i;
        dv[i] += p * g_tile[r][d];
        dk[i] += ds * q_tile[r][d];
      }
      if (dq_accum != nullptr && visible) {
        float* dq = dq_accum + (int64_t(b) * Tlen + t) * C + h * HS;
#pragma unroll
        for (int i = 0; i < kDims; ++i) atomicAdd(dq + sub + kThreadsPerRow * i, ds * k[i]);
      }
    }
  }
  if (j >= Tlen) return;
  T* dk_out = dqkv + (int64_t(b) * Tlen + j) * row + C + h * HS;
  T* dv_out = dk_out + C;
#pragma unroll
  for (int i = 0; i < kDims; ++i) {
    const int d = sub + kThreadsPerRow * i;
    dk_out[d] = from_float<T>(to_float(dk_out[d]) + dk[i]);
    dv_out[d] = from_float<T>(to_float(dv_out[d]) + dv[i]);
  }
}

// Query-major pass for dQ: block (b*NH + h, query tile), keys streamed through shared memory in
// ascending order, so every dQ element is summed in the same order every run.
template <int HS, class T>
__global__ void __launch_bounds__(kThreads)
    flash_backward_q_kernel(T* dqkv, const T* dout, const T* qkv, const float* lse,
                            const float* delta, const int32_t* lengths, int Tlen, int C, int NH) {
  constexpr int kDims = HS / kThreadsPerRow;
  __shared__ float k_tile[kTile][HS];
  __shared__ float v_tile[kTile][HS];
  const int h = blockIdx.x % NH, b = blockIdx.x / NH;
  const int sub = threadIdx.x % kThreadsPerRow;
  const int t = blockIdx.y * kTile + threadIdx.x / kThreadsPerRow;
  const int length = lengths[b];
  const int64_t row = 3 * int64_t(C);
  const T* base = qkv + int64_t(b) * Tlen * row + h * HS;
  const float scale = rsqrtf(float(HS));
  const bool real_row = t < Tlen;
  const int64_t stat = (int64_t(b) * NH + h) * Tlen + t;
  const float row_lse = real_row ? lse[stat] : 0.0f;
  const float row_delta = real_row ? delta[stat] : 0.0f;
  const int visible = real_row ? ops::visible_keys(t, length) : 0;

  float q[kDims], g[kDims], dq[kDims];
#pragma unroll
  for (int i = 0; i < kDims; ++i) {
    const int d = sub + kThreadsPerRow * i;
    q[i] = real_row ? to_float(base[int64_t(t) * row + d]) : 0.0f;
    g[i] = real_row ? to_float(dout[(int64_t(b) * Tlen + t) * C + h * HS + d]) : 0.0f;
    dq[i] = 0.0f;
  }
  const int block_keys = min(min(blockIdx.y * kTile + kTile, Tlen), length);
  for (int k0 = 0; k0 < block_keys; k0 += kTile) {
    const int count = min(kTile, block_keys - k0);
    __syncthreads();
    load_tile<HS>(k_tile, base + int64_t(k0) * row + C, row, count);
    load_tile<HS>(v_tile, base + int64_t(k0) * row + 2 * C, row, count);
    __syncthreads();
    for (int jj = 0; jj < count; ++jj) {
      float s_part = 0.0f, dp_part = 0.0f;
#pragma unroll
      for (int i = 0; i < kDims; ++i) {
        const int d = sub + kThreadsPerRow * i;
        s_part += q[i] * k_tile[jj][d];
        dp_part += g[i] * v_tile[jj][d];
      }
      const float score = row_sum(s_part) * scale;
      const float dp = row_sum(dp_part);
      const float p = k0 + jj < visible ? expf(score - row_lse) : 0.0f;
      const float ds = p * (dp - row_delta) * scale;
#pragma unroll
      for (int i = 0; i < kDims; ++i) dq[i] += ds * k_tile[jj][sub + kThreadsPerRow * i];
    }
  }
  if (!real_row) return;
  T* dst = dqkv + (int64_t(b) * Tlen + t) * row + h * HS;
#pragma unroll
  for (int i = 0; i < kDims; ++i) {
    const int d = sub + kThreadsPerRow * i;
    dst[d] = from_float<T>(to_float(dst[d]) + dq[i]);
  }
}

// dqkv's q part += dq_accum (after the atomic pass).
template <class T>
__global__ void add_dq_kernel(T* dqkv, const float* dq_accum, int64_t rows, int C) {
  CF_FOR_EACH_ELEMENT(idx, rows * C) {
    const int64_t r = idx / C;
    const int c = int(idx % C);
    T* dst = dqkv + r * 3 * C + c;
    *dst = from_float<T>(to_float(*dst) + dq_accum[idx]);
  }
}

}  // namespace

namespace flash {

void check_shape(int Tlen, int C, int NH, int rows_per_block) {
  CF_CHECK(NH > 0 && C % NH == 0, "flash attention: C must be a multiple of NH");
  CF_CHECK(flash_attention_supports(C / NH), "flash attention: head dim must be 32, 64 or 128");
  CF_CHECK((int64_t(Tlen) + rows_per_block - 1) / rows_per_block <= 65535,
           "flash attention: T too long for the grid");
}

template <class T>
void launch_delta(float* delta, const T* dout, const T* out, int B, int Tlen, int C, int NH,
                  cudaStream_t stream) {
  const int64_t stats = int64_t(B) * NH * Tlen;
  flash_delta_kernel<T>
      <<<blocks_for(stats, 256), 256, 0, stream>>>(delta, dout, out, B, Tlen, C, NH);
  CF_CUDA_CHECK_LAUNCH();
}
template void launch_delta<float>(float*, const float*, const float*, int, int, int, int,
                                  cudaStream_t);
template void launch_delta<bf16>(float*, const bf16*, const bf16*, int, int, int, int,
                                 cudaStream_t);

}  // namespace flash

bool flash_attention_supports(int head_dim) {
  return head_dim == 32 || head_dim == 64 || head_dim == 128;
}

template <class T>
void flash_attention_forward(T* out, float* lse, const T* qkv, const int32_t* lengths, int B,
                             int Tlen, int C, int NH, cudaStream_t stream) {
  flash::check_shape(Tlen, C, NH, kTile);
  if (B <= 0 || Tlen <= 0) return;
  const dim3 grid(B * NH, (Tlen + kTile - 1) / kTile);  // x: up to 2^31 - 1 blocks
  flash::with_head_dim(C / NH, [&](auto hs) {
    flash_forward_kernel<decltype(hs)::value, T>
        <<<grid, kThreads, 0, stream>>>(out, lse, qkv, lengths, Tlen, C, NH);
  });
  CF_CUDA_CHECK_LAUNCH();
}

int64_t flash_attention_backward_scratch_floats(int B, int Tlen, int C, int NH) {
  return int64_t(B) * NH * Tlen + int64_t(B) * Tlen * C;  // delta, then dq_accum
}

template <class T>
void flash_attention_backward(T* dqkv, float* scratch, const T* dout, const T* out, const T* qkv,
                              const float* lse, const int32_t* lengths, int B, int Tlen, int C,
                              int NH, bool deterministic, cudaStream_t stream) {
  flash::check_shape(Tlen, C, NH, kTile);
  if (B <= 0 || Tlen <= 0) return;
  float* delta = scratch;
  float* dq_accum = scratch + int64_t(B) * NH * Tlen;
  flash::launch_delta(delta, dout, out, B, Tlen, C, NH, stream);
  if (!deterministic)
    CF_CUDA_CHECK(cudaMemsetAsync(dq_accum, 0, sizeof(float) * int64_t(B) * Tlen * C, stream));
  const dim3 grid(B * NH, (Tlen + kTile - 1) / kTile);  // x: up to 2^31 - 1 blocks
  flash::with_head_dim(C / NH, [&](auto hs) {
    constexpr int HS = decltype(hs)::value;
    flash_backward_kv_kernel<HS, T><<<grid, kThreads, 0, stream>>>(
        dqkv, deterministic ? nullptr : dq_accum, dout, qkv, lse, delta, lengths, Tlen, C, NH);
    CF_CUDA_CHECK_LAUNCH();
    if (deterministic) {
      flash_backward_q_kernel<HS, T>
          <<<grid, kThreads, 0, stream>>>(dqkv, dout, qkv, lse, delta, lengths, Tlen, C, NH);
      CF_CUDA_CHECK_LAUNCH();
    }
  });
  if (!deterministic) {
    const int64_t n = int64_t(B) * Tlen * C;
    add_dq_kernel<T><<<blocks_for(n, 256), 256, 0, stream>>>(dqkv, dq_accum, int64_t(B) * Tlen, C);
    CF_CUDA_CHECK_LAUNCH();
  }
}

#define CF_INSTANTIATE(T)                                                                       \
  template void flash_attention_forward<T>(T*, float*, const T*, const int32_t*, int, int, int, \
                                           int, cudaStream_t);                                  \
  template void flash_attention_backward<T>(T*, float*, const T*, const T*, const T*,           \
                                            const float*, const int32_t*, int, int, int, int,   \
                                            bool, cudaStream_t);
CF_INSTANTIATE(float)
CF_INSTANTIATE(bf16)
#undef CF_INSTANTIATE

}  // namespace cf::cuda
