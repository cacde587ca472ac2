// Tensor-core building blocks for the kernels: the warp-wide bf16 MMA (mma.sync m16n8k16,
// fp32 accumulators, sm_80 and newer) and the fragment loads and packing around it.
//
// One MMA is d[16x8] += a[16x16] * b[16x8] for the whole warp. Lane = 4 * group + index (group =
// lane / 4, index = lane % 4) holds, as bf16 pairs (low half = the lower column or row):
//  a: 4 registers, rows (group, group + 8) x columns (2 index, 2 index + 8), in the order
//     (row group, col 2i), (row group + 8, col 2i), (row group, col 2i + 8), (group + 8, 2i + 8);
//  b: 2 registers, rows 2 index and 2 index + 8 (and the next row each), column group;
//  c/d: 4 floats, rows group and group + 8, columns 2 index and 2 index + 1.
// The CPU emulation (tests/cuda_emulation) defines CF_CUDA_EMULATOR and performs the MMA by the
// same layouts, so the kernels' fragment bookkeeping is tested without a GPU.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>
#include <cstring>

namespace cf::cuda {

// Reinterprets `size` bytes (4 or 16) of aligned memory: a plain vector load or store on the
// GPU; memcpy on the CPU emulation, where the casts would break C++'s aliasing rules.
template <class To, class From>
__device__ __forceinline__ To bits_as(const From& from) {
  static_assert(sizeof(To) == sizeof(From));
#if defined(CF_CUDA_EMULATOR)
  To to;
  std::memcpy(&to, &from, sizeof to);
  return to;
#else
  return *reinterpret_cast<const To*>(&from);
#endif
}

// Eight bf16 at a 16-byte aligned address.
__device__ __forceinline__ uint4 load_16_bytes(const __nv_bfloat16* at) {
#if defined(CF_CUDA_EMULATOR)
  uint4 chunk;
  std::memcpy(&chunk, at, sizeof chunk);
  return chunk;
#else
  return *reinterpret_cast<const uint4*>(at);
#endif
}
__device__ __forceinline__ void store_16_bytes(__nv_bfloat16* at, uint4 chunk) {
#if defined(CF_CUDA_EMULATOR)
  std::memcpy(static_cast<void*>(at), &chunk, sizeof chunk);
#else
  *reinterpret_cast<uint4*>(at) = chunk;
#endif
}

// Two floats rounded to bf16 (nearest even) in one register, `lo` in the low half.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  return bits_as<uint32_t>(__floats2bfloat162_rn(lo, hi));
}

// Two consecutive bf16 (the first at an even index) as one register.
__device__ __forceinline__ uint32_t load_bf16x2(const __nv_bfloat16* first) {
  return bits_as<uint32_t>(*reinterpret_cast<const __nv_bfloat162*>(first));
}

// Two bf16 from different rows (`lo` in the low half): a fragment along the other axis.
__device__ __forceinline__ uint32_t gather_bf16x2(__nv_bfloat16 lo, __nv_bfloat16 hi) {
  return bits_as<uint32_t>(__nv_bfloat162(lo, hi));
}

// d += a * b (one m16n8k16 MMA of the warp; every lane must call it).
__device__ __forceinline__ void mma_bf16_m16n8k16(float (&d)[4], const uint32_t (&a)[4],
                                                  const uint32_t (&b)[2]) {
#if defined(CF_CUDA_EMULATOR)
  cf_emu::mma_m16n8k16_bf16(d, a, b, d);
#elif defined(__CUDA_ARCH__)
#if __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();  // callers check tensor_cores_available() first
#endif
#endif
}

// The a fragment of the 16 x 16 block of a row-major bf16 matrix at `rows` (first row of the
// block, `stride` elements apart), columns k0 .. k0 + 15.
__device__ __forceinline__ void load_a_fragment(uint32_t (&a)[4], const __nv_bfloat16* rows,
                                                int stride, int k0, int lane) {
  const int group = lane >> 2, index = lane & 3;
  const __nv_bfloat16* top = rows + group * stride + k0 + 2 * index;
  const __nv_bfloat16* bottom = top + 8 * stride;
  a[0] = load_bf16x2(top);
  a[1] = load_bf16x2(bottom);
  a[2] = load_bf16x2(top + 8);
  a[3] = load_bf16x2(bottom + 8);
}

// The b fragment when b's columns are rows of a row-major matrix (b = M^T: M[n][k]): the 8
// rows at `rows`, columns k0 .. k0 + 15 of M.
__device__ __forceinline__ void load_b_fragment_transposed(uint32_t (&b)[2],
                                                           const __nv_bfloat16* rows, int stride,
                                                           int k0, int lane) {
  const int group = lane >> 2, index = lane & 3;
  const __nv_bfloat16* at = rows + group * stride + k0 + 2 * index;
  b[0] = load_bf16x2(at);
  b[1] = load_bf16x2(at + 8);
}

// The b fragment of a row-major matrix M[k][n]: rows k0 .. k0 + 15 at `rows` (first row),
// columns n0 .. n0 + 7.
__device__ __forceinline__ void load_b_fragment(uint32_t (&b)[2], const __nv_bfloat16* rows,
                                                int stride, int n0, int lane) {
  const int group = lane >> 2, index = lane & 3;
  const __nv_bfloat16* at = rows + (2 * index) * stride + n0 + group;
  b[0] = gather_bf16x2(at[0], at[stride]);
  b[1] = gather_bf16x2(at[8 * stride], at[9 * stride]);
}

// Accumulators of two neighbouring 16 x 8 tiles (columns n0 .. n0 + 15 of a product) as the a
// fragment of the next product over those 16 columns, rounded to bf16: the c layout of two
// tiles is the a layout of one 16 x 16 block.
__device__ __forceinline__ void accumulators_as_a(uint32_t (&a)[4], const float (&left)[4],
                                                  const float (&right)[4]) {
  a[0] = pack_bf16x2(left[0], left[1]);
  a[1] = pack_bf16x2(left[2], left[3]);
  a[2] = pack_bf16x2(right[0], right[1]);
  a[3] = pack_bf16x2(right[2], right[3]);
}

}  // namespace cf::cuda
