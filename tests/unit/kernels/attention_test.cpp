// Causal attention with key padding: output and probabilities against an explicit per-query
// softmax, gradients against finite differences, empty sequences, accumulation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernel_checks.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;

struct AttentionShape {
  int B, T, C, NH;
  std::vector<int32_t> lengths;
};

// Written from the definition: scores q.k / sqrt(hs) over keys s <= t and s < length, softmax
// (shifted by the row maximum), weighted sum of values; no visible key -> zeros.
void naive_attention(std::vector<double>& out, std::vector<double>& att,
                     const std::vector<double>& qkv, const AttentionShape& shape) {
  const int B = shape.B, T = shape.T, C = shape.C, NH = shape.NH, hs = C / NH;
  out.assign(size_t(B) * T * C, 0.0);
  att.assign(size_t(B) * NH * T * T, 0.0);
  auto q = [&](int b, int t, int h, int i) { return qkv[(b * T + t) * 3 * C + h * hs + i]; };
  auto k = [&](int b, int t, int h, int i) { return qkv[(b * T + t) * 3 * C + C + h * hs + i]; };
  auto v = [&](int b, int t, int h, int i) {
    return qkv[(b * T + t) * 3 * C + 2 * C + h * hs + i];
  };
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int t = 0; t < T; ++t) {
        std::vector<double> score;
        for (int s = 0; s <= t && s < shape.lengths[b]; ++s) {
          double d = 0;
          for (int i = 0; i < hs; ++i) d += q(b, t, h, i) * k(b, s, h, i);
          score.push_back(d / std::sqrt(double(hs)));
        }
        if (score.empty()) continue;
        const double top = *std::max_element(score.begin(), score.end());
        double total = 0;
        for (double x : score) total += std::exp(x - top);
        for (size_t s = 0; s < score.size(); ++s) {
          const double prob = std::exp(score[s] - top) / total;
          att[((b * NH + h) * T + t) * T + s] = prob;
          for (int i = 0; i < hs; ++i) out[(b * T + t) * C + h * hs + i] += prob * v(b, s, h, i);
        }
      }
}

class AttentionShapes : public ::testing::TestWithParam<AttentionShape> {};

TEST_P(AttentionShapes, ForwardMatchesNaive) {
  const AttentionShape& shape = GetParam();
  const auto [B, T, C, NH, lengths] = shape;
  const auto qkv = random_values<float>(size_t(B) * T * 3 * C, 1, -2.0, 2.0);
  std::vector<float> out(size_t(B) * T * C, 7.0f), att(size_t(B) * NH * T * T, 7.0f);
  cf::ops::attention_forward(out.data(), att.data(), qkv.data(), lengths.data(), B, T, C, NH);
  std::vector<double> want_out, want_att;
  naive_attention(want_out, want_att, cast<double>(qkv), shape);
  EXPECT_TRUE(all_close(out, want_out, kFloatTolerance));
  EXPECT_TRUE(all_close(att, want_att, kFloatTolerance));
}

TEST_P(AttentionShapes, GradientMatchesFiniteDifferencesAndAccumulates) {
  const AttentionShape& shape = GetParam();
  const auto [B, T, C, NH, lengths] = shape;
  auto qkv = random_values(size_t(B) * T * 3 * C, 2, -1.5, 1.5);
  const auto R = random_values(size_t(B) * T * C, 3);
  std::vector<double> out(R.size()), att(size_t(B) * NH * T * T);
  auto loss = [&] {
    cf::ops::attention_forward(out.data(), att.data(), qkv.data(), lengths.data(), B, T, C, NH);
    return dot(out, R);
  };
  loss();
  std::vector<double> dqkv(qkv.size(), 0.0);
  cf::ops::attention_backward(dqkv.data(), R.data(), qkv.data(), att.data(), lengths.data(), B, T,
                              C, NH);
  EXPECT_TRUE(gradient_matches(dqkv, numeric_gradient(qkv, loss)));
  // Positions at or past a sequence's length are never keys; an empty sequence gets nothing.
  for (int b = 0; b < B; ++b)
    for (int t = std::max(lengths[b], 0); t < T; ++t)
      for (int j = C; j < 3 * C; ++j) EXPECT_EQ(dqkv[(b * T + t) * 3 * C + j], 0.0);

  loss();
  auto twice = dqkv;
  cf::ops::attention_backward(twice.data(), R.data(), qkv.data(), att.data(), lengths.data(), B, T,
                              C, NH);
  for (auto& g : dqkv) g *= 2;
  EXPECT_TRUE(all_close(twice, dqkv, 1e-12));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionShapes,
    ::testing::Values(AttentionShape{1, 1, 2, 1, {1}},
                      // lengths 0 and 1, a full one and a ragged one; head size 4
                      AttentionShape{4, 5, 12, 3, {0, 1, 5, 3}},
                      // odd head size 5, two heads
                      AttentionShape{3, 7, 10, 2, {7, 2, 6}}, AttentionShape{2, 9, 8, 1, {4, 9}}));

// The tiled form (softmax statistics instead of probabilities) against the naive definition
// and against finite differences, on shapes with several query tiles and a ragged last one,
// every length kind (0, 1, inside the first tile, inside a later one, full).
class TiledAttentionShapes : public ::testing::TestWithParam<AttentionShape> {};

TEST_P(TiledAttentionShapes, ForwardMatchesNaive) {
  const AttentionShape& shape = GetParam();
  const auto [B, T, C, NH, lengths] = shape;
  const auto qkv = random_values<float>(size_t(B) * T * 3 * C, 21, -2.0, 2.0);
  std::vector<float> out(size_t(B) * T * C, 7.0f), stats(size_t(B) * NH * T * 2, 7.0f);
  cf::ops::attention_forward_tiled(out.data(), stats.data(), qkv.data(), lengths.data(), B, T, C,
                                   NH);
  std::vector<double> want_out, want_att;
  naive_attention(want_out, want_att, cast<double>(qkv), shape);
  EXPECT_TRUE(all_close(out, want_out, kFloatTolerance));
}

TEST_P(TiledAttentionShapes, GradientMatchesFiniteDifferencesAndTheStoredForm) {
  const AttentionShape& shape = GetParam();
  const auto [B, T, C, NH, lengths] = shape;
  auto qkv = random_values(size_t(B) * T * 3 * C, 22, -1.5, 1.5);
  const auto R = random_values(size_t(B) * T * C, 23);
  std::vector<double> out(R.size()), stats(size_t(B) * NH * T * 2);
  auto loss = [&] {
    cf::ops::attention_forward_tiled(out.data(), stats.data(), qkv.data(), lengths.data(), B, T,
                                     C, NH);
    return dot(out, R);
  };
  loss();
  std::vector<double> dqkv(qkv.size(), 0.0);
  cf::ops::attention_backward_tiled(dqkv.data(), R.data(), qkv.data(), stats.data(),
                                    lengths.data(), B, T, C, NH);
  EXPECT_TRUE(gradient_matches(dqkv, numeric_gradient(qkv, loss)));
  loss();  // numeric_gradient left the statistics of a perturbed input behind

  // The stored-probability form gives the same gradient up to rounding.
  std::vector<double> stored_out(R.size()), att(size_t(B) * NH * T * T), stored(qkv.size(), 0.0);
  cf::ops::attention_forward(stored_out.data(), att.data(), qkv.data(), lengths.data(), B, T, C,
                             NH);
  cf::ops::attention_backward(stored.data(), R.data(), qkv.data(), att.data(), lengths.data(), B,
                              T, C, NH);
  EXPECT_TRUE(all_close(out, stored_out, 1e-12));
  EXPECT_TRUE(all_close(dqkv, stored, 1e-12));

  // Backward accumulates into dqkv.
  auto twice = dqkv;
  cf::ops::attention_backward_tiled(twice.data(), R.data(), qkv.data(), stats.data(),
                                    lengths.data(), B, T, C, NH);
  for (auto& g : dqkv) g *= 2;
  EXPECT_TRUE(all_close(twice, dqkv, 1e-12));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, TiledAttentionShapes,
    ::testing::Values(AttentionShape{1, 1, 2, 1, {1}},
                      // three query tiles (64, 64, 2), lengths ending in the second and last
                      AttentionShape{2, cf::ops::kAttentionQueryTile * 2 + 2, 4, 1, {100, 130}},
                      // two tiles (64, 2), lengths 0, 1 and full, two heads of size 2
                      AttentionShape{3, cf::ops::kAttentionQueryTile + 2, 4, 2, {0, 1, 66}},
                      // exactly one tile, odd head size
                      AttentionShape{2, cf::ops::kAttentionQueryTile, 5, 1, {64, 17}},
                      // lengths on a tile's last row and on the next tile's first
                      AttentionShape{2, cf::ops::kAttentionQueryTile + 3, 4, 1, {64, 65}}));

// Within one query tile both forms make the same products, and backward's recomputed
// probabilities carry the forward's bits: the float results are equal bit for bit.
TEST(TiledAttention, OneTileEqualsTheStoredFormBitForBit) {
  const int B = 3, T = 50, C = 64, NH = 2;
  const std::vector<int32_t> lengths = {0, 17, 50};
  const auto qkv = random_values<float>(size_t(B) * T * 3 * C, 31, -2.0, 2.0);
  const auto dout = random_values<float>(size_t(B) * T * C, 32);
  std::vector<float> out(size_t(B) * T * C), att(size_t(B) * NH * T * T), dqkv(qkv.size(), 0.f);
  std::vector<float> tiled_out(out.size()), stats(size_t(B) * NH * T * 2),
      tiled_dqkv(qkv.size(), 0.f);
  cf::ops::attention_forward(out.data(), att.data(), qkv.data(), lengths.data(), B, T, C, NH);
  cf::ops::attention_backward(dqkv.data(), dout.data(), qkv.data(), att.data(), lengths.data(), B,
                              T, C, NH);
  cf::ops::attention_forward_tiled(tiled_out.data(), stats.data(), qkv.data(), lengths.data(), B,
                                   T, C, NH);
  cf::ops::attention_backward_tiled(tiled_dqkv.data(), dout.data(), qkv.data(), stats.data(),
                                    lengths.data(), B, T, C, NH);
  EXPECT_EQ(std::memcmp(out.data(), tiled_out.data(), out.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(dqkv.data(), tiled_dqkv.data(), dqkv.size() * sizeof(float)), 0);
}

TEST(Attention, EmptySequenceOutputsZerosAndAttendsNowhere) {
  const int B = 2, T = 4, C = 6, NH = 2;
  const std::vector<int32_t> lengths = {0, 2};
  const auto qkv = random_values<float>(size_t(B) * T * 3 * C, 4);
  std::vector<float> out(size_t(B) * T * C, 9.0f), att(size_t(B) * NH * T * T, 9.0f);
  cf::ops::attention_forward(out.data(), att.data(), qkv.data(), lengths.data(), B, T, C, NH);
  for (int i = 0; i < T * C; ++i) EXPECT_EQ(out[i], 0.0f);
  for (int i = 0; i < NH * T * T; ++i) EXPECT_EQ(att[i], 0.0f);
  // Padded queries of the second sequence still see its two real keys, and only those.
  for (int h = 0; h < NH; ++h)
    for (int t = 0; t < T; ++t) {
      const float* a = att.data() + ((1 * NH + h) * T + t) * T;
      EXPECT_NEAR(a[0] + a[1], 1.0f, 1e-6f);
      EXPECT_EQ(a[2], 0.0f);
      EXPECT_EQ(a[3], 0.0f);
    }
  const auto dout = random_values<float>(out.size(), 5);
  std::vector<float> dqkv(qkv.size(), 0.0f);
  cf::ops::attention_backward(dqkv.data(), dout.data(), qkv.data(), att.data(), lengths.data(), B,
                              T, C, NH);
  for (int i = 0; i < T * 3 * C; ++i) EXPECT_EQ(dqkv[i], 0.0f);
}

TEST(Attention, LargeScoresStayFinite) {
  const int B = 1, T = 6, C = 4, NH = 1;
  const std::vector<int32_t> lengths = {6};
  auto qkv = random_values<float>(size_t(T) * 3 * C, 6, -30.0, 30.0);  // scores up to ~1e3
  std::vector<float> out(size_t(T) * C), att(size_t(T) * T);
  cf::ops::attention_forward(out.data(), att.data(), qkv.data(), lengths.data(), B, T, C, NH);
  std::vector<double> want_out, want_att;
  naive_attention(want_out, want_att, cast<double>(qkv), AttentionShape{B, T, C, NH, lengths});
  for (float x : out) EXPECT_TRUE(std::isfinite(x));
  EXPECT_TRUE(all_close(att, want_att, 1e-3));
}

}  // namespace
