// Chunked full-softmax cross-entropy: loss and gradients against a naive dense computation,
// finite differences, chunking invariance, ignored rows, forward-only calls, large logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernel_checks.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;

struct XentReference {
  double loss = 0;
  int64_t counted = 0;
  std::vector<double> dhidden, dweight, dbias;
};

// All logits of a row at once, log-sum-exp shifted by the row maximum, gradient
// (softmax - onehot) * grad_scale for rows whose target is > 0.
XentReference naive_xent(const std::vector<double>& hidden, const std::vector<double>& weight,
                         const std::vector<double>* bias, const std::vector<int32_t>& targets,
                         int N, int C, int V, double grad_scale) {
  XentReference r;
  r.dhidden.assign(size_t(N) * C, 0.0);
  r.dweight.assign(size_t(V) * C, 0.0);
  r.dbias.assign(V, 0.0);
  for (int n = 0; n < N; ++n) {
    if (targets[n] <= 0) continue;
    ++r.counted;
    std::vector<double> logit(V);
    for (int v = 0; v < V; ++v) {
      logit[v] = bias ? (*bias)[v] : 0.0;
      for (int c = 0; c < C; ++c) logit[v] += hidden[n * C + c] * weight[v * C + c];
    }
    const double top = *std::max_element(logit.begin(), logit.end());
    double total = 0;
    for (double x : logit) total += std::exp(x - top);
    r.loss += std::log(total) + top - logit[targets[n]];
    for (int v = 0; v < V; ++v) {
      const double g = (std::exp(logit[v] - top) / total - (v == targets[n])) * grad_scale;
      r.dbias[v] += g;
      for (int c = 0; c < C; ++c) {
        r.dhidden[n * C + c] += g * weight[v * C + c];
        r.dweight[v * C + c] += g * hidden[n * C + c];
      }
    }
  }
  return r;
}

struct XentCase {
  int N, C, V, chunk_rows;
  bool with_bias;
};

class XentCases : public ::testing::TestWithParam<XentCase> {};

// Targets in [1, V) with every fourth row ignored (0 or negative, as padding would be).
std::vector<int32_t> targets_with_ignored(int N, int V, uint64_t seed) {
  auto targets = random_ids(N, seed, 1, V - 1);
  for (int n = 1; n < N; n += 4) targets[n] = (n % 8 == 1) ? 0 : -1;
  return targets;
}

TEST_P(XentCases, FloatMatchesNaive) {
  const auto [N, C, V, chunk_rows, with_bias] = GetParam();
  const auto hidden = random_values<float>(size_t(N) * C, 1, -2.0, 2.0);
  const auto weight = random_values<float>(size_t(V) * C, 2);
  const auto bias = random_values<float>(V, 3);
  const auto targets = targets_with_ignored(N, V, 4);
  const float grad_scale = 0.25f;
  std::vector<float> dhidden(hidden.size(), 0.0f), dweight(weight.size(), 0.0f), dbias(V, 0.0f);
  int64_t counted = -1;
  const double loss = cf::ops::softmax_xent_forward_backward(
      dhidden.data(), dweight.data(), with_bias ? dbias.data() : nullptr, &counted, hidden.data(),
      weight.data(), with_bias ? bias.data() : nullptr, targets.data(), N, C, V, grad_scale,
      chunk_rows);
  const auto bias_d = cast<double>(bias);
  const auto want = naive_xent(cast<double>(hidden), cast<double>(weight),
                               with_bias ? &bias_d : nullptr, targets, N, C, V, grad_scale);
  EXPECT_EQ(counted, want.counted);
  EXPECT_NEAR(loss, want.loss, kFloatTolerance * std::abs(want.loss));
  EXPECT_TRUE(close_to_scale(dhidden, want.dhidden, kFloatTolerance));
  EXPECT_TRUE(close_to_scale(dweight, want.dweight, kFloatTolerance));
  if (with_bias)
    EXPECT_TRUE(close_to_scale(dbias, want.dbias, kFloatTolerance));
  else
    EXPECT_EQ(dbias, std::vector<float>(V, 0.0f));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, XentCases,
    ::testing::Values(XentCase{11, 6, 13, 4, true}, XentCase{1, 1, 2, 64, true},
                      XentCase{50, 24, 1003, 7, true}, XentCase{50, 24, 1003, 64, false},
                      XentCase{9, 64, 517, 3, true},
                      // several vocabulary blocks, the last one partial
                      XentCase{20, 16, 2500, 8, true}, XentCase{13, 5, 3073, 64, false}));

TEST(SoftmaxXent, GradientsMatchFiniteDifferences) {
  const int N = 9, C = 5, V = 11;
  auto hidden = random_values(size_t(N) * C, 5);
  auto weight = random_values(size_t(V) * C, 6);
  auto bias = random_values(V, 7);
  // 6 counted rows in chunks of 4 (4 + 2): chunk_rows smaller than N and not dividing it.
  const std::vector<int32_t> targets = {3, 0, 5, -1, 10, 1, 7, 0, 2};
  const double grad_scale = 0.37;
  auto loss = [&] {
    return grad_scale * cf::ops::softmax_xent_forward_backward<double>(
                            nullptr, nullptr, nullptr, nullptr, hidden.data(), weight.data(),
                            bias.data(), targets.data(), N, C, V, grad_scale, 4);
  };
  std::vector<double> dhidden(hidden.size(), 0.0), dweight(weight.size(), 0.0), dbias(V, 0.0);
  int64_t counted = 0;
  cf::ops::softmax_xent_forward_backward(dhidden.data(), dweight.data(), dbias.data(), &counted,
                                         hidden.data(), weight.data(), bias.data(), targets.data(),
                                         N, C, V, grad_scale, 4);
  EXPECT_EQ(counted, 6);
  EXPECT_TRUE(gradient_matches(dhidden, numeric_gradient(hidden, loss)));
  EXPECT_TRUE(gradient_matches(dweight, numeric_gradient(weight, loss)));
  EXPECT_TRUE(gradient_matches(dbias, numeric_gradient(bias, loss)));
  for (int n : {1, 3, 7})
    for (int c = 0; c < C; ++c) EXPECT_EQ(dhidden[n * C + c], 0.0) << "ignored row " << n;

  auto dhidden2 = dhidden, dweight2 = dweight, dbias2 = dbias;
  cf::ops::softmax_xent_forward_backward(dhidden2.data(), dweight2.data(), dbias2.data(), nullptr,
                                         hidden.data(), weight.data(), bias.data(), targets.data(),
                                         N, C, V, grad_scale, 4);
  for (auto* g : {&dhidden, &dweight, &dbias})
    for (auto& x : *g) x *= 2;
  EXPECT_TRUE(all_close(dhidden2, dhidden, 1e-12));
  EXPECT_TRUE(all_close(dweight2, dweight, 1e-12));
  EXPECT_TRUE(all_close(dbias2, dbias, 1e-12));
}

// The vocabulary is processed in blocks (of 1024 items on CPU); a vocabulary spanning three
// blocks checks how the per-block maxima and sums combine. Weight rows are checked where the
// gradient is largest (targets) and at block edges.
TEST(SoftmaxXent, GradientsMatchFiniteDifferencesAcrossVocabularyBlocks) {
  const int N = 5, C = 3, V = 2100;
  auto hidden = random_values(size_t(N) * C, 20, -2.0, 2.0);
  auto weight = random_values(size_t(V) * C, 21);
  auto bias = random_values(V, 22);
  const std::vector<int32_t> targets = {5, 1500, 0, 2099, 1023};
  const double grad_scale = 0.2;
  auto loss = [&] {
    return grad_scale * cf::ops::softmax_xent_forward_backward<double>(
                            nullptr, nullptr, nullptr, nullptr, hidden.data(), weight.data(),
                            bias.data(), targets.data(), N, C, V, grad_scale, 3);
  };
  std::vector<double> dhidden(hidden.size(), 0.0), dweight(weight.size(), 0.0), dbias(V, 0.0);
  cf::ops::softmax_xent_forward_backward(dhidden.data(), dweight.data(), dbias.data(), nullptr,
                                         hidden.data(), weight.data(), bias.data(), targets.data(),
                                         N, C, V, grad_scale, 3);
  EXPECT_TRUE(gradient_matches(dhidden, numeric_gradient(hidden, loss)));
  // Items at the block edges, the targets, and a few others.
  const std::vector<size_t> items = {0, 5, 700, 1023, 1024, 1500, 2047, 2048, 2099};
  EXPECT_TRUE(gradient_matches(gather(dbias, items), numeric_gradient_at(bias, items, loss)));
  std::vector<size_t> weight_elements;
  for (size_t v : items)
    for (int c = 0; c < C; ++c) weight_elements.push_back(v * C + c);
  EXPECT_TRUE(gradient_matches(gather(dweight, weight_elements),
                               numeric_gradient_at(weight, weight_elements, loss)));
}

TEST(SoftmaxXent, ChunkSizeDoesNotChangeResults) {
  const int N = 70, C = 16, V = 301;
  const auto hidden = random_values<float>(size_t(N) * C, 8);
  const auto weight = random_values<float>(size_t(V) * C, 9);
  const auto bias = random_values<float>(V, 10);
  const auto targets = targets_with_ignored(N, V, 11);
  struct Result {
    double loss;
    std::vector<float> dhidden, dweight, dbias;
  };
  auto run = [&](int chunk_rows) {
    Result r{0, std::vector<float>(hidden.size()), std::vector<float>(weight.size()),
             std::vector<float>(V)};
    r.loss = cf::ops::softmax_xent_forward_backward(
        r.dhidden.data(), r.dweight.data(), r.dbias.data(), nullptr, hidden.data(), weight.data(),
        bias.data(), targets.data(), N, C, V, 1.0f / 52, chunk_rows);
    return r;
  };
  const Result reference = run(64);
  for (int chunk_rows : {1, 7}) {
    const Result r = run(chunk_rows);
    EXPECT_NEAR(r.loss, reference.loss, 1e-7 * reference.loss) << "chunk " << chunk_rows;
    // Only the order of float additions into dweight and dbias changes between chunkings.
    EXPECT_TRUE(close_to_scale(r.dhidden, reference.dhidden, 1e-6)) << "chunk " << chunk_rows;
    EXPECT_TRUE(close_to_scale(r.dweight, reference.dweight, 1e-6)) << "chunk " << chunk_rows;
    EXPECT_TRUE(close_to_scale(r.dbias, reference.dbias, 1e-6)) << "chunk " << chunk_rows;
  }
}

TEST(SoftmaxXent, ForwardOnlyLeavesGradientsAlone) {
  const int N = 6, C = 4, V = 9;
  const auto hidden = random_values<float>(size_t(N) * C, 12);
  const auto weight = random_values<float>(size_t(V) * C, 13);
  const std::vector<int32_t> targets = {1, 2, 0, 8, 4, 4};
  std::vector<float> dweight(weight.size(), 0.5f), dbias(V, 0.5f);
  int64_t counted = 0;
  const double forward_only = cf::ops::softmax_xent_forward_backward<float>(
      nullptr, dweight.data(), dbias.data(), &counted, hidden.data(), weight.data(), nullptr,
      targets.data(), N, C, V, 1.0f);
  EXPECT_EQ(counted, 5);
  EXPECT_EQ(dweight, std::vector<float>(weight.size(), 0.5f));
  EXPECT_EQ(dbias, std::vector<float>(V, 0.5f));
  std::vector<float> dhidden(hidden.size(), 0.0f);
  const double with_grads = cf::ops::softmax_xent_forward_backward<float>(
      dhidden.data(), dweight.data(), nullptr, nullptr, hidden.data(), weight.data(), nullptr,
      targets.data(), N, C, V, 1.0f);
  EXPECT_EQ(forward_only, with_grads);
}

TEST(SoftmaxXent, NoCountedRowsGivesZero) {
  const int N = 3, C = 2, V = 4;
  const std::vector<float> hidden(N * C, 1.0f), weight(V * C, 1.0f);
  const std::vector<int32_t> targets = {0, -1, 0};
  std::vector<float> dhidden(N * C, 0.0f), dweight(V * C, 0.0f);
  int64_t counted = 7;
  EXPECT_EQ(cf::ops::softmax_xent_forward_backward<float>(dhidden.data(), dweight.data(), nullptr,
                                                          &counted, hidden.data(), weight.data(),
                                                          nullptr, targets.data(), N, C, V, 1.0f),
            0.0);
  EXPECT_EQ(counted, 0);
  EXPECT_EQ(dhidden, std::vector<float>(N * C, 0.0f));
  EXPECT_EQ(dweight, std::vector<float>(V * C, 0.0f));
}

TEST(SoftmaxXent, LargeLogitsStayFinite) {
  const int N = 8, C = 8, V = 2100;  // logits ~ 1e2, spread over several vocabulary blocks
  const auto hidden = random_values<float>(size_t(N) * C, 14, -40.0, 40.0);
  const auto weight = random_values<float>(size_t(V) * C, 15, -3.0, 3.0);
  const auto targets = random_ids(N, 16, 1, V - 1);
  std::vector<float> dhidden(hidden.size(), 0.0f), dweight(weight.size(), 0.0f);
  const double loss = cf::ops::softmax_xent_forward_backward<float>(
      dhidden.data(), dweight.data(), nullptr, nullptr, hidden.data(), weight.data(), nullptr,
      targets.data(), N, C, V, 1.0f);
  const auto want =
      naive_xent(cast<double>(hidden), cast<double>(weight), nullptr, targets, N, C, V, 1.0);
  ASSERT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, want.loss, 1e-4 * want.loss);
  for (float g : dhidden) ASSERT_TRUE(std::isfinite(g));
  EXPECT_TRUE(close_to_scale(dhidden, want.dhidden, 1e-4));
}

}  // namespace
