// BLAS products for the CPU kernels: a typed gemm over cblas_sgemm / cblas_dgemm (the float one
// in bf16 when matmul_precision() says so), and fixed-partition variants whose results do not
// depend on the number of threads.
#pragma once
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "kernels/cpu/bf16_gemm.h"
#include "kernels/cpu/matmul_precision.h"

namespace cf::ops::cpu {

// C = beta * C: what an empty product (K == 0) leaves, done here because BLAS rejects the zero
// leading dimensions such a call would carry.
template <class T>
void scale_in_place(int M, int N, T beta, T* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      T& c = C[int64_t(i) * ldc + j];
      c = beta == T(0) ? T(0) : beta * c;
    }
}

// C[M, N] = alpha * op(A) @ op(B) + beta * C, all row-major; op transposes when the flag is set.
// In the type's own precision whatever matmul_precision() says: the BLAS call every product ends
// in, and what products whose inputs must not be rounded (attention) call directly.
template <class T>
void gemm_row_major_unrounded(bool trans_a, bool trans_b, int M, int N, int K, T alpha,
                              const T* A, int lda, const T* B, int ldb, T beta, T* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return scale_in_place(M, N, beta, C, ldc);
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// The kernels' float product: in bf16 when matmul_precision() says so, one row as a gemv.
inline void gemm_row_major(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                           const float* A, int lda, const float* B, int ldb, float beta, float* C,
                           int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return scale_in_place(M, N, beta, C, ldc);
  if (matmul_precision() == MatmulPrecision::kBf16)
    return gemm_bf16_row_major(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (M == 1) {
    // One row (a user's scores over the catalogue while generating): a matrix-vector product.
    // sgemm would copy the whole of B into its packed layout for this single row.
    // C[1, N] = alpha a op(B) + beta C, a = the row of op(A) (stride lda when A is transposed).
    const int inc_a = trans_a ? lda : 1;
    // OpenBLAS's gemv scales y by beta even when beta is 0 (NaN * 0 stays NaN): clear it.
    if (beta == 0.0f) std::fill(C, C + N, 0.0f);
    if (trans_b)  // B stored [N, K]: C = B a
      cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, inc_a, beta, C, 1);
    else  // B stored [K, N]: C = B^T a
      cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, inc_a, beta, C, 1);
    return;
  }
  gemm_row_major_unrounded(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

inline void gemm_row_major(bool trans_a, bool trans_b, int M, int N, int K, double alpha,
                           const double* A, int lda, const double* B, int ldb, double beta,
                           double* C, int ldc) {
  gemm_row_major_unrounded(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// An operand shared by several products. In bf16 mode (float only) it carries a bf16 copy made
// once by shared_operand, so the products do not each round the same values again (for the
// item softmax's weight matrix that rounding would cost more than the products).
template <class T>
struct GemmOperand {
  const T* values;
  int ld;
  const uint16_t* bf16 = nullptr;  // the same matrix in bf16 with row stride bf16_ld, or null
  int bf16_ld = 0;
  // The operand from row `r` on.
  GemmOperand rows_from(int64_t r) const {
    return {values + r * ld, ld, bf16 ? bf16 + r * bf16_ld : nullptr, bf16_ld};
  }
};

// Whether products of T run in bf16 now (only float products ever do).
template <class T>
bool products_in_bf16() {
  if constexpr (std::is_same_v<T, float>) return matmul_precision() == MatmulPrecision::kBf16;
  return false;
}

// `values` (rows x cols, row stride ld) as a shared operand; in bf16 mode its bf16 copy goes
// into `storage` (which must outlive the operand's use).
template <class T>
GemmOperand<T> shared_operand(const T* values, int rows, int cols, int ld,
                              std::vector<uint16_t>& storage) {
  if constexpr (std::is_same_v<T, float>) {
    if (products_in_bf16<T>()) {
      storage.resize(size_t(rows) * cols);
      convert_to_bf16(values, rows, cols, ld, storage.data(), cols);
      return {values, ld, storage.data(), cols};
    }
  }
  return {values, ld};
}

// gemm_row_major on shared operands: their bf16 copies when both have one.
template <class T>
void gemm_row_major(bool trans_a, bool trans_b, int M, int N, int K, T alpha,
                    const GemmOperand<T>& A, const GemmOperand<T>& B, T beta, T* C, int ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (A.bf16 && B.bf16 && M > 0 && N > 0 && K > 0 &&
        matmul_precision() == MatmulPrecision::kBf16)
      return gemm_bf16_prepared(trans_a, trans_b, M, N, K, alpha, A.bf16, A.bf16_ld, B.bf16,
                                B.bf16_ld, beta, C, ldc);
  }
  gemm_row_major(trans_a, trans_b, M, N, K, alpha, A.values, A.ld, B.values, B.ld, beta, C, ldc);
}

// Partitioned products. OpenBLAS splits a call over its threads in a way that changes the
// rounding of some elements with the thread count (its edge kernels move with the split), so
// the kernels cut their products into blocks of a FIXED size themselves and run one
// single-threaded BLAS call per block inside an OpenMP loop. The bits of the result then depend
// on the block sizes only, never on OMP_NUM_THREADS.

// Called at the start of a parallel region whose tasks call BLAS. The OpenMP build of OpenBLAS
// sizes its team from omp_get_max_threads() of the calling task, which a region does not always
// lower (a region of one thread is inactive and keeps the outer value); setting it to 1 keeps
// every call in the region single-threaded.
inline void run_blas_serially_in_this_task() { omp_set_num_threads(1); }

// Threads for a region of `tasks` independent BLAS calls.
inline int blas_region_threads(int64_t tasks) {
  return int(std::clamp<int64_t>(tasks, 1, omp_get_max_threads()));
}

// C = alpha op(A) op(B) + beta C with the M rows of C cut into blocks of `block_rows`.
template <class T>
void gemm_row_blocks(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
                     const T* B, int ldb, T beta, T* C, int ldc, int block_rows) {
  const int blocks = (M + block_rows - 1) / block_rows;
#pragma omp parallel num_threads(blas_region_threads(blocks))
  {
    run_blas_serially_in_this_task();
#pragma omp for schedule(static)
    for (int block = 0; block < blocks; ++block) {
      const int i0 = block * block_rows;
      const int rows = std::min(M, i0 + block_rows) - i0;
      // Row i of op(A) is row i of A, or column i when A is stored transposed.
      const T* a = trans_a ? A + i0 : A + int64_t(i0) * lda;
      gemm_row_major(trans_a, trans_b, rows, N, K, alpha, a, lda, B, ldb, beta,
                     C + int64_t(i0) * ldc, ldc);
    }
  }
}

// C = alpha op(A) op(B) + beta C with the N columns of C cut into blocks of `block_cols`.
template <class T>
void gemm_column_blocks(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A,
                        int lda, const T* B, int ldb, T beta, T* C, int ldc, int block_cols) {
  const int blocks = (N + block_cols - 1) / block_cols;
#pragma omp parallel num_threads(blas_region_threads(blocks))
  {
    run_blas_serially_in_this_task();
#pragma omp for schedule(static)
    for (int block = 0; block < blocks; ++block) {
      const int j0 = block * block_cols;
      const int cols = std::min(N, j0 + block_cols) - j0;
      // Column j of op(B) is column j of B, or row j when B is stored transposed.
      const T* b = trans_b ? B + int64_t(j0) * ldb : B + j0;
      gemm_row_major(trans_a, trans_b, M, cols, K, alpha, A, lda, b, ldb, beta, C + j0, ldc);
    }
  }
}

// C += alpha op(A) op(B) for a long summed dimension K and a small C (weight gradients): K is
// cut into blocks of `block_k`, each block's product lands in its own scratch matrix, and the
// scratch matrices are added to C in block order.
template <class T>
void gemm_accumulate_k_blocks(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A,
                              int lda, const T* B, int ldb, T* C, int ldc, int block_k) {
  const int blocks = (K + block_k - 1) / block_k;
  if (blocks <= 1) {
#pragma omp parallel num_threads(1)
    {
      run_blas_serially_in_this_task();
      gemm_row_major(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, T(1), C, ldc);
    }
    return;
  }
  const int64_t size = int64_t(M) * N;
  auto partial = std::make_unique_for_overwrite<T[]>(size * blocks);
#pragma omp parallel num_threads(blas_region_threads(blocks))
  {
    run_blas_serially_in_this_task();
#pragma omp for schedule(static)
    for (int block = 0; block < blocks; ++block) {
      const int k0 = block * block_k;
      const int depth = std::min(K, k0 + block_k) - k0;
      // Step k of op(A) is column k of A (row k when transposed); of op(B), row k (column k).
      const T* a = trans_a ? A + int64_t(k0) * lda : A + k0;
      const T* b = trans_b ? B + k0 : B + int64_t(k0) * ldb;
      gemm_row_major(trans_a, trans_b, M, N, depth, alpha, a, lda, b, ldb, T(0),
                     partial.get() + size * block, N);
    }
  }
#pragma omp parallel for schedule(static) if (size > 16384)
  for (int i = 0; i < M; ++i) {
    T* c = C + int64_t(i) * ldc;
    for (int block = 0; block < blocks; ++block) {
      const T* p = partial.get() + size * block + int64_t(i) * N;
      for (int j = 0; j < N; ++j) c[j] += p[j];
    }
  }
}

}  // namespace cf::ops::cpu
