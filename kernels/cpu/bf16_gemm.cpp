#include "kernels/cpu/bf16_gemm.h"

#include <cblas.h>
#include <cpuid.h>

#include <atomic>
#include <bit>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "kernels/cpu/matmul_precision.h"

#ifdef CF_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace cf::ops::cpu {

namespace {

std::atomic<MatmulPrecision> g_precision{MatmulPrecision::kFp32};

// The rows x cols block at `src` (row stride ld), rounded to bf16, packed densely into `dst`.
void pack_bf16(const float* src, int rows, int cols, int ld, uint16_t* dst) {
  for (int r = 0; r < rows; ++r) {
    const float* s = src + int64_t(r) * ld;
    uint16_t* d = dst + int64_t(r) * cols;
    for (int c = 0; c < cols; ++c) d[c] = to_bf16(s[c]);
  }
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
// objects are not shared between threads); the inputs are packed densely, so a shape is
// (transposes, M, N, K, ldc, alpha, beta).
struct OnednnProduct {
  dnnl::matmul matmul;
  dnnl::memory a, b, c;
  std::string implementation;
};
using ProductKey = std::tuple<bool, bool, int, int, int, int, float, float>;

OnednnProduct make_product(const ProductKey& key) {
  using dnnl::memory;
  const auto [trans_a, trans_b, M, N, K, ldc, alpha, beta] = key;
  // Packed op(A) is [M, K] when A is not transposed, else stored [K, M]; likewise op(B).
  const memory::desc a_md({M, K}, memory::data_type::bf16,
                          trans_a ? memory::dims{1, M} : memory::dims{K, 1});
  const memory::desc b_md({K, N}, memory::data_type::bf16,
                          trans_b ? memory::dims{1, K} : memory::dims{N, 1});
  const memory::desc c_md({M, N}, memory::data_type::f32, memory::dims{ldc, 1});
  dnnl::primitive_attr attr;
  if (alpha != 1.f) attr.set_output_scales(0, {alpha});
  if (beta != 0.f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  dnnl::engine& engine = cpu_engine();
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine);
  return {dnnl::matmul(pd), memory(a_md, engine, nullptr), memory(b_md, engine, nullptr),
          memory(c_md, engine, nullptr), pd.impl_info_str()};
}

OnednnProduct& product_for(const ProductKey& key) {
  thread_local std::map<ProductKey, OnednnProduct> products;
  auto it = products.find(key);
  if (it != products.end()) return it->second;
  if (products.size() >= 512) products.clear();  // shapes are few; never let them pile up
  return products.emplace(key, make_product(key)).first->second;
}

// oneDNN serves the products where the CPU has bf16 units and oneDNN has a native kernel for
// them; its reference kernels and its bf16 emulation on older CPUs are slower than sgemm.
const std::string& onednn_implementation() {
  static const std::string name = [] {
    if (!cpu_has_bf16_units()) return std::string();
    try {
      const std::string impl = make_product({false, false, 64, 64, 64, 64, 1.f, 0.f}).implementation;
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

bool cpu_has_bf16_units() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amx_bf16 = (edx >> 22) & 1;
  const unsigned max_subleaf = eax;
  bool avx512_bf16 = false;
  if (max_subleaf >= 1 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx))
    avx512_bf16 = (eax >> 5) & 1;
  return amx_bf16 || avx512_bf16;
}

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

void gemm_bf16_row_major(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                         const float* A, int lda, const float* B, int ldb, float beta, float* C,
                         int ldc) {
#ifdef CF_HAVE_ONEDNN
  if (!onednn_implementation().empty()) {
    thread_local std::vector<uint16_t> a, b;
    a.resize(size_t(M) * K);
    b.resize(size_t(K) * N);
    pack_bf16(A, trans_a ? K : M, trans_a ? M : K, lda, a.data());
    pack_bf16(B, trans_b ? N : K, trans_b ? K : N, ldb, b.data());
    OnednnProduct& product = product_for({trans_a, trans_b, M, N, K, ldc, alpha, beta});
    product.a.set_data_handle(a.data());
    product.b.set_data_handle(b.data());
    product.c.set_data_handle(C);
    thread_local dnnl::stream stream(cpu_engine());
    product.matmul.execute(stream, {{DNNL_ARG_SRC, product.a},
                                    {DNNL_ARG_WEIGHTS, product.b},
                                    {DNNL_ARG_DST, product.c}});
    stream.wait();
    return;
  }
#endif
  gemm_bf16_emulated(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace cf::ops::cpu
