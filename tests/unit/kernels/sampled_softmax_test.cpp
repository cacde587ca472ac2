// Sampled softmax: loss and gradients against a naive per-row computation with collisions
// masked, finite differences, accumulation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernel_checks.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;

struct SampledReference {
  double loss = 0;
  int64_t counted = 0;
  std::vector<double> dhidden, dweight, dbias;
};

// Candidates: the target, then every negative that is neither the target nor padding (<= 0).
SampledReference naive_sampled(const std::vector<double>& hidden, const std::vector<double>& weight,
                               const std::vector<double>& bias, const std::vector<int32_t>& targets,
                               const std::vector<int32_t>& negatives, int N, int C, int V, int K,
                               double grad_scale) {
  SampledReference r;
  r.dhidden.assign(size_t(N) * C, 0.0);
  r.dweight.assign(size_t(V) * C, 0.0);
  r.dbias.assign(V, 0.0);
  for (int n = 0; n < N; ++n) {
    if (targets[n] <= 0) continue;
    ++r.counted;
    std::vector<int> cand = {targets[n]};
    for (int k = 0; k < K; ++k) {
      const int id = negatives[n * K + k];
      if (id > 0 && id != targets[n]) cand.push_back(id);
    }
    std::vector<double> logit;
    for (int id : cand) {
      double s = bias[id];
      for (int c = 0; c < C; ++c) s += hidden[n * C + c] * weight[id * C + c];
      logit.push_back(s);
    }
    const double top = *std::max_element(logit.begin(), logit.end());
    double total = 0;
    for (double x : logit) total += std::exp(x - top);
    r.loss += std::log(total) + top - logit[0];
    for (size_t j = 0; j < cand.size(); ++j) {
      const double g = (std::exp(logit[j] - top) / total - (j == 0)) * grad_scale;
      r.dbias[cand[j]] += g;
      for (int c = 0; c < C; ++c) {
        r.dhidden[n * C + c] += g * weight[cand[j] * C + c];
        r.dweight[cand[j] * C + c] += g * hidden[n * C + c];
      }
    }
  }
  return r;
}

struct SampledCase {
  int N, C, V, K;
  std::vector<int32_t> targets, negatives;
};

// Row 0: a negative equals the target and one repeats; row 1 is ignored; row 2 has padding.
SampledCase small_case() { return {3, 4, 8, 4, {2, 0, 5}, {2, 3, 3, 7, 1, 1, 1, 1, 6, 0, 5, 1}}; }

TEST(SampledSoftmax, FloatMatchesNaive) {
  const SampledCase small = small_case();
  for (const SampledCase& sc :
       {small, SampledCase{40, 17, 50, 9, random_ids(40, 1, 0, 49), random_ids(360, 2, 0, 49)}}) {
    const auto [N, C, V, K, targets, negatives] = sc;
    const auto hidden = random_values<float>(size_t(N) * C, 3);
    const auto weight = random_values<float>(size_t(V) * C, 4);
    const auto bias = random_values<float>(V, 5);
    std::vector<float> dhidden(hidden.size(), 0.0f), dweight(weight.size(), 0.0f), dbias(V, 0.0f);
    int64_t counted = -1;
    const double loss = cf::ops::sampled_softmax_xent_forward_backward(
        dhidden.data(), dweight.data(), dbias.data(), &counted, hidden.data(), weight.data(),
        bias.data(), targets.data(), negatives.data(), N, C, K, 0.5f);
    const auto want = naive_sampled(cast<double>(hidden), cast<double>(weight), cast<double>(bias),
                                    targets, negatives, N, C, V, K, 0.5);
    EXPECT_EQ(counted, want.counted);
    EXPECT_NEAR(loss, want.loss, kFloatTolerance * want.loss);
    EXPECT_TRUE(close_to_scale(dhidden, want.dhidden, kFloatTolerance));
    EXPECT_TRUE(close_to_scale(dweight, want.dweight, kFloatTolerance));
    EXPECT_TRUE(close_to_scale(dbias, want.dbias, kFloatTolerance));
  }
}

TEST(SampledSoftmax, GradientsMatchFiniteDifferencesAndAccumulate) {
  const auto [N, C, V, K, targets, negatives] = small_case();
  auto hidden = random_values(size_t(N) * C, 6);
  auto weight = random_values(size_t(V) * C, 7);
  auto bias = random_values(V, 8);
  const double grad_scale = 0.7;
  auto loss = [&] {
    return grad_scale * cf::ops::sampled_softmax_xent_forward_backward<double>(
                            nullptr, nullptr, nullptr, nullptr, hidden.data(), weight.data(),
                            bias.data(), targets.data(), negatives.data(), N, C, K, grad_scale);
  };
  std::vector<double> dhidden(hidden.size(), 0.0), dweight(weight.size(), 0.0), dbias(V, 0.0);
  cf::ops::sampled_softmax_xent_forward_backward(
      dhidden.data(), dweight.data(), dbias.data(), nullptr, hidden.data(), weight.data(),
      bias.data(), targets.data(), negatives.data(), N, C, K, grad_scale);
  EXPECT_TRUE(gradient_matches(dhidden, numeric_gradient(hidden, loss)));
  EXPECT_TRUE(gradient_matches(dweight, numeric_gradient(weight, loss)));
  EXPECT_TRUE(gradient_matches(dbias, numeric_gradient(bias, loss)));
  // Item 4 is never a candidate: no gradient.
  for (int c = 0; c < C; ++c) EXPECT_EQ(dweight[4 * C + c], 0.0);

  auto dhidden2 = dhidden, dweight2 = dweight, dbias2 = dbias;
  cf::ops::sampled_softmax_xent_forward_backward(
      dhidden2.data(), dweight2.data(), dbias2.data(), nullptr, hidden.data(), weight.data(),
      bias.data(), targets.data(), negatives.data(), N, C, K, grad_scale);
  for (auto* g : {&dhidden, &dweight, &dbias})
    for (auto& x : *g) x *= 2;
  EXPECT_TRUE(all_close(dhidden2, dhidden, 1e-12));
  EXPECT_TRUE(all_close(dweight2, dweight, 1e-12));
  EXPECT_TRUE(all_close(dbias2, dbias, 1e-12));
}

TEST(SampledSoftmax, AllNegativesCollidingGivesZeroLoss) {
  const int N = 1, C = 3, V = 5, K = 3;
  const std::vector<int32_t> targets = {2}, negatives = {2, 2, 0};
  const auto hidden = random_values<float>(C, 9), weight = random_values<float>(V * C, 10);
  std::vector<float> dhidden(C, 0.0f), dweight(V * C, 0.0f);
  int64_t counted = 0;
  EXPECT_EQ(cf::ops::sampled_softmax_xent_forward_backward<float>(
                dhidden.data(), dweight.data(), nullptr, &counted, hidden.data(), weight.data(),
                nullptr, targets.data(), negatives.data(), N, C, K, 1.0f),
            0.0);
  EXPECT_EQ(counted, 1);
  EXPECT_EQ(dhidden, std::vector<float>(C, 0.0f));
  EXPECT_EQ(dweight, std::vector<float>(V * C, 0.0f));
}

}  // namespace
