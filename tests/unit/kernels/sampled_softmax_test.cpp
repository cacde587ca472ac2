// Sampled item losses with shared candidates: loss and gradients against a naive per-row
// computation (accidental hits masked, repeats kept, logQ correction), finite differences,
// accumulation, the full softmax as the all-items case, and logQ's closed form.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernel_checks.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;
using cf::ops::SampledLoss;

struct Reference {
  double loss = 0;
  int64_t counted = 0;
  std::vector<double> dhidden, dweight, dbias;
};

double log_sigmoid(double x) { return -std::log1p(std::exp(-x)); }
double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// Written from the definitions, one row and one candidate at a time.
Reference naive(SampledLoss kind, double beta, const std::vector<double>& hidden,
                const std::vector<double>& weight, const std::vector<double>& bias,
                const std::vector<int32_t>& targets, const std::vector<int32_t>& candidates,
                const std::vector<double>* log_q, int N, int C, int V, double grad_scale) {
  Reference r;
  r.dhidden.assign(size_t(N) * C, 0.0);
  r.dweight.assign(size_t(V) * C, 0.0);
  r.dbias.assign(V, 0.0);
  auto score = [&](int n, int item) {
    double s = bias[item];
    for (int c = 0; c < C; ++c) s += hidden[n * C + c] * weight[item * C + c];
    return log_q ? s - (*log_q)[item] : s;
  };
  auto add_grad = [&](int n, int item, double g) {
    r.dbias[item] += g;
    for (int c = 0; c < C; ++c) {
      r.dhidden[n * C + c] += g * weight[item * C + c];
      r.dweight[item * C + c] += g * hidden[n * C + c];
    }
  };
  for (int n = 0; n < N; ++n) {
    if (targets[n] <= 0) continue;
    ++r.counted;
    std::vector<int> items = {targets[n]};  // the target, then the candidates that are not hits
    for (int id : candidates)
      if (id != targets[n]) items.push_back(id);
    std::vector<double> s;
    for (int item : items) s.push_back(score(n, item));
    if (kind == SampledLoss::kSoftmax) {
      double total = 0;
      for (double x : s) total += std::exp(x);
      r.loss += std::log(total) - s[0];
      for (size_t j = 0; j < items.size(); ++j)
        add_grad(n, items[j], (std::exp(s[j]) / total - (j == 0)) * grad_scale);
    } else {
      r.loss -= beta * log_sigmoid(s[0]);
      add_grad(n, items[0], -beta * (1 - sigmoid(s[0])) * grad_scale);
      for (size_t j = 1; j < items.size(); ++j) {
        r.loss -= log_sigmoid(-s[j]);
        add_grad(n, items[j], sigmoid(s[j]) * grad_scale);
      }
    }
  }
  return r;
}

struct Case {
  int N, C, V;
  std::vector<int32_t> targets, candidates;
};

// Row 0's target is also a candidate (an accidental hit), candidate 3 repeats, row 1 is ignored.
Case small_case() { return {3, 4, 8, {2, 0, 5}, {2, 3, 3, 7, 1, 6}}; }
// More rows than one chunk of the kernel (128), so chunk partials are added.
Case large_case() { return {300, 17, 50, random_ids(300, 1, 0, 49), random_ids(23, 2, 1, 49)}; }

template <class T>
double run(SampledLoss kind, double beta, const Case& k, const std::vector<T>& hidden,
           const std::vector<T>& weight, const std::vector<T>& bias, const std::vector<float>* log_q,
           T grad_scale, std::vector<T>* dhidden, std::vector<T>* dweight, std::vector<T>* dbias,
           int64_t* counted = nullptr) {
  return cf::ops::shared_candidates_loss_forward_backward<T>(
      dhidden ? dhidden->data() : nullptr, dweight ? dweight->data() : nullptr,
      dbias ? dbias->data() : nullptr, counted, hidden.data(), weight.data(), bias.data(),
      k.targets.data(), k.N, k.C, k.V, k.candidates.data(), int(k.candidates.size()),
      log_q ? log_q->data() : nullptr, kind, beta, grad_scale);
}

TEST(SharedCandidatesLoss, FloatMatchesNaive) {
  for (SampledLoss kind : {SampledLoss::kSoftmax, SampledLoss::kGbce})
    for (bool with_log_q : {false, true})
      for (const Case& k : {small_case(), large_case()}) {
        const auto hidden = random_values<float>(size_t(k.N) * k.C, 3);
        const auto weight = random_values<float>(size_t(k.V) * k.C, 4);
        const auto bias = random_values<float>(k.V, 5);
        const auto log_q = random_values<float>(k.V, 6);
        std::vector<float> dhidden(hidden.size(), 0.0f), dweight(weight.size(), 0.0f),
            dbias(k.V, 0.0f);
        int64_t counted = -1;
        const double loss = run(kind, 0.4, k, hidden, weight, bias, with_log_q ? &log_q : nullptr,
                                0.5f, &dhidden, &dweight, &dbias, &counted);
        const auto log_q_d = cast<double>(log_q);
        const Reference want =
            naive(kind, 0.4, cast<double>(hidden), cast<double>(weight), cast<double>(bias),
                  k.targets, k.candidates, with_log_q ? &log_q_d : nullptr, k.N, k.C, k.V, 0.5);
        EXPECT_EQ(counted, want.counted);
        EXPECT_NEAR(loss, want.loss, kFloatTolerance * want.loss);
        EXPECT_TRUE(close_to_scale(dhidden, want.dhidden, kFloatTolerance));
        EXPECT_TRUE(close_to_scale(dweight, want.dweight, kFloatTolerance));
        EXPECT_TRUE(close_to_scale(dbias, want.dbias, kFloatTolerance));
      }
}

TEST(SharedCandidatesLoss, GradientsMatchFiniteDifferencesAndAccumulate) {
  const Case k = small_case();
  const std::vector<float> log_q = random_values<float>(k.V, 11);
  for (SampledLoss kind : {SampledLoss::kSoftmax, SampledLoss::kGbce}) {
    auto hidden = random_values(size_t(k.N) * k.C, 6);
    auto weight = random_values(size_t(k.V) * k.C, 7);
    auto bias = random_values(k.V, 8);
    const double grad_scale = 0.7, beta = 0.3;
    auto loss = [&] {
      return grad_scale * run<double>(kind, beta, k, hidden, weight, bias, &log_q, grad_scale,
                                      nullptr, nullptr, nullptr);
    };
    std::vector<double> dhidden(hidden.size(), 0.0), dweight(weight.size(), 0.0), dbias(k.V, 0.0);
    run<double>(kind, beta, k, hidden, weight, bias, &log_q, grad_scale, &dhidden, &dweight,
                &dbias);
    EXPECT_TRUE(gradient_matches(dhidden, numeric_gradient(hidden, loss)));
    EXPECT_TRUE(gradient_matches(dweight, numeric_gradient(weight, loss)));
    EXPECT_TRUE(gradient_matches(dbias, numeric_gradient(bias, loss)));
    // Item 4 is neither a target nor a candidate: no gradient.
    for (int c = 0; c < k.C; ++c) EXPECT_EQ(dweight[4 * k.C + c], 0.0);

    // A second call adds the same gradients again.
    auto dhidden2 = dhidden, dweight2 = dweight, dbias2 = dbias;
    run<double>(kind, beta, k, hidden, weight, bias, &log_q, grad_scale, &dhidden2, &dweight2,
                &dbias2);
    for (auto* g : {&dhidden, &dweight, &dbias})
      for (auto& x : *g) x *= 2;
    EXPECT_TRUE(all_close(dhidden2, dhidden, 1e-12));
    EXPECT_TRUE(all_close(dweight2, dweight, 1e-12));
    EXPECT_TRUE(all_close(dbias2, dbias, 1e-12));
  }
}

// With every item (padding token 0 included, as the full softmax scores it) as a candidate, the
// target's own column is masked and supplied by the target logit: the full softmax exactly.
TEST(SharedCandidatesLoss, AllItemsAsCandidatesIsTheFullSoftmax) {
  const int N = 200, C = 16, V = 60;
  Case k{N, C, V, random_ids(N, 12, 0, V - 1), {}};
  k.candidates.resize(V);
  std::iota(k.candidates.begin(), k.candidates.end(), 0);
  const auto hidden = random_values(size_t(N) * C, 13);
  const auto weight = random_values(size_t(V) * C, 14);
  const auto bias = random_values(V, 15);
  std::vector<double> dh_s(hidden.size(), 0.0), dw_s(weight.size(), 0.0), db_s(V, 0.0);
  std::vector<double> dh_f(hidden.size(), 0.0), dw_f(weight.size(), 0.0), db_f(V, 0.0);
  int64_t counted_s = 0, counted_f = 0;
  const double sampled = run<double>(SampledLoss::kSoftmax, 1.0, k, hidden, weight, bias, nullptr,
                                     0.01, &dh_s, &dw_s, &db_s, &counted_s);
  const double full = cf::ops::softmax_xent_forward_backward<double>(
      dh_f.data(), dw_f.data(), db_f.data(), &counted_f, hidden.data(), weight.data(), bias.data(),
      k.targets.data(), N, C, V, 0.01, 64);
  EXPECT_EQ(counted_s, counted_f);
  EXPECT_NEAR(sampled, full, 1e-10 * full);
  EXPECT_TRUE(all_close(dh_s, dh_f, 1e-12));
  EXPECT_TRUE(all_close(dw_s, dw_f, 1e-12));
  EXPECT_TRUE(all_close(db_s, db_f, 1e-12));
}

// One row, two candidates, numbers small enough to write the corrected softmax out by hand:
// loss = -log(e^(s_t - q_t) / (e^(s_t - q_t) + e^(s_a - q_a) + e^(s_b - q_b))).
TEST(SharedCandidatesLoss, LogQCorrectionMatchesClosedForm) {
  const Case k{1, 1, 4, {1}, {2, 3}};
  const std::vector<double> hidden = {2.0}, weight = {0, 0.5, -1.0, 0.25}, bias(4, 0.0);
  const std::vector<float> log_q = {0.f, std::log(0.5f), std::log(3.0f), std::log(0.25f)};
  const double t = 2.0 * 0.5 - std::log(0.5), a = -2.0 - std::log(3.0), b = 0.5 - std::log(0.25);
  const double want = -(t - std::log(std::exp(t) + std::exp(a) + std::exp(b)));
  const double got = run<double>(SampledLoss::kSoftmax, 1.0, k, hidden, weight, bias, &log_q, 1.0,
                                 nullptr, nullptr, nullptr);
  EXPECT_NEAR(got, want, 1e-6);  // log_q is float
  // Without the correction the same row is the plain sampled softmax.
  const double plain = -(1.0 - std::log(std::exp(1.0) + std::exp(-2.0) + std::exp(0.5)));
  EXPECT_NEAR(run<double>(SampledLoss::kSoftmax, 1.0, k, hidden, weight, bias, nullptr, 1.0,
                          nullptr, nullptr, nullptr),
              plain, 1e-12);
}

// gBCE with beta = 1 is the plain binary cross-entropy of the target against each negative.
TEST(SharedCandidatesLoss, GbceWithBetaOneIsBinaryCrossEntropy) {
  const Case k{1, 1, 4, {1}, {2, 3}};
  const std::vector<double> hidden = {2.0}, weight = {0, 0.5, -1.0, 0.25}, bias(4, 0.0);
  const double want = -log_sigmoid(1.0) - log_sigmoid(2.0) - log_sigmoid(-0.5);
  EXPECT_NEAR(run<double>(SampledLoss::kGbce, 1.0, k, hidden, weight, bias, nullptr, 1.0, nullptr,
                          nullptr, nullptr),
              want, 1e-12);
}

TEST(SharedCandidatesLoss, EveryCandidateAHitLeavesOnlyTheTarget) {
  const Case k{1, 3, 5, {2}, {2, 2}};
  const auto hidden = random_values<float>(3, 9), weight = random_values<float>(15, 10);
  const std::vector<float> bias(5, 0.0f);
  std::vector<float> dhidden(3, 0.0f), dweight(15, 0.0f);
  EXPECT_EQ(run<float>(SampledLoss::kSoftmax, 1.0, k, hidden, weight, bias, nullptr, 1.0f,
                       &dhidden, &dweight, nullptr),
            0.0);
  EXPECT_EQ(dhidden, std::vector<float>(3, 0.0f));
  EXPECT_EQ(dweight, std::vector<float>(15, 0.0f));
}

}  // namespace
