// bf16 matrix products: the rounding itself, the oneDNN path (where it runs) against the
// emulated one, their distance from fp32, and each GEMM-using op in bf16 against fp32 with the
// tolerance bf16 inputs allow.
#include "kernels/cpu/bf16_gemm.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "kernel_checks.h"
#include "kernels/cpu/blas_gemm.h"
#include "kernels/cpu/matmul_precision.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;
using cf::ops::cpu::MatmulPrecision;
using cf::ops::cpu::ScopedMatmulPrecision;

TEST(Bf16Rounding, RoundsToNearestEvenAndKeepsSpecials) {
  using cf::ops::cpu::round_to_bf16;
  using cf::ops::cpu::to_bf16;
  EXPECT_EQ(to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(to_bf16(-2.0f), 0xc000);
  // bf16 keeps 8 significant bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7, and goes to the
  // even one (1); 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6 and goes up to 1 + 2^-6.
  EXPECT_EQ(round_to_bf16(1.0f + 0x1p-8f), 1.0f);
  EXPECT_EQ(round_to_bf16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);
  EXPECT_EQ(round_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);  // above halfway: up
  EXPECT_EQ(round_to_bf16(std::numeric_limits<float>::infinity()),
            std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  // A NaN whose payload sits in the low bits only must not round to infinity.
  EXPECT_TRUE(std::isnan(round_to_bf16(std::bit_cast<float>(0x7f800001u))));
  // 3e38 is 0x7f61b1e6: the dropped half 0xb1e6 is above halfway, so it rounds up to 0x7f62,
  // which is still finite.
  EXPECT_EQ(round_to_bf16(3.0e38f), std::bit_cast<float>(0x7f620000u));
}

TEST(Bf16Rounding, BlockConversionMatchesTheScalarOneIncludingSpecials) {
  // Odd widths and a row stride: the 16-wide body, the scalar tail and the skipped columns.
  const int rows = 3, cols = 37, ld = 41;
  auto src = random_values<float>(size_t(rows) * ld, 5, -1e6, 1e6);
  src[1] = std::numeric_limits<float>::quiet_NaN();
  src[2] = std::bit_cast<float>(0x7f800001u);  // a NaN with only a low payload bit
  src[3] = -std::numeric_limits<float>::infinity();
  src[4] = 1.0f + 0x1p-8f;                      // a tie, to even
  src[5] = std::numeric_limits<float>::denorm_min();
  src[ld + 36] = 3.0e38f;                       // in the tail: rounds up, stays finite
  std::vector<uint16_t> dst(size_t(rows) * cols, 0xffff);
  cf::ops::cpu::convert_to_bf16(src.data(), rows, cols, ld, dst.data(), cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      EXPECT_EQ(dst[size_t(r) * cols + c], cf::ops::cpu::to_bf16(src[size_t(r) * ld + c]))
          << r << "," << c;
}

struct ProductCase {
  bool trans_a, trans_b;
  int M, N, K;
  float alpha, beta;
};

class Bf16Products : public ::testing::TestWithParam<ProductCase> {};

// The product as bf16 hardware defines it: inputs rounded, exact products, sums in double.
std::vector<double> rounded_reference(const ProductCase& p, const std::vector<float>& A, int lda,
                                      const std::vector<float>& B, int ldb,
                                      const std::vector<float>& C0, int ldc) {
  std::vector<double> C(C0.begin(), C0.end());
  for (int i = 0; i < p.M; ++i)
    for (int j = 0; j < p.N; ++j) {
      double s = 0;
      for (int k = 0; k < p.K; ++k) {
        const float a = p.trans_a ? A[size_t(k) * lda + i] : A[size_t(i) * lda + k];
        const float b = p.trans_b ? B[size_t(j) * ldb + k] : B[size_t(k) * ldb + j];
        s += double(cf::ops::cpu::round_to_bf16(a)) * cf::ops::cpu::round_to_bf16(b);
      }
      double& c = C[size_t(i) * ldc + j];
      c = p.alpha * s + (p.beta == 0 ? 0.0 : p.beta * c);
    }
  return C;
}

TEST_P(Bf16Products, EachPathMatchesTheRoundedInputsProductAndIsNearFp32) {
  const ProductCase p = GetParam();
  // Strided storage (leading dimensions past the used width) as the kernels' blocks have.
  const int a_rows = p.trans_a ? p.K : p.M, a_cols = p.trans_a ? p.M : p.K, lda = a_cols + 3;
  const int b_rows = p.trans_b ? p.N : p.K, b_cols = p.trans_b ? p.K : p.N, ldb = b_cols + 5;
  const int ldc = p.N + 2;
  const auto A = random_values<float>(size_t(a_rows) * lda, 11);
  const auto B = random_values<float>(size_t(b_rows) * ldb, 12);
  const auto C0 = random_values<float>(size_t(p.M) * ldc, 13);
  const auto want = rounded_reference(p, A, lda, B, ldb, C0, ldc);

  auto run = [&](auto&& gemm) {
    std::vector<float> C = C0;
    gemm(p.trans_a, p.trans_b, p.M, p.N, p.K, p.alpha, A.data(), lda, B.data(), ldb, p.beta,
         C.data(), ldc);
    return C;
  };
  // Sums of K products of values in [-1, 1] (exact in fp32): only the summation order differs.
  const double sum_tolerance = 1e-6 * p.K;
  EXPECT_TRUE(all_close(run(cf::ops::cpu::gemm_bf16_emulated), want, sum_tolerance));
  EXPECT_TRUE(all_close(run(cf::ops::cpu::gemm_bf16_row_major), want, sum_tolerance))
      << cf::ops::cpu::bf16_gemm_engine();
  // With both operands converted once beforehand (the kernels' shared operands), kept strided.
  {
    std::vector<uint16_t> a16(A.size()), b16(B.size());
    cf::ops::cpu::convert_to_bf16(A.data(), a_rows, lda, lda, a16.data(), lda);
    cf::ops::cpu::convert_to_bf16(B.data(), b_rows, ldb, ldb, b16.data(), ldb);
    std::vector<float> C = C0;
    cf::ops::cpu::gemm_bf16_prepared(p.trans_a, p.trans_b, p.M, p.N, p.K, p.alpha, a16.data(), lda,
                                     b16.data(), ldb, p.beta, C.data(), ldc);
    EXPECT_TRUE(all_close(C, want, sum_tolerance));
  }
  // And through the switch every float GEMM of the kernels reads.
  {
    const ScopedMatmulPrecision bf16(MatmulPrecision::kBf16);
    EXPECT_TRUE(all_close(run([](auto... args) { cf::ops::cpu::gemm_row_major(args...); }), want,
                          sum_tolerance));
  }
  // From the fp32 product: each input is off by at most 2^-9 relative, so each product by
  // about 2^-8, and the sum by 2^-8 times the sum of |a||b| <= K.
  const auto fp32 = run([](auto... args) { cf::ops::cpu::gemm_row_major(args...); });
  const auto bf16 = run(cf::ops::cpu::gemm_bf16_row_major);
  double worst = 0;
  for (size_t i = 0; i < fp32.size(); ++i)
    worst = std::max(worst, std::abs(double(bf16[i]) - fp32[i]));
  EXPECT_LE(worst, std::abs(p.alpha) * 0x1p-8 * p.K + sum_tolerance);
  EXPECT_GT(worst, 0.0);  // bf16 really rounded the inputs
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Bf16Products,
    ::testing::Values(ProductCase{false, false, 37, 29, 64, 1.f, 0.f},
                      ProductCase{false, true, 50, 33, 17, 1.f, 1.f},
                      ProductCase{true, false, 9, 64, 130, 1.f, 0.f},
                      ProductCase{true, true, 16, 7, 48, 0.5f, 1.f},
                      ProductCase{false, true, 128, 256, 64, 1.f, 0.f},
                      ProductCase{true, false, 64, 64, 300, -2.f, 0.25f},
                      // Rows and depth that are not multiples of 16 (split in two products).
                      ProductCase{true, false, 37, 20, 41, 1.f, 1.f},
                      ProductCase{false, true, 53, 24, 70, 0.5f, -1.f},
                      ProductCase{true, true, 35, 19, 33, 1.f, 0.f}));

// The ops that multiply matrices, run in bf16 against fp32. bf16 keeps 8 significant bits, so
// outputs and gradients agree to about 1% of their scale; these tolerances are 2-3x that.
TEST(Bf16Ops, LinearForwardAndBackwardFollowFp32) {
  const int N = 96, C = 64, OC = 48;
  const auto inp = random_values<float>(size_t(N) * C, 21);
  const auto weight = random_values<float>(size_t(OC) * C, 22);
  const auto bias = random_values<float>(OC, 23);
  const auto dout = random_values<float>(size_t(N) * OC, 24);
  auto run = [&](MatmulPrecision precision) {
    const ScopedMatmulPrecision scope(precision);
    std::vector<float> out(size_t(N) * OC), dinp(inp.size(), 0.f), dweight(weight.size(), 0.f),
        dbias(OC, 0.f);
    cf::ops::matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
    cf::ops::matmul_backward(dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(),
                             weight.data(), N, C, OC);
    return std::vector<std::vector<float>>{out, dinp, dweight, dbias};
  };
  const auto fp32 = run(MatmulPrecision::kFp32), bf16 = run(MatmulPrecision::kBf16);
  for (size_t t = 0; t < fp32.size(); ++t) EXPECT_TRUE(close_to_scale(bf16[t], fp32[t], 0.02)) << t;
  EXPECT_NE(bf16[0], fp32[0]);  // the forward really ran in bf16
}

TEST(Bf16Ops, FullAndSampledSoftmaxFollowFp32) {
  const int N = 80, C = 32, V = 300, M = 64;
  const auto hidden = random_values<float>(size_t(N) * C, 31);
  const auto weight = random_values<float>(size_t(V) * C, 32);
  std::vector<int32_t> targets(N), candidates(M);
  for (int n = 0; n < N; ++n) targets[n] = 1 + (n * 37) % (V - 1);
  for (int j = 0; j < M; ++j) candidates[j] = (j * 53 + 7) % V;
  auto run = [&](MatmulPrecision precision, bool sampled) {
    const ScopedMatmulPrecision scope(precision);
    std::vector<float> dh(hidden.size(), 0.f), dw(weight.size(), 0.f);
    int64_t counted = 0;
    const double loss =
        sampled ? cf::ops::shared_candidates_loss_forward_backward<float>(
                      dh.data(), dw.data(), nullptr, &counted, hidden.data(), weight.data(),
                      nullptr, targets.data(), N, C, V, candidates.data(), M, nullptr,
                      cf::ops::SampledLoss::kSoftmax, 1.0, 1.f / N)
                : cf::ops::softmax_xent_forward_backward<float>(
                      dh.data(), dw.data(), nullptr, &counted, hidden.data(), weight.data(),
                      nullptr, targets.data(), N, C, V, 1.f / N);
    return std::make_tuple(loss / double(counted), dh, dw);
  };
  for (bool sampled : {false, true}) {
    const auto [loss32, dh32, dw32] = run(MatmulPrecision::kFp32, sampled);
    const auto [loss16, dh16, dw16] = run(MatmulPrecision::kBf16, sampled);
    EXPECT_NEAR(loss16, loss32, 0.01 * loss32) << sampled;
    EXPECT_NE(loss16, loss32) << sampled;
    EXPECT_TRUE(close_to_scale(dh16, dh32, 0.03)) << sampled;
    EXPECT_TRUE(close_to_scale(dw16, dw32, 0.03)) << sampled;
  }
}

// The full softmax over several vocabulary blocks and row chunks, with a bias and padding rows:
// in bf16 mode it computes each block's logits twice instead of storing them. On inputs that
// are bf16 values already, the products are exact in both modes, so the loss and the bias
// gradient (sums of fp32 softmax values) agree with the fp32 run to summation order; dh and
// dweight differ by the bf16 rounding of dlogits only.
TEST(Bf16Ops, FullSoftmaxOverManyBlocksMatchesFp32OnBf16Inputs) {
  const int N = 150, C = 16, V = 2500;
  auto hidden = random_values<float>(size_t(N) * C, 51);
  auto weight = random_values<float>(size_t(V) * C, 52);
  const auto bias = random_values<float>(V, 53);
  for (auto* v : {&hidden, &weight})
    for (float& x : *v) x = cf::ops::cpu::round_to_bf16(x);
  std::vector<int32_t> targets(N);
  for (int n = 0; n < N; ++n) targets[n] = n % 7 == 3 ? 0 : 1 + (n * 389) % (V - 1);
  auto run = [&](MatmulPrecision precision) {
    const ScopedMatmulPrecision scope(precision);
    std::vector<float> dh(hidden.size(), 0.f), dw(weight.size(), 0.f), db(V, 0.f);
    int64_t counted = 0;
    const double loss = cf::ops::softmax_xent_forward_backward<float>(
        dh.data(), dw.data(), db.data(), &counted, hidden.data(), weight.data(), bias.data(),
        targets.data(), N, C, V, 1.f / N, /*chunk_rows=*/64);
    return std::make_tuple(loss, counted, dh, dw, db);
  };
  const auto [loss32, counted32, dh32, dw32, db32] = run(MatmulPrecision::kFp32);
  const auto [loss16, counted16, dh16, dw16, db16] = run(MatmulPrecision::kBf16);
  EXPECT_EQ(counted16, counted32);
  EXPECT_NEAR(loss16, loss32, 1e-5 * loss32);
  EXPECT_TRUE(close_to_scale(db16, db32, 1e-4));
  EXPECT_TRUE(close_to_scale(dh16, dh32, 0.01));
  EXPECT_TRUE(close_to_scale(dw16, dw32, 0.01));
  for (int n = 0; n < N; ++n) {
    if (targets[n] != 0) continue;
    for (int c = 0; c < C; ++c) EXPECT_EQ(dh16[size_t(n) * C + c], 0.f) << "padding row " << n;
  }
}

}  // namespace
