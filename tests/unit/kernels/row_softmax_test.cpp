// The CPU softmax row primitives, in particular the float polynomial exponential behind them
// (AVX2 where the CPU has it): accuracy over the whole range a shifted logit can take.
#include "kernels/cpu/row_softmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernel_checks.h"

namespace {

using namespace cf::kernel_test;

TEST(RowSoftmax, FloatExponentialIsAccurateToAFewUlp) {
  // Shifted logits are <= 0; cover the range down to where float exp underflows, plus the
  // points where the range reduction switches (multiples of ln 2 / 2) and odd row lengths
  // (vector body + scalar tail).
  for (int n : {1, 7, 8, 9, 1000, 1003}) {
    auto x = random_values<float>(n, 1 + n, -87.0, 0.0);
    x[0] = 0.0f;
    if (n > 3) x[1] = -0.34657359f, x[2] = -0.6931472f, x[3] = -1e-7f;
    const std::vector<float> original = x;
    const double sum = cf::ops::cpu::exp_shifted_and_sum(x.data(), 0.0f, n);
    double want_sum = 0;
    for (int i = 0; i < n; ++i) {
      const double want = std::exp(double(original[i]));
      want_sum += want;
      EXPECT_NEAR(x[i], want, 3e-7 * want) << "exp(" << original[i] << ")";
    }
    EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum);
    EXPECT_EQ(x[0], 1.0f);
  }
}

TEST(RowSoftmax, ExponentialOfHugeNegativeShiftsIsTinyNotNan) {
  std::vector<float> x = {-1e4f, -std::numeric_limits<float>::infinity(), -100.0f, 0.0f};
  const double sum = cf::ops::cpu::exp_shifted_and_sum(x.data(), 0.0f, 4);
  for (int i = 0; i < 3; ++i) {
    EXPECT_GE(x[i], 0.0f);
    EXPECT_LT(x[i], 1e-37f);
  }
  EXPECT_NEAR(sum, 1.0, 1e-30);
}

TEST(RowSoftmax, BiasMaxAndScale) {
  for (int n : {3, 8, 21}) {
    auto x = random_values<float>(n, 2);
    const auto bias = random_values<float>(n, 3);
    std::vector<float> want(n);
    float want_max = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < n; ++i) {
      want[i] = x[i] + bias[i];
      want_max = std::max(want_max, want[i]);
    }
    EXPECT_EQ(cf::ops::cpu::add_bias_and_max(x.data(), bias.data(), n), want_max);
    EXPECT_EQ(x, want);
    EXPECT_EQ(cf::ops::cpu::add_bias_and_max<float>(x.data(), nullptr, n), want_max);
    cf::ops::cpu::scale_row(x.data(), 0.5f, n);
    for (int i = 0; i < n; ++i) EXPECT_EQ(x[i], want[i] * 0.5f);
  }
}

// The fused pass the softmax uses when it recomputes a block must give the very bits of the
// three passes it replaces (vector bodies and scalar tails alike), with and without a bias.
template <class T>
void expect_fused_pass_matches_the_three() {
  for (int n : {1, 15, 16, 17, 33, 1000}) {
    for (bool with_bias : {false, true}) {
      const auto logits = random_values<T>(n, 40 + n, -30.0, 5.0);
      const auto bias = random_values<T>(n, 41 + n);
      const T* b = with_bias ? bias.data() : nullptr;
      auto three = logits;
      const T shift = cf::ops::cpu::add_bias_and_max(three.data(), b, n) + T(0.25);
      cf::ops::cpu::exp_shifted_and_sum(three.data(), shift, n);
      cf::ops::cpu::scale_row(three.data(), T(0.37), n);
      auto fused = logits;
      cf::ops::cpu::exp_shifted_scaled(fused.data(), b, shift, T(0.37), n);
      EXPECT_EQ(fused, three) << n << " " << with_bias;
    }
  }
}

TEST(RowSoftmax, FusedExpScalePassMatchesTheThreePassesItReplaces) {
  expect_fused_pass_matches_the_three<float>();
  expect_fused_pass_matches_the_three<double>();
}

}  // namespace
