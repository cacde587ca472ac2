// Layer norm: forward (output, saved mean and rstd) against plain loops; input, weight and bias
// gradients against finite differences.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_checks.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;

struct LayerNormShape {
  int N, C;
};

class LayerNormShapes : public ::testing::TestWithParam<LayerNormShape> {};

TEST_P(LayerNormShapes, ForwardMatchesNaive) {
  const auto [N, C] = GetParam();
  // A large common offset checks the variance does not cancel.
  const auto inp = random_values<float>(size_t(N) * C, 1, 99.0, 101.0);
  const auto weight = random_values<float>(C, 2);
  const auto bias = random_values<float>(C, 3);
  std::vector<float> out(size_t(N) * C), mean(N), rstd(N);
  cf::ops::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(),
                             bias.data(), N, C);
  std::vector<double> want(out.size()), want_mean(N), want_rstd(N);
  for (int n = 0; n < N; ++n) {
    double m = 0, var = 0;
    for (int c = 0; c < C; ++c) m += inp[n * C + c];
    m /= C;
    for (int c = 0; c < C; ++c) var += (inp[n * C + c] - m) * (inp[n * C + c] - m);
    var /= C;
    const double s = 1.0 / std::sqrt(var + 1e-5);
    for (int c = 0; c < C; ++c) want[n * C + c] = (inp[n * C + c] - m) * s * weight[c] + bias[c];
    want_mean[n] = m;
    want_rstd[n] = s;
  }
  // Inputs near 100 carry float rounding of ~4e-6 relative to their spread, amplified by rstd.
  EXPECT_TRUE(all_close(out, want, 1e-4));
  EXPECT_TRUE(all_close(mean, want_mean, kFloatTolerance));
  EXPECT_TRUE(all_close(rstd, want_rstd, 1e-4));
}

TEST_P(LayerNormShapes, GradientsMatchFiniteDifferencesAndAccumulate) {
  const auto [N, C] = GetParam();
  auto inp = random_values(size_t(N) * C, 4, -2.0, 2.0);
  auto weight = random_values(C, 5);
  auto bias = random_values(C, 6);
  const auto R = random_values(size_t(N) * C, 7);
  std::vector<double> out(inp.size()), mean(N), rstd(N);
  auto loss = [&] {
    cf::ops::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(),
                               bias.data(), N, C);
    return dot(out, R);
  };
  loss();
  std::vector<double> dinp(inp.size(), 0.0), dweight(C, 0.0), dbias(C, 0.0);
  cf::ops::layernorm_backward(dinp.data(), dweight.data(), dbias.data(), R.data(), inp.data(),
                              weight.data(), mean.data(), rstd.data(), N, C);
  EXPECT_TRUE(gradient_matches(dinp, numeric_gradient(inp, loss)));
  EXPECT_TRUE(gradient_matches(dweight, numeric_gradient(weight, loss)));
  EXPECT_TRUE(gradient_matches(dbias, numeric_gradient(bias, loss)));

  loss();
  auto dinp2 = dinp, dweight2 = dweight, dbias2 = dbias;
  cf::ops::layernorm_backward(dinp2.data(), dweight2.data(), dbias2.data(), R.data(), inp.data(),
                              weight.data(), mean.data(), rstd.data(), N, C);
  for (auto* g : {&dinp, &dweight, &dbias})
    for (auto& x : *g) x *= 2;
  EXPECT_TRUE(all_close(dinp2, dinp, 1e-12));
  EXPECT_TRUE(all_close(dweight2, dweight, 1e-12));
  EXPECT_TRUE(all_close(dbias2, dbias, 1e-12));
}

INSTANTIATE_TEST_SUITE_P(Shapes, LayerNormShapes,
                         ::testing::Values(LayerNormShape{1, 1}, LayerNormShape{1, 3},
                                           LayerNormShape{5, 7}, LayerNormShape{9, 33},
                                           LayerNormShape{4, 64}));

}  // namespace
