// GELU, residual add and dropout: values against formulas, gradients against finite
// differences, and the dropout mask's contract (pure function of seed and index).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "kernel_checks.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;

double gelu_reference(double x) {
  return 0.5 * x *
         (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}

TEST(Gelu, ForwardMatchesTanhFormula) {
  auto inp = random_values<float>(1001, 1, -6.0, 6.0);
  inp[0] = 0.0f;
  std::vector<float> out(inp.size());
  cf::ops::gelu_forward(out.data(), inp.data(), int64_t(inp.size()));
  std::vector<double> want(inp.size());
  for (size_t i = 0; i < inp.size(); ++i) want[i] = gelu_reference(inp[i]);
  EXPECT_TRUE(all_close(out, want, kFloatTolerance));
  EXPECT_EQ(out[0], 0.0f);
}

TEST(Gelu, GradientMatchesFiniteDifferencesAndAccumulates) {
  auto inp = random_values(37, 2, -4.0, 4.0);
  const auto R = random_values(inp.size(), 3);
  const int64_t n = int64_t(inp.size());
  std::vector<double> out(inp.size());
  auto loss = [&] {
    cf::ops::gelu_forward(out.data(), inp.data(), n);
    return dot(out, R);
  };
  std::vector<double> dinp(inp.size(), 0.0);
  cf::ops::gelu_backward(dinp.data(), inp.data(), R.data(), n);
  EXPECT_TRUE(gradient_matches(dinp, numeric_gradient(inp, loss)));
  auto twice = dinp;
  cf::ops::gelu_backward(twice.data(), inp.data(), R.data(), n);
  for (auto& g : dinp) g *= 2;
  EXPECT_TRUE(all_close(twice, dinp, 1e-12));
}

// Far in the negative tail exp(-2u) overflows: the gradient must come out 0, not NaN (inf * 0),
// in the vector body and the scalar tail alike (11 elements: 8 + 3), in float and double.
TEST(Gelu, GradientIsZeroNotNanFarInTheNegativeTail) {
  const std::vector<float> inp = {-12, -30, -200, -1e4f, -11, -50, -13, -99, -12, -300, -1e30f};
  const std::vector<float> dout(inp.size(), 1.0f);
  std::vector<float> dinp(inp.size(), 0.0f);
  cf::ops::gelu_backward(dinp.data(), inp.data(), dout.data(), int64_t(inp.size()));
  for (size_t i = 0; i < inp.size(); ++i)
    EXPECT_NEAR(dinp[i], 0.0f, 1e-30f) << "x = " << inp[i] << " gives " << dinp[i];
  const std::vector<double> inp_d(inp.begin(), inp.end()), dout_d(inp.size(), 1.0);
  std::vector<double> dinp_d(inp.size(), 0.0);
  cf::ops::gelu_backward(dinp_d.data(), inp_d.data(), dout_d.data(), int64_t(inp.size()));
  for (size_t i = 0; i < inp.size(); ++i)
    EXPECT_NEAR(dinp_d[i], 0.0, 1e-30) << "x = " << inp[i] << " gives " << dinp_d[i];
}

TEST(Residual, AddsElementwise) {
  const auto a = random_values<float>(77, 4), b = random_values<float>(77, 5);
  std::vector<float> out(77);
  cf::ops::residual_forward(out.data(), a.data(), b.data(), 77);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], a[i] + b[i]);
}

// Zeroes exactly [0, n) at every size: none, within one piece, on a piece boundary, and split
// over the threads with a ragged last piece; the element past the end keeps its value.
TEST(FillZero, ZeroesExactlyTheRange) {
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{65535}, int64_t{65536}, int64_t{65536 * 5 + 3}}) {
    std::vector<float> x(size_t(n) + 1, std::numeric_limits<float>::quiet_NaN());
    x[size_t(n)] = 7.0f;
    cf::ops::fill_zero(x.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(x[size_t(i)], 0.0f) << n << " at " << i;
    EXPECT_EQ(x[size_t(n)], 7.0f) << n;
  }
  std::vector<double> d(200000, 1.5);
  cf::ops::fill_zero(d.data(), int64_t(d.size()));
  EXPECT_EQ(std::count(d.begin(), d.end(), 0.0), int64_t(d.size()));
}

TEST(Dropout, ZeroProbabilityCopiesExactly) {
  const auto inp = random_values<float>(1000, 6);
  std::vector<float> out(inp.size(), -1.0f);
  cf::ops::dropout_forward(out.data(), inp.data(), 0.0f, 42, int64_t(inp.size()));
  EXPECT_EQ(out, inp);
  std::vector<float> dinp(inp.size(), 1.0f), want(inp.size());
  for (size_t i = 0; i < inp.size(); ++i) want[i] = 1.0f + inp[i];
  cf::ops::dropout_backward(dinp.data(), inp.data(), 0.0f, 42, int64_t(inp.size()));
  EXPECT_EQ(dinp, want);
}

TEST(Dropout, MaskIsAPureFunctionOfSeedAndIndex) {
  const float p = 0.3f;
  const uint64_t seed = 1234;
  const int64_t n = 5000;
  const auto inp = random_values<float>(n, 7, 0.5, 1.5);  // never zero: zeros mean dropped
  std::vector<float> out(n);
  cf::ops::dropout_forward(out.data(), inp.data(), p, seed, n);
  const float scale = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = cf::ops::dropout_uniform(seed, i) >= p;
    ASSERT_EQ(out[i], keep ? inp[i] * scale : 0.0f) << "element " << i;
  }
  // A shorter call sees the same mask on its prefix: the mask does not depend on n.
  std::vector<float> prefix(100);
  cf::ops::dropout_forward(prefix.data(), inp.data(), p, seed, 100);
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), out.begin()));
  // Another seed (also the neighbouring one) gives another mask.
  for (uint64_t other : {seed + 1, seed ^ 1, uint64_t(0)}) {
    std::vector<float> out2(n);
    cf::ops::dropout_forward(out2.data(), inp.data(), p, other, n);
    int64_t differ = 0;
    for (int64_t i = 0; i < n; ++i) differ += (out2[i] == 0.0f) != (out[i] == 0.0f);
    // Independent masks disagree on 2 p (1 - p) = 42% of the elements.
    EXPECT_GT(differ, n / 3) << "seed " << other;
  }
}

TEST(Dropout, KeepsAboutOneMinusPAndIsUniform) {
  const int64_t n = 200000;
  for (float p : {0.1f, 0.5f, 0.9f}) {
    std::vector<float> ones(n, 1.0f), out(n);
    cf::ops::dropout_forward(out.data(), ones.data(), p, 99, n);
    int64_t kept = 0;
    for (float x : out) kept += x != 0.0f;
    const double fraction = double(kept) / n;
    const double sigma = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(fraction, 1.0 - p, 5 * sigma) << "p " << p;
  }
  // The uniforms fill [0, 1) evenly: each tenth holds about a tenth of them.
  std::vector<int> bins(10, 0);
  for (int64_t i = 0; i < n; ++i) {
    const float u = cf::ops::dropout_uniform(7, i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    ++bins[int(u * 10)];
  }
  for (int count : bins) EXPECT_NEAR(count, n / 10, 5 * std::sqrt(n * 0.09));
}

TEST(Dropout, BackwardUsesTheForwardMaskAndAccumulates) {
  const float p = 0.25f;
  const int64_t n = 3001;
  const auto dout = random_values<float>(n, 8);
  std::vector<float> forward_of_dout(n);
  cf::ops::dropout_forward(forward_of_dout.data(), dout.data(), p, 5, n);
  // Dropout is linear with a fixed mask, so its backward is the same map applied to dout.
  std::vector<float> dinp(n, 0.0f);
  cf::ops::dropout_backward(dinp.data(), dout.data(), p, 5, n);
  EXPECT_EQ(dinp, forward_of_dout);
  cf::ops::dropout_backward(dinp.data(), dout.data(), p, 5, n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(dinp[i], 2.0f * forward_of_dout[i]);
}

TEST(Dropout, GradientMatchesFiniteDifferences) {
  auto inp = random_values(64, 9);
  const auto R = random_values(64, 10);
  std::vector<double> out(64);
  auto loss = [&] {
    cf::ops::dropout_forward(out.data(), inp.data(), 0.4f, 77, 64);
    return dot(out, R);
  };
  std::vector<double> dinp(64, 0.0);
  cf::ops::dropout_backward(dinp.data(), R.data(), 0.4f, 77, 64);
  EXPECT_TRUE(gradient_matches(dinp, numeric_gradient(inp, loss)));
}

TEST(Dropout, WorksInPlace) {
  auto x = random_values<float>(500, 11);
  std::vector<float> out(x.size());
  cf::ops::dropout_forward(out.data(), x.data(), 0.5f, 3, 500);
  cf::ops::dropout_forward(x.data(), x.data(), 0.5f, 3, 500);
  EXPECT_EQ(x, out);
}

}  // namespace
