#include "kernels/cpu/bf16_gemm.h"

#include <cblas.h>
#include <immintrin.h>

#include <atomic>
#include <bit>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "kernels/cpu/blas_kernel_choice.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/matmul_precision.h"

#ifdef CF_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace cf::ops::cpu {

namespace {

std::atomic<MatmulPrecision> g_precision{MatmulPrecision::kFp32};

// to_bf16 over a row. The same integer rounding everywhere (not AVX512-BF16's conversion
// instruction, which flushes subnormals to zero), so every machine rounds alike; with AVX-512 16
// values at a time (the compiler's own vectorisation of the scalar loop is 5x slower).
// GCC 12 flags the intrinsics' own _mm512_undefined_* placeholders as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) void convert_row_to_bf16_avx512(const float* src, int n,
                                                                   uint16_t* dst) {
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
  const __m512i magnitude = _mm512_set1_epi32(0x7fffffff), infinity = _mm512_set1_epi32(0x7f800000);
  const __m512i quiet = _mm512_set1_epi32(0x40);
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i bits = _mm512_loadu_si512(src + i);
    const __m512i high = _mm512_srli_epi32(bits, 16);
    const __m512i rounded =
        _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(bits, bias), _mm512_and_si512(high, one)), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, magnitude), infinity);
    const __m512i out = _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(high, quiet));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_cvtepi32_epi16(out));
  }
  for (; i < n; ++i) dst[i] = to_bf16(src[i]);
}
#pragma GCC diagnostic pop

void convert_row_to_bf16(const float* src, int n, uint16_t* dst) {
  if (has_avx512()) return convert_row_to_bf16_avx512(src, n, dst);
  for (int i = 0; i < n; ++i) dst[i] = to_bf16(src[i]);
}

void pack_rounded(const float* src, int rows, int cols, int ld, float* dst) {
  for (int r = 0; r < rows; ++r) {
    const float* s = src + int64_t(r) * ld;
    float* d = dst + int64_t(r) * cols;
    for (int c = 0; c < cols; ++c) d[c] = round_to_bf16(s[c]);
  }
}

#ifdef CF_HAVE_ONEDNN
dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One matmul primitive per product shape, built once per thread (a stream and the memory
// objects are not shared between threads): (transposes, M, N, K, lda, ldb, ldc, alpha, beta).
struct OnednnProduct {
  dnnl::matmul matmul;
  dnnl::memory a, b, c, scratchpad;
  size_t scratchpad_bytes = 0;
  std::string implementation;
};
using ProductKey = std::tuple<bool, bool, int, int, int, int, int, int, float, float>;

OnednnProduct make_product(const ProductKey& key) {
  using dnnl::memory;
  const auto [trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta] = key;
  // op(A) is [M, K]: A stored [M, K] (strides lda, 1) or, transposed, [K, M] (strides 1, lda).
  const memory::desc a_md({M, K}, memory::data_type::bf16,
                          trans_a ? memory::dims{1, lda} : memory::dims{lda, 1});
  const memory::desc b_md({K, N}, memory::data_type::bf16,
                          trans_b ? memory::dims{1, ldb} : memory::dims{ldb, 1});
  const memory::desc c_md({M, N}, memory::data_type::f32, memory::dims{ldc, 1});
  dnnl::primitive_attr attr;
  // Scratch memory comes from one buffer per thread (below), not one per cached primitive.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (alpha != 1.f) attr.set_output_scales(0, {alpha});
  if (beta != 0.f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  dnnl::engine& engine = cpu_engine();
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine);
  return {dnnl::matmul(pd),
          memory(a_md, engine, nullptr),
          memory(b_md, engine, nullptr),
          memory(c_md, engine, nullptr),
          memory(pd.scratchpad_desc(), engine, nullptr),
          pd.scratchpad_desc().get_size(),
          pd.impl_info_str()};
}

OnednnProduct& product_for(const ProductKey& key) {
  thread_local std::map<ProductKey, OnednnProduct> products;
  auto it = products.find(key);
  if (it != products.end()) return it->second;
  if (products.size() >= 1024) products.clear();  // bounded: each holds compiled kernels
  return products.emplace(key, make_product(key)).first->second;
}

// oneDNN serves the products where the CPU has bf16 units and oneDNN has a native kernel for
// them; its reference kernels and its bf16 emulation on older CPUs are slower than sgemm.
const std::string& onednn_implementation() {
  static const std::string name = [] {
    if (!cpu_has_bf16_units()) return std::string();
    try {
      const std::string impl =
          make_product({false, false, 64, 64, 64, 64, 64, 64, 1.f, 0.f}).implementation;
      return impl.find("ref") == std::string::npos ? impl : std::string();
    } catch (const dnnl::error&) {
      return std::string();
    }
  }();
  return name;
}
#endif

}  // namespace

MatmulPrecision matmul_precision() { return g_precision.load(std::memory_order_relaxed); }
void set_matmul_precision(MatmulPrecision precision) {
  g_precision.store(precision, std::memory_order_relaxed);
}

bool cpu_has_bf16_units() { return host_simd_features().bf16_units; }

std::string bf16_gemm_engine() {
#ifdef CF_HAVE_ONEDNN
  if (!onednn_implementation().empty()) return "oneDNN " + onednn_implementation();
#endif
  return "emulated (bf16-rounded inputs, fp32 sgemm)";
}

uint16_t to_bf16(float x) {
  uint32_t bits = std::bit_cast<uint32_t>(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x0040u);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

float from_bf16(uint16_t bits) { return std::bit_cast<float>(uint32_t(bits) << 16); }

void convert_to_bf16(const float* src, int rows, int cols, int ld_src, uint16_t* dst,
                     int ld_dst) {
  // A whole weight matrix (the item table: 3.5M values) on one thread left the other idle; a
  // call from inside a parallel region stays on its thread (no nested teams).
#pragma omp parallel for schedule(static) if (int64_t(rows) * cols > (int64_t{1} << 18))
  for (int r = 0; r < rows; ++r) convert_row_to_bf16(src + int64_t(r) * ld_src, cols,
                                                     dst + int64_t(r) * ld_dst);
}

void gemm_bf16_emulated(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                        const float* A, int lda, const float* B, int ldb, float beta, float* C,
                        int ldc) {
  thread_local std::vector<float> a, b;
  a.resize(size_t(M) * K);
  b.resize(size_t(K) * N);
  // Stored shapes: A is [M, K] or [K, M]; B is [K, N] or [N, K].
  pack_rounded(A, trans_a ? K : M, trans_a ? M : K, lda, a.data());
  pack_rounded(B, trans_b ? N : K, trans_b ? K : N, ldb, b.data());
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, a.data(), trans_a ? M : K,
              b.data(), trans_b ? K : N, beta, C, ldc);
}

void gemm_bf16_prepared(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                        const uint16_t* A, int lda, const uint16_t* B, int ldb, float beta,
                        float* C, int ldc) {
#ifdef CF_HAVE_ONEDNN
  if (!onednn_implementation().empty()) {
    // Row counts vary from batch to batch (the last chunk of rows, the packed positions) and
    // each new shape costs oneDNN a kernel compilation (~0.5 ms) and memory: the rows go as a
    // multiple of 16 plus a remainder below 16, so a run meets a few dozen shapes, not hundreds.
    constexpr int kRowQuantum = 16;
    if (M > kRowQuantum && M % kRowQuantum != 0) {
      const int main_rows = M - M % kRowQuantum;
      gemm_bf16_prepared(trans_a, trans_b, main_rows, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      // Row i of op(A) is row i of A, or column i when A is stored transposed.
      const uint16_t* a_rest = trans_a ? A + main_rows : A + int64_t(main_rows) * lda;
      return gemm_bf16_prepared(trans_a, trans_b, M - main_rows, N, K, alpha, a_rest, lda, B, ldb,
                                beta, C + int64_t(main_rows) * ldc, ldc);
    }
    // The summed dimension likewise (the weight gradients of a row chunk sum over its rows):
    // the remainder is added on top of the first part's result.
    if (K > kRowQuantum && K % kRowQuantum != 0) {
      const int main_depth = K - K % kRowQuantum;
      gemm_bf16_prepared(trans_a, trans_b, M, N, main_depth, alpha, A, lda, B, ldb, beta, C, ldc);
      // Step k of op(A) is column k of A (row k when transposed); of op(B), row k (column k).
      const uint16_t* a_rest = trans_a ? A + int64_t(main_depth) * lda : A + main_depth;
      const uint16_t* b_rest = trans_b ? B + main_depth : B + int64_t(main_depth) * ldb;
      return gemm_bf16_prepared(trans_a, trans_b, M, N, K - main_depth, alpha, a_rest, lda, b_rest,
                                ldb, 1.0f, C, ldc);
    }
    OnednnProduct& product = product_for({trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta});
    product.a.set_data_handle(const_cast<uint16_t*>(A));
    product.b.set_data_handle(const_cast<uint16_t*>(B));
    product.c.set_data_handle(C);
    thread_local std::vector<uint8_t> scratch;
    if (scratch.size() < product.scratchpad_bytes) scratch.resize(product.scratchpad_bytes);
    product.scratchpad.set_data_handle(scratch.data());
    thread_local dnnl::stream stream(cpu_engine());
    product.matmul.execute(stream, {{DNNL_ARG_SRC, product.a},
                                    {DNNL_ARG_WEIGHTS, product.b},
                                    {DNNL_ARG_DST, product.c},
                                    {DNNL_ARG_SCRATCHPAD, product.scratchpad}});
    stream.wait();
    return;
  }
#endif
  // bf16 values are exact in fp32: widen them densely and multiply with sgemm.
  thread_local std::vector<float> a, b;
  const int a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
  const int b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
  a.resize(size_t(a_rows) * a_cols);
  b.resize(size_t(b_rows) * b_cols);
  for (int r = 0; r < a_rows; ++r)
    for (int c = 0; c < a_cols; ++c) a[size_t(r) * a_cols + c] = from_bf16(A[int64_t(r) * lda + c]);
  for (int r = 0; r < b_rows; ++r)
    for (int c = 0; c < b_cols; ++c) b[size_t(r) * b_cols + c] = from_bf16(B[int64_t(r) * ldb + c]);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, a.data(), a_cols, b.data(),
              b_cols, beta, C, ldc);
}

void gemm_bf16_row_major(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                         const float* A, int lda, const float* B, int ldb, float beta, float* C,
                         int ldc) {
#ifdef CF_HAVE_ONEDNN
  if (!onednn_implementation().empty()) {
    thread_local std::vector<uint16_t> a, b;
    const int a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
    const int b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
    a.resize(size_t(a_rows) * a_cols);
    b.resize(size_t(b_rows) * b_cols);
    convert_to_bf16(A, a_rows, a_cols, lda, a.data(), a_cols);
    convert_to_bf16(B, b_rows, b_cols, ldb, b.data(), b_cols);
    return gemm_bf16_prepared(trans_a, trans_b, M, N, K, alpha, a.data(), a_cols, b.data(), b_cols,
                              beta, C, ldc);
  }
#endif
  gemm_bf16_emulated(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace cf::ops::cpu
