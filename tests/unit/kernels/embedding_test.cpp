// Embedding and position lookups: forward against plain loops, table gradients against finite
// differences, and the accumulation contract.
#include <gtest/gtest.h>

#include "kernel_checks.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;

struct EmbeddingShape {
  int N, C, V;
};

class EmbeddingShapes : public ::testing::TestWithParam<EmbeddingShape> {};

TEST_P(EmbeddingShapes, ForwardAddsTableRows) {
  const auto [N, C, V] = GetParam();
  const auto table = random_values<float>(size_t(V) * C, 1);
  const auto ids = random_ids(N, 2, 0, V - 1);
  auto out = random_values<float>(size_t(N) * C, 3);  // forward adds to what is there
  std::vector<double> want(out.begin(), out.end());
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) want[n * C + c] += table[ids[n] * C + c];
  cf::ops::embedding_forward(out.data(), ids.data(), table.data(), N, C);
  EXPECT_TRUE(all_close(out, want, kFloatTolerance));
}

TEST_P(EmbeddingShapes, TableGradientMatchesFiniteDifferences) {
  const auto [N, C, V] = GetParam();
  auto table = random_values(size_t(V) * C, 4);
  const auto ids = random_ids(N, 5, 0, V - 1);  // V < N in some shapes: repeated ids
  const auto start = random_values(size_t(N) * C, 6);
  const auto R = random_values(size_t(N) * C, 7);
  auto loss = [&] {
    auto out = start;
    cf::ops::embedding_forward(out.data(), ids.data(), table.data(), N, C);
    return dot(out, R);
  };
  std::vector<double> dtable(table.size(), 0.0);
  cf::ops::embedding_backward(dtable.data(), ids.data(), R.data(), N, C);
  // Rows never looked up get no gradient, and the numeric gradient must agree on that too.
  EXPECT_TRUE(gradient_matches(dtable, numeric_gradient(table, loss)));
  // Accumulation contract: a second call adds the same amount again.
  auto twice = dtable;
  cf::ops::embedding_backward(twice.data(), ids.data(), R.data(), N, C);
  for (auto& g : dtable) g *= 2;
  EXPECT_TRUE(all_close(twice, dtable, 1e-12));
}

INSTANTIATE_TEST_SUITE_P(Shapes, EmbeddingShapes,
                         ::testing::Values(EmbeddingShape{1, 1, 1}, EmbeddingShape{7, 5, 3},
                                           EmbeddingShape{13, 17, 29}, EmbeddingShape{40, 33, 6}));

TEST(PositionEmbedding, ForwardAddsPositionRowPerTimeStep) {
  const int B = 3, T = 5, C = 7;
  const auto pos = random_values<float>(size_t(T) * C, 8);
  auto out = random_values<float>(size_t(B) * T * C, 9);
  std::vector<double> want(out.begin(), out.end());
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < C; ++c) want[(b * T + t) * C + c] += pos[t * C + c];
  cf::ops::position_forward(out.data(), pos.data(), B, T, C);
  EXPECT_TRUE(all_close(out, want, kFloatTolerance));
}

TEST(PositionEmbedding, GradientMatchesFiniteDifferencesAndAccumulates) {
  const int B = 4, T = 6, C = 5;
  auto pos = random_values(size_t(T) * C, 10);
  const auto start = random_values(size_t(B) * T * C, 11);
  const auto R = random_values(size_t(B) * T * C, 12);
  auto loss = [&] {
    auto out = start;
    cf::ops::position_forward(out.data(), pos.data(), B, T, C);
    return dot(out, R);
  };
  std::vector<double> dpos(pos.size(), 0.0);
  cf::ops::position_backward(dpos.data(), R.data(), B, T, C);
  EXPECT_TRUE(gradient_matches(dpos, numeric_gradient(pos, loss)));
  auto twice = dpos;
  cf::ops::position_backward(twice.data(), R.data(), B, T, C);
  for (auto& g : dpos) g *= 2;
  EXPECT_TRUE(all_close(twice, dpos, 1e-12));
}

}  // namespace
