// bf16 matrix products on the CPU: C = alpha op(A) op(B) + beta C with A and B rounded to bf16
// (round to nearest even), products summed in fp32, C fp32. oneDNN's matmul (AMX or
// AVX512-BF16 kernels) computes them where it was built in and the CPU runs it; elsewhere the
// same numbers come from sgemm on the rounded inputs (a bf16 product is exact in fp32), which is
// also the reference the tests hold the oneDNN path to.
#pragma once
#include <cstdint>

namespace cf::ops::cpu {

// fp32 -> bf16 bits, round to nearest even (NaN stays a quiet NaN).
uint16_t to_bf16(float x);
float from_bf16(uint16_t bits);
// x rounded to the nearest bf16 value, as an fp32.
inline float round_to_bf16(float x) { return from_bf16(to_bf16(x)); }

// dst[r * ld_dst + c] = to_bf16(src[r * ld_src + c]) for a rows x cols block (vectorised).
void convert_to_bf16(const float* src, int rows, int cols, int ld_src, uint16_t* dst, int ld_dst);

// C = alpha op(A) op(B) + beta C with A and B already in bf16 (row-major, their own leading
// dimensions): for operands that several products share, converted once (convert_to_bf16).
void gemm_bf16_prepared(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                        const uint16_t* A, int lda, const uint16_t* B, int ldb, float beta,
                        float* C, int ldc);

// Row-major, op transposes when the flag is set; M, N, K > 0. Single-threaded when called
// inside a task that run_blas_serially_in_this_task() set up, like the sgemm it replaces.
void gemm_bf16_row_major(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                         const float* A, int lda, const float* B, int ldb, float beta, float* C,
                         int ldc);
// The emulated path: round op(A), op(B) to bf16 and multiply them with sgemm.
void gemm_bf16_emulated(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                        const float* A, int lda, const float* B, int ldb, float beta, float* C,
                        int ldc);

}  // namespace cf::ops::cpu
