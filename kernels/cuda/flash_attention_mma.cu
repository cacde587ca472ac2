// Causal flash attention on tensor cores: bf16 operands, fp32 sums, forward and backward.
//
// The same contract as flash_attention.cu's (cuda_ops.h), with every product of the tiles done
// by the warp-wide MMA (mma.sync m16n8k16, tensor_core.cuh) instead of per-thread FMAs. A block
// is 4 warps; each warp owns 16 rows (query rows, or keys in the key-major pass), so a block
// owns 64, and the other operand streams through shared memory in tiles of 64 rows (bf16,
// each row padded by 8 elements so that neighbouring rows start in different banks).
//  - Forward (FlashAttention-2): S = Q K^T for 64 keys at a time, an online softmax on the
//    accumulators (a thread holds two rows; a row's max and sum are joined over the 4 lanes
//    that share it), then O += P V with P rounded to bf16 straight from the accumulators (the
//    C layout of two 8-column tiles is the A layout of one 16-column block).
//  - Backward: delta = rowsum(dO * O), then a key-major pass (a warp's 16 keys walk the queries
//    that see them: S^T = K Q^T and dP^T = V dO^T give P and dS, dV += P^T dO, dK += dS^T Q)
//    and a query-major pass (dQ += dS K), so no atomics: the result is the same every run.
//    Queries (or keys) go through in sub-tiles of 16 to keep fewer accumulators alive.
// Scores are scaled in fp32 after the product (not by rounding a scaled Q to bf16), and the
// probabilities use exp2 of scores premultiplied by log2(e), one instruction each.
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "kernels/attention_mask.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/flash_attention_parts.h"
#include "kernels/cuda/tensor_core.cuh"

namespace cf::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kWarpRows = 16;                   // rows of one warp's MMA tiles
constexpr int kBlockRows = kWarps * kWarpRows;  // rows a block owns
constexpr int kTileRows = 64;                   // rows of a shared tile of the other operand
using flash::kLog2e;

template <int HS>
using SharedTile = bf16[kTileRows][HS + 8];

// Rows [0, count) of one head (row r at first + r * stride) into a shared tile, 16 bytes per
// copy; rows past count are zeros (they are masked, but must not be NaN: 0 * NaN is NaN).
template <int HS>
__device__ __forceinline__ void load_tile(SharedTile<HS>& tile, const bf16* first, int64_t stride,
                                          int count) {
  constexpr int kChunks = HS / 8;
  for (int e = threadIdx.x; e < kTileRows * kChunks; e += kThreads) {
    const int r = e / kChunks, c = (e % kChunks) * 8;
    uint4 chunk = {0u, 0u, 0u, 0u};
    if (r < count) chunk = load_16_bytes(first + r * stride + c);
    store_16_bytes(&tile[r][c], chunk);
  }
}

// A fragments of a warp's 16 rows over the whole head dim, from global memory (each warp reads
// its own rows once): rows at or past `rows` are zeros.
template <int HS>
__device__ __forceinline__ void load_row_fragments(uint32_t (&a)[HS / 16][4], const bf16* first,
                                                   int64_t stride, int first_row, int rows,
                                                   int lane) {
  const int group = lane >> 2, index = lane & 3;
  const bool top_real = first_row + group < rows, bottom_real = first_row + group + 8 < rows;
  const bf16* top = first + int64_t(first_row + group) * stride + 2 * index;
  const bf16* bottom = top + 8 * stride;
#pragma unroll
  for (int ks = 0; ks < HS / 16; ++ks) {
    a[ks][0] = top_real ? load_bf16x2(top + 16 * ks) : 0u;
    a[ks][1] = bottom_real ? load_bf16x2(bottom + 16 * ks) : 0u;
    a[ks][2] = top_real ? load_bf16x2(top + 16 * ks + 8) : 0u;
    a[ks][3] = bottom_real ? load_bf16x2(bottom + 16 * ks + 8) : 0u;
  }
}

// Max over the 4 lanes sharing an accumulator row (lanes 4g .. 4g + 3).
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// The two products of a backward sub-tile: for the warp's 16 rows, held as a fragments over the
// head dim (x and y), against rows [first, first + 16) of two shared tiles:
// xs += x * x_tile[first..]^T and ys += y * y_tile[first..]^T, each as two 8-column tiles.
template <int HS>
__device__ __forceinline__ void products_with_16_rows(
    float (&xs)[2][4], const uint32_t (&x)[HS / 16][4], const SharedTile<HS>& x_tile,
    float (&ys)[2][4], const uint32_t (&y)[HS / 16][4], const SharedTile<HS>& y_tile, int first,
    int lane) {
#pragma unroll
  for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
    for (int ks = 0; ks < HS / 16; ++ks) {
      uint32_t frag[2];
      load_b_fragment_transposed(frag, &x_tile[first + 8 * nt][0], HS + 8, 16 * ks, lane);
      mma_bf16_m16n8k16(xs[nt], x[ks], frag);
      load_b_fragment_transposed(frag, &y_tile[first + 8 * nt][0], HS + 8, 16 * ks, lane);
      mma_bf16_m16n8k16(ys[nt], y[ks], frag);
    }
  }
}

// dst[0..1] += (lo, hi): a pair of a thread's accumulator row into a bf16 gradient row.
__device__ __forceinline__ void add_pair(bf16* dst, float lo, float hi) {
  dst[0] = from_float<bf16>(to_float(dst[0]) + lo);
  dst[1] = from_float<bf16>(to_float(dst[1]) + hi);
}

template <int HS>
__global__ void __launch_bounds__(kThreads)
    mma_forward_kernel(bf16* out, float* lse, const bf16* qkv, const int32_t* lengths, int Tlen,
                       int C, int NH) {
  constexpr int kKeyTiles = kTileRows / 8;  // 8-key accumulator tiles per shared tile
  __shared__ __align__(16) SharedTile<HS> k_tile;
  __shared__ __align__(16) SharedTile<HS> v_tile;
  const int h = blockIdx.x % NH, b = blockIdx.x / NH;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane >> 2, index = lane & 3;
  const int length = lengths[b];
  const int64_t row = 3 * int64_t(C);
  const bf16* base = qkv + int64_t(b) * Tlen * row + h * HS;
  const float scale2 = rsqrtf(float(HS)) * kLog2e;

  const int first_row = blockIdx.y * kBlockRows + warp * kWarpRows;
  const int rows[2] = {first_row + group, first_row + group + 8};  // this thread's query rows
  int visible[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) visible[r] = rows[r] < Tlen ? ops::visible_keys(rows[r], length) : 0;
  uint32_t q[HS / 16][4];
  load_row_fragments<HS>(q, base, row, first_row, Tlen, lane);

  float o[HS / 8][4] = {};
  float running_max[2] = {-INFINITY, -INFINITY}, running_sum[2] = {0.0f, 0.0f};
  const int block_keys = min(min(int(blockIdx.y) * kBlockRows + kBlockRows, Tlen), length);
  for (int k0 = 0; k0 < block_keys; k0 += kTileRows) {
    const int count = min(kTileRows, block_keys - k0);
    __syncthreads();  // the previous tiles are no longer read
    load_tile<HS>(k_tile, base + int64_t(k0) * row + C, row, count);
    load_tile<HS>(v_tile, base + int64_t(k0) * row + 2 * C, row, count);
    __syncthreads();

    float s[kKeyTiles][4] = {};
#pragma unroll
    for (int nt = 0; nt < kKeyTiles; ++nt) {
#pragma unroll
      for (int ks = 0; ks < HS / 16; ++ks) {
        uint32_t k_frag[2];
        load_b_fragment_transposed(k_frag, &k_tile[nt * 8][0], HS + 8, 16 * ks, lane);
        mma_bf16_m16n8k16(s[nt], q[ks], k_frag);
      }
    }
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nt = 0; nt < kKeyTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = k0 + nt * 8 + 2 * index + (e & 1);
        s[nt][e] = key < visible[e >> 1] ? s[nt][e] * scale2 : -INFINITY;
        tile_max[e >> 1] = fmaxf(tile_max[e >> 1], s[nt][e]);
      }
    }
    float shift[2];  // the max the exponentials are taken against (0 while nothing is visible)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float new_max = fmaxf(running_max[r], quad_max(tile_max[r]));
      shift[r] = new_max == -INFINITY ? 0.0f : new_max;
      const float correction = exp2f(running_max[r] - shift[r]);  // 0 before the first visible
      running_sum[r] *= correction;
#pragma unroll
      for (int dt = 0; dt < HS / 8; ++dt) {
        o[dt][2 * r] *= correction;
        o[dt][2 * r + 1] *= correction;
      }
      running_max[r] = new_max;
    }
#pragma unroll
    for (int nt = 0; nt < kKeyTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[nt][e] = exp2f(s[nt][e] - shift[e >> 1]);  // 0 for masked keys
        running_sum[e >> 1] += s[nt][e];
      }
    }
#pragma unroll
    for (int kk = 0; kk < kKeyTiles / 2; ++kk) {
      uint32_t p[4];
      accumulators_as_a(p, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
      for (int dt = 0; dt < HS / 8; ++dt) {
        uint32_t v_frag[2];
        load_b_fragment(v_frag, &v_tile[16 * kk][0], HS + 8, 8 * dt, lane);
        mma_bf16_m16n8k16(o[dt], p, v_frag);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float sum = quad_sum(running_sum[r]);
    if (rows[r] >= Tlen) continue;
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    bf16* dst = out + (int64_t(b) * Tlen + rows[r]) * C + h * HS + 2 * index;
#pragma unroll
    for (int dt = 0; dt < HS / 8; ++dt) {
      dst[8 * dt] = from_float<bf16>(o[dt][2 * r] * inv);
      dst[8 * dt + 1] = from_float<bf16>(o[dt][2 * r + 1] * inv);
    }
    if (index == 0)
      lse[(int64_t(b) * NH + h) * Tlen + rows[r]] =
          sum > 0.0f ? (running_max[r] + log2f(sum)) / kLog2e : -INFINITY;
  }
}

// Key-major pass: block (b * NH + h, 64-key tile), a warp's 16 keys; dK and dV in registers.
template <int HS>
__global__ void __launch_bounds__(kThreads)
    mma_backward_kv_kernel(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                           const float* delta, const int32_t* lengths, int Tlen, int C, int NH) {
  __shared__ __align__(16) SharedTile<HS> q_tile;
  __shared__ __align__(16) SharedTile<HS> g_tile;
  __shared__ float lse_tile[kTileRows], delta_tile[kTileRows];  // lse in log2 units
  const int h = blockIdx.x % NH, b = blockIdx.x / NH;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane >> 2, index = lane & 3;
  const int length = lengths[b];
  const int real_keys = min(Tlen, length);
  const int64_t row = 3 * int64_t(C);
  const bf16* base = qkv + int64_t(b) * Tlen * row + h * HS;
  const bf16* g_base = dout + int64_t(b) * Tlen * C + h * HS;
  const float scale = rsqrtf(float(HS)), scale2 = scale * kLog2e;
  const int64_t stat_base = (int64_t(b) * NH + h) * Tlen;

  const int first_key = blockIdx.y * kBlockRows + warp * kWarpRows;
  const int keys[2] = {first_key + group, first_key + group + 8};
  uint32_t k[HS / 16][4], v[HS / 16][4];
  load_row_fragments<HS>(k, base + C, row, first_key, real_keys, lane);
  load_row_fragments<HS>(v, base + 2 * C, row, first_key, real_keys, lane);
  float dk[HS / 8][4] = {}, dv[HS / 8][4] = {};

  // Queries that see a key of this block: t >= its first key; none past the sequence's length.
  const int block_first_key = blockIdx.y * kBlockRows;
  const int q_begin = block_first_key < real_keys ? block_first_key : Tlen;
  for (int t0 = q_begin; t0 < Tlen; t0 += kTileRows) {
    const int count = min(kTileRows, Tlen - t0);
    __syncthreads();
    load_tile<HS>(q_tile, base + int64_t(t0) * row, row, count);
    load_tile<HS>(g_tile, g_base + int64_t(t0) * C, C, count);
    if (const int r = int(threadIdx.x); r < kTileRows) {
      lse_tile[r] = r < count ? lse[stat_base + t0 + r] * kLog2e : 0.0f;
      delta_tile[r] = r < count ? delta[stat_base + t0 + r] : 0.0f;
    }
    __syncthreads();
#pragma unroll 1
    for (int sub = 0; sub < kTileRows; sub += 16) {
      // S^T = K Q^T and dP^T = V dO^T for 16 queries.
      float st[2][4] = {}, dpt[2][4] = {};
      products_with_16_rows<HS>(st, k, q_tile, dpt, v, g_tile, sub, lane);
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int local = sub + 8 * nt + 2 * index + (e & 1);
          const int t = t0 + local, key = keys[e >> 1];
          // Query t sees key iff key <= t and key < length (real_keys), and t is a row.
          const bool seen = key < real_keys && key <= t && t < Tlen;
          const float p = seen ? exp2f(st[nt][e] * scale2 - lse_tile[local]) : 0.0f;
          st[nt][e] = p;
          dpt[nt][e] = p * (dpt[nt][e] - delta_tile[local]) * scale;
        }
      }
      uint32_t p_frag[4], ds_frag[4];
      accumulators_as_a(p_frag, st[0], st[1]);
      accumulators_as_a(ds_frag, dpt[0], dpt[1]);
#pragma unroll
      for (int dt = 0; dt < HS / 8; ++dt) {
        uint32_t frag[2];
        load_b_fragment(frag, &g_tile[sub][0], HS + 8, 8 * dt, lane);
        mma_bf16_m16n8k16(dv[dt], p_frag, frag);
        load_b_fragment(frag, &q_tile[sub][0], HS + 8, 8 * dt, lane);
        mma_bf16_m16n8k16(dk[dt], ds_frag, frag);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (keys[r] >= Tlen) continue;
    bf16* dk_out = dqkv + (int64_t(b) * Tlen + keys[r]) * row + C + h * HS + 2 * index;
    bf16* dv_out = dk_out + C;
#pragma unroll
    for (int dt = 0; dt < HS / 8; ++dt) {
      add_pair(dk_out + 8 * dt, dk[dt][2 * r], dk[dt][2 * r + 1]);
      add_pair(dv_out + 8 * dt, dv[dt][2 * r], dv[dt][2 * r + 1]);
    }
  }
}

// Query-major pass for dQ: block (b * NH + h, 64-query tile), a warp's 16 queries; keys in
// ascending order, so every dQ element is summed in the same order every run.
template <int HS>
__global__ void __launch_bounds__(kThreads)
    mma_backward_q_kernel(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                          const float* delta, const int32_t* lengths, int Tlen, int C, int NH) {
  __shared__ __align__(16) SharedTile<HS> k_tile;
  __shared__ __align__(16) SharedTile<HS> v_tile;
  const int h = blockIdx.x % NH, b = blockIdx.x / NH;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane >> 2, index = lane & 3;
  const int length = lengths[b];
  const int64_t row = 3 * int64_t(C);
  const bf16* base = qkv + int64_t(b) * Tlen * row + h * HS;
  const float scale = rsqrtf(float(HS)), scale2 = scale * kLog2e;
  const int64_t stat_base = (int64_t(b) * NH + h) * Tlen;

  const int first_row = blockIdx.y * kBlockRows + warp * kWarpRows;
  const int rows[2] = {first_row + group, first_row + group + 8};
  int visible[2];
  float row_lse[2], row_delta[2];  // lse in log2 units
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const bool real = rows[r] < Tlen;
    visible[r] = real ? ops::visible_keys(rows[r], length) : 0;
    row_lse[r] = real ? lse[stat_base + rows[r]] * kLog2e : 0.0f;
    row_delta[r] = real ? delta[stat_base + rows[r]] : 0.0f;
  }
  uint32_t q[HS / 16][4], g[HS / 16][4];
  load_row_fragments<HS>(q, base, row, first_row, Tlen, lane);
  load_row_fragments<HS>(g, dout + int64_t(b) * Tlen * C + h * HS, C, first_row, Tlen, lane);
  float dq[HS / 8][4] = {};

  const int block_keys = min(min(int(blockIdx.y) * kBlockRows + kBlockRows, Tlen), length);
  for (int k0 = 0; k0 < block_keys; k0 += kTileRows) {
    const int count = min(kTileRows, block_keys - k0);
    __syncthreads();
    load_tile<HS>(k_tile, base + int64_t(k0) * row + C, row, count);
    load_tile<HS>(v_tile, base + int64_t(k0) * row + 2 * C, row, count);
    __syncthreads();
#pragma unroll 1
    for (int sub = 0; sub < kTileRows; sub += 16) {
      // S = Q K^T and dP = dO V^T for 16 keys.
      float s[2][4] = {}, dp[2][4] = {};
      products_with_16_rows<HS>(s, q, k_tile, dp, g, v_tile, sub, lane);
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = k0 + sub + 8 * nt + 2 * index + (e & 1);
          const int r = e >> 1;
          const float p = key < visible[r] ? exp2f(s[nt][e] * scale2 - row_lse[r]) : 0.0f;
          s[nt][e] = p * (dp[nt][e] - row_delta[r]) * scale;  // dS
        }
      }
      uint32_t ds_frag[4];
      accumulators_as_a(ds_frag, s[0], s[1]);
#pragma unroll
      for (int dt = 0; dt < HS / 8; ++dt) {
        uint32_t frag[2];
        load_b_fragment(frag, &k_tile[sub][0], HS + 8, 8 * dt, lane);
        mma_bf16_m16n8k16(dq[dt], ds_frag, frag);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (rows[r] >= Tlen) continue;
    bf16* dst = dqkv + (int64_t(b) * Tlen + rows[r]) * row + h * HS + 2 * index;
#pragma unroll
    for (int dt = 0; dt < HS / 8; ++dt) add_pair(dst + 8 * dt, dq[dt][2 * r], dq[dt][2 * r + 1]);
  }
}

// The 16-byte tile copies read rows of qkv and dout at multiples of 8 elements from the base.
void check_alignment(const void* p, const char* name) {
  CF_CHECK(reinterpret_cast<uintptr_t>(p) % 16 == 0,
           std::string("tensor-core flash attention: ") + name + " must be 16-byte aligned");
}

}  // namespace

bool tensor_core_flash_attention_available(int compute_major) { return compute_major >= 8; }

void tensor_core_flash_attention_forward(bf16* out, float* lse, const bf16* qkv,
                                         const int32_t* lengths, int B, int Tlen, int C, int NH,
                                         cudaStream_t stream) {
  flash::check_shape(Tlen, C, NH, kBlockRows);
  check_alignment(qkv, "qkv");
  if (B <= 0 || Tlen <= 0) return;
  const dim3 grid(B * NH, (Tlen + kBlockRows - 1) / kBlockRows);
  flash::with_head_dim(C / NH, [&](auto hs) {
    mma_forward_kernel<decltype(hs)::value>
        <<<grid, kThreads, 0, stream>>>(out, lse, qkv, lengths, Tlen, C, NH);
  });
  CF_CUDA_CHECK_LAUNCH();
}

int64_t tensor_core_flash_attention_backward_scratch_floats(int B, int Tlen, int NH) {
  return int64_t(B) * NH * Tlen;  // delta
}

void tensor_core_flash_attention_backward(bf16* dqkv, float* scratch, const bf16* dout,
                                          const bf16* out, const bf16* qkv, const float* lse,
                                          const int32_t* lengths, int B, int Tlen, int C, int NH,
                                          cudaStream_t stream) {
  flash::check_shape(Tlen, C, NH, kBlockRows);
  check_alignment(qkv, "qkv");
  check_alignment(dout, "dout");
  if (B <= 0 || Tlen <= 0) return;
  float* delta = scratch;
  flash::launch_delta(delta, dout, out, B, Tlen, C, NH, stream);
  const dim3 grid(B * NH, (Tlen + kBlockRows - 1) / kBlockRows);
  flash::with_head_dim(C / NH, [&](auto hs) {
    constexpr int HS = decltype(hs)::value;
    mma_backward_kv_kernel<HS>
        <<<grid, kThreads, 0, stream>>>(dqkv, dout, qkv, lse, delta, lengths, Tlen, C, NH);
    CF_CUDA_CHECK_LAUNCH();
    mma_backward_q_kernel<HS>
        <<<grid, kThreads, 0, stream>>>(dqkv, dout, qkv, lse, delta, lengths, Tlen, C, NH);
    CF_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace cf::cuda
