// AdamW against a scalar transcription of the algorithm, and the double-precision sum of
// squares used for the global gradient norm.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "kernel_checks.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;

// Loshchilov & Hutter, Algorithm 2, with the learning rate applied to the decay term as
// PyTorch's AdamW does; state and arithmetic in double.
struct ScalarAdamW {
  double param, m = 0, v = 0;
  void step(double grad, double lr, double b1, double b2, double eps, double wd, int t) {
    m = b1 * m + (1 - b1) * grad;
    v = b2 * v + (1 - b2) * grad * grad;
    const double m_hat = m / (1 - std::pow(b1, t));
    const double v_hat = v / (1 - std::pow(b2, t));
    param = param - lr * wd * param - lr * m_hat / (std::sqrt(v_hat) + eps);
  }
};

TEST(AdamW, MatchesScalarReferenceOverSeveralSteps) {
  const int64_t n = 257;
  auto params = random_values<float>(n, 1);
  std::vector<float> m(n, 0.0f), v(n, 0.0f);
  std::vector<ScalarAdamW> reference;
  for (float p : params) reference.push_back({p});
  const float lr = 3e-3f, b1 = 0.9f, b2 = 0.98f, eps = 1e-8f, wd = 0.1f;
  for (int step = 1; step <= 6; ++step) {
    const auto grads = random_values<float>(n, 100 + step, -2.0, 2.0);
    const float grad_scale = step % 2 ? 1.0f : 0.5f;  // as after clipping
    cf::ops::adamw_update(params.data(), grads.data(), m.data(), v.data(), n, lr, b1, b2, eps, wd,
                          step, grad_scale);
    for (int64_t i = 0; i < n; ++i)
      reference[i].step(double(grads[i]) * grad_scale, lr, b1, b2, eps, wd, step);
  }
  std::vector<double> want_params, want_m, want_v;
  for (const auto& r : reference) {
    want_params.push_back(r.param);
    want_m.push_back(r.m);
    want_v.push_back(r.v);
  }
  EXPECT_TRUE(all_close(params, want_params, 1e-6));
  EXPECT_TRUE(all_close(m, want_m, 1e-6));
  EXPECT_TRUE(all_close(v, want_v, 1e-6));
}

TEST(AdamW, ZeroGradientOnlyDecays) {
  std::vector<float> params = {2.0f, -4.0f}, grads = {0.0f, 0.0f}, m = {0, 0}, v = {0, 0};
  cf::ops::adamw_update(params.data(), grads.data(), m.data(), v.data(), 2, 0.1f, 0.9f, 0.999f,
                        1e-8f, 0.5f, 1, 1.0f);
  EXPECT_FLOAT_EQ(params[0], 2.0f * (1 - 0.1f * 0.5f));
  EXPECT_FLOAT_EQ(params[1], -4.0f * (1 - 0.1f * 0.5f));
}

TEST(AdamW, FirstStepMovesEachParameterByLearningRate) {
  // With bias correction, step 1 gives m_hat / sqrt(v_hat) = sign(g) whatever the scale of g.
  std::vector<float> params = {1.0f, 1.0f, 1.0f}, grads = {1e-3f, -50.0f, 7.0f};
  std::vector<float> m(3, 0.0f), v(3, 0.0f);
  cf::ops::adamw_update(params.data(), grads.data(), m.data(), v.data(), 3, 0.01f, 0.9f, 0.999f,
                        1e-12f, 0.0f, 1, 1.0f);
  EXPECT_NEAR(params[0], 0.99f, 1e-6f);
  EXPECT_NEAR(params[1], 1.01f, 1e-6f);
  EXPECT_NEAR(params[2], 0.99f, 1e-6f);
}

TEST(SumOfSquares, MatchesNaiveAndIgnoresThreadCount) {
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(1000), int64_t(300001)}) {
    const auto x = random_values<float>(n, 11, -3.0, 3.0);
    long double want = 0;
    for (float f : x) want += (long double)f * f;
    const double got = cf::ops::sum_of_squares(x.data(), n);
    EXPECT_NEAR(got, double(want), 1e-12 * double(want) + 1e-300) << n;
    const auto xd = cast<double>(x);
    EXPECT_NEAR(cf::ops::sum_of_squares(xd.data(), n), double(want), 1e-12 * double(want)) << n;
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const double one_thread = cf::ops::sum_of_squares(x.data(), n);
    omp_set_num_threads(2);
    const double two_threads = cf::ops::sum_of_squares(x.data(), n);
    omp_set_num_threads(saved);
    EXPECT_EQ(one_thread, two_threads) << n;
    EXPECT_EQ(one_thread, got) << n;
  }
}

}  // namespace
