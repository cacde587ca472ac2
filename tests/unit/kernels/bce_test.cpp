// Binary cross-entropy on logits: values against the textbook formula, stability for huge
// logits, ignored labels, finite-difference gradient, accumulation.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_checks.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;

TEST(Bce, MatchesTextbookFormulaAndGradient) {
  const int N = 41;
  const auto logits = random_values<float>(N, 1, -8.0, 8.0);
  std::vector<float> labels(N);
  for (int n = 0; n < N; ++n) labels[n] = n % 5 == 0 ? -1.0f : float(n % 2);
  double want_loss = 0;
  int64_t want_counted = 0;
  std::vector<double> want_grad(N, 0.0);
  for (int n = 0; n < N; ++n) {
    if (labels[n] < 0) continue;
    ++want_counted;
    const double p = 1.0 / (1.0 + std::exp(-double(logits[n])));
    want_loss += -(labels[n] * std::log(p) + (1 - labels[n]) * std::log(1 - p));
    want_grad[n] = 0.3 * (p - labels[n]);
  }
  std::vector<float> dlogits(N, 0.0f);
  int64_t counted = 0;
  const double loss = cf::ops::bce_with_logits_forward_backward(
      dlogits.data(), &counted, logits.data(), labels.data(), N, 0.3f);
  EXPECT_EQ(counted, want_counted);
  EXPECT_NEAR(loss, want_loss, 1e-6 * want_loss);
  EXPECT_TRUE(all_close(dlogits, want_grad, kFloatTolerance));
}

TEST(Bce, HugeLogitsStayExact) {
  const std::vector<float> logits = {100.0f, -100.0f, 1e4f, -1e4f, 100.0f, -1e30f};
  const std::vector<float> labels = {1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f};
  std::vector<float> dlogits(logits.size(), 0.0f);
  const double loss = cf::ops::bce_with_logits_forward_backward(
      dlogits.data(), nullptr, logits.data(), labels.data(), int(logits.size()), 1.0f);
  // Confident and right costs ~e^-100; confident and wrong costs |x|.
  EXPECT_NEAR(loss, 1e4 + 1e4 + 100.0, 1e-6);
  const std::vector<float> want_grad = {0.0f, 0.0f, 1.0f, -1.0f, 1.0f, 0.0f};
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_NEAR(dlogits[i], want_grad[i], 1e-30) << i;
}

TEST(Bce, GradientMatchesFiniteDifferencesAndAccumulates) {
  const int N = 12;
  auto logits = random_values(N, 2, -5.0, 5.0);
  std::vector<float> labels(N);
  for (int n = 0; n < N; ++n) labels[n] = n == 3 ? -1.0f : (n % 3 == 0 ? 1.0f : 0.0f);
  labels[5] = 0.25f;  // soft labels follow the same formula
  const double grad_scale = 0.45;
  auto loss = [&] {
    return grad_scale * cf::ops::bce_with_logits_forward_backward<double>(
                            nullptr, nullptr, logits.data(), labels.data(), N, grad_scale);
  };
  std::vector<double> dlogits(N, 0.0);
  cf::ops::bce_with_logits_forward_backward(dlogits.data(), nullptr, logits.data(), labels.data(),
                                            N, grad_scale);
  EXPECT_TRUE(gradient_matches(dlogits, numeric_gradient(logits, loss)));
  EXPECT_EQ(dlogits[3], 0.0);
  auto twice = dlogits;
  cf::ops::bce_with_logits_forward_backward(twice.data(), nullptr, logits.data(), labels.data(), N,
                                            grad_scale);
  for (auto& g : dlogits) g *= 2;
  EXPECT_TRUE(all_close(twice, dlogits, 1e-12));
}

}  // namespace
