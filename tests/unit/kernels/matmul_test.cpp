// Linear layer: forward against a triple loop, gradients against finite differences, optional
// bias and skipped gradients, and the accumulation contract.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernel_checks.h"
#include "kernels/cpu/blas_gemm.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;

struct MatmulShape {
  int N, C, OC;
};

class MatmulShapes : public ::testing::TestWithParam<MatmulShape> {};

std::vector<double> naive_linear(const std::vector<float>& inp, const std::vector<float>& weight,
                                 const float* bias, int N, int C, int OC) {
  std::vector<double> out(size_t(N) * OC);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o) {
      double s = bias ? bias[o] : 0.0;
      for (int c = 0; c < C; ++c) s += double(inp[n * C + c]) * weight[o * C + c];
      out[n * OC + o] = s;
    }
  return out;
}

TEST_P(MatmulShapes, ForwardMatchesNaiveWithAndWithoutBias) {
  const auto [N, C, OC] = GetParam();
  const auto inp = random_values<float>(size_t(N) * C, 1);
  const auto weight = random_values<float>(size_t(OC) * C, 2);
  const auto bias = random_values<float>(OC, 3);
  std::vector<float> out(size_t(N) * OC, 123.0f);  // forward overwrites
  cf::ops::matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
  EXPECT_TRUE(all_close(out, naive_linear(inp, weight, bias.data(), N, C, OC), kFloatTolerance));
  std::fill(out.begin(), out.end(), 123.0f);
  cf::ops::matmul_forward<float>(out.data(), inp.data(), weight.data(), nullptr, N, C, OC);
  EXPECT_TRUE(all_close(out, naive_linear(inp, weight, nullptr, N, C, OC), kFloatTolerance));
}

TEST_P(MatmulShapes, GradientsMatchFiniteDifferencesAndAccumulate) {
  const auto [N, C, OC] = GetParam();
  auto inp = random_values(size_t(N) * C, 4);
  auto weight = random_values(size_t(OC) * C, 5);
  auto bias = random_values(OC, 6);
  const auto R = random_values(size_t(N) * OC, 7);
  std::vector<double> out(R.size());
  auto loss = [&] {
    cf::ops::matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
    return dot(out, R);
  };
  std::vector<double> dinp(inp.size(), 0.0), dweight(weight.size(), 0.0), dbias(OC, 0.0);
  cf::ops::matmul_backward(dinp.data(), dweight.data(), dbias.data(), R.data(), inp.data(),
                           weight.data(), N, C, OC);
  EXPECT_TRUE(gradient_matches(dinp, numeric_gradient(inp, loss)));
  EXPECT_TRUE(gradient_matches(dweight, numeric_gradient(weight, loss)));
  EXPECT_TRUE(gradient_matches(dbias, numeric_gradient(bias, loss)));

  auto dinp2 = dinp, dweight2 = dweight, dbias2 = dbias;
  cf::ops::matmul_backward(dinp2.data(), dweight2.data(), dbias2.data(), R.data(), inp.data(),
                           weight.data(), N, C, OC);
  for (auto* g : {&dinp, &dweight, &dbias})
    for (auto& x : *g) x *= 2;
  EXPECT_TRUE(all_close(dinp2, dinp, 1e-12));
  EXPECT_TRUE(all_close(dweight2, dweight, 1e-12));
  EXPECT_TRUE(all_close(dbias2, dbias, 1e-12));
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatmulShapes,
                         ::testing::Values(MatmulShape{1, 1, 1}, MatmulShape{7, 5, 3},
                                           MatmulShape{3, 13, 1}, MatmulShape{17, 9, 20},
                                           MatmulShape{6, 16, 48}));

TEST(Matmul, LargeForwardMatchesNaive) {
  const int N = 67, C = 64, OC = 192;  // the model's qkv projection, odd row count
  const auto inp = random_values<float>(size_t(N) * C, 8);
  const auto weight = random_values<float>(size_t(OC) * C, 9);
  const auto bias = random_values<float>(OC, 10);
  std::vector<float> out(size_t(N) * OC);
  cf::ops::matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
  EXPECT_TRUE(all_close(out, naive_linear(inp, weight, bias.data(), N, C, OC), kFloatTolerance));
}

TEST(Matmul, NullGradientsAreSkipped) {
  const int N = 4, C = 3, OC = 5;
  const auto inp = random_values(size_t(N) * C, 11);
  const auto weight = random_values(size_t(OC) * C, 12);
  const auto dout = random_values(size_t(N) * OC, 13);
  std::vector<double> dinp(inp.size(), 0.0), dweight(weight.size(), 0.0), dbias(OC, 0.0);
  cf::ops::matmul_backward(dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(),
                           weight.data(), N, C, OC);
  std::vector<double> only_dinp(inp.size(), 0.0), only_dweight(weight.size(), 0.0);
  cf::ops::matmul_backward<double>(only_dinp.data(), nullptr, nullptr, dout.data(), inp.data(),
                                   weight.data(), N, C, OC);
  cf::ops::matmul_backward<double>(nullptr, only_dweight.data(), nullptr, dout.data(), inp.data(),
                                   weight.data(), N, C, OC);
  EXPECT_EQ(only_dinp, dinp);
  EXPECT_EQ(only_dweight, dweight);
}

TEST(Matmul, EmptyBatchLeavesGradientsUntouched) {
  const int C = 3, OC = 2;
  const std::vector<double> weight(OC * C, 1.0);
  std::vector<double> dweight(OC * C, 0.5), dbias(OC, 0.25);
  cf::ops::matmul_backward<double>(nullptr, dweight.data(), dbias.data(), nullptr, nullptr,
                                   weight.data(), 0, C, OC);
  EXPECT_EQ(dweight, std::vector<double>(OC * C, 0.5));
  EXPECT_EQ(dbias, std::vector<double>(OC, 0.25));
}

// A single row (generation's scores) goes through gemv rather than gemm: every layout of A and
// B, strides past the used width, and beta = 0 on an output holding NaN (which must not leak).
TEST(OneRowProduct, MatchesTheDefinitionInEveryLayout) {
  const int N = 37, K = 21, lda = 25, ldb = 40;
  for (bool trans_a : {false, true}) {
    for (bool trans_b : {false, true}) {
      for (float beta : {0.0f, 0.5f}) {
        // op(A) is [1, K]: A stored [1, K] (row) or [K, 1] with stride lda (column).
        const auto A = random_values<float>(size_t(trans_a ? K : 1) * lda, 61);
        const auto B = random_values<float>(size_t(trans_b ? N : K) * ldb, 62);
        std::vector<float> C = random_values<float>(N, 63);
        if (beta == 0.0f) C[3] = std::numeric_limits<float>::quiet_NaN();
        std::vector<double> want(N);
        for (int j = 0; j < N; ++j) {
          double s = 0;
          for (int k = 0; k < K; ++k) {
            const double a = trans_a ? A[size_t(k) * lda] : A[k];
            const double b = trans_b ? B[size_t(j) * ldb + k] : B[size_t(k) * ldb + j];
            s += a * b;
          }
          want[j] = 1.5 * s + (beta == 0.0f ? 0.0 : beta * double(C[j]));
        }
        cf::ops::cpu::gemm_row_major(trans_a, trans_b, 1, N, K, 1.5f, A.data(), lda, B.data(),
                                     ldb, beta, C.data(), N);
        EXPECT_TRUE(all_close(C, want, kFloatTolerance)) << trans_a << trans_b << beta;
      }
    }
  }
}

}  // namespace
