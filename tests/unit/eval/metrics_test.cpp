// Ranking, AUC, log-loss and calibration metrics against hand-computed values and brute force.
#include "eval/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace cf::eval {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(FullRank, CountsStrictlyHigherAndTiesPessimistically) {
  // token:               0      1     2     3     4     5
  std::vector<float> s = {-kInf, 0.5f, 0.9f, 0.1f, 0.9f, 0.3f};
  EXPECT_EQ(full_rank(s.data(), 6, 2, nullptr), 2);  // item 4 ties at 0.9 -> ranked above
  EXPECT_EQ(full_rank(s.data(), 6, 4, nullptr), 2);
  EXPECT_EQ(full_rank(s.data(), 6, 1, nullptr), 3);  // 2 and 4 above
  EXPECT_EQ(full_rank(s.data(), 6, 3, nullptr), 5);  // worst
  EXPECT_EQ(full_rank(s.data(), 6, 5, nullptr), 4);
}

TEST(FullRank, FilteringRemovesHistoryButNeverTheTarget) {
  std::vector<float> s = {-kInf, 0.5f, 0.9f, 0.1f, 0.9f, 0.3f};
  std::vector<uint8_t> excluded = {0, 0, 1, 0, 0, 0};  // item 2 was in the history
  EXPECT_EQ(full_rank(s.data(), 6, 1, excluded.data()), 2);  // only item 4 above now
  excluded = {0, 1, 1, 0, 1, 0};  // history contains the target itself (a repeat purchase)
  EXPECT_EQ(full_rank(s.data(), 6, 1, excluded.data()), 1);
  EXPECT_EQ(full_rank(s.data(), 6, 3, excluded.data()), 2);  // only item 5 is left above
}

TEST(FullRank, ConstantScorerGetsTheWorstRank) {
  std::vector<float> s(101, 0.25f);
  s[0] = -kInf;
  EXPECT_EQ(full_rank(s.data(), 101, 37, nullptr), 100);
  std::vector<uint8_t> excluded(101, 0);
  for (int j = 1; j <= 10; ++j) excluded[j] = 1;
  EXPECT_EQ(full_rank(s.data(), 101, 37, excluded.data()), 90);
}

TEST(FullRank, NaNTargetRanksLastAndNaNOthersNeverAbove) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> s = {-kInf, nan, 0.2f, 0.7f, nan};
  EXPECT_EQ(full_rank(s.data(), 5, 1, nullptr), 4);
  EXPECT_EQ(full_rank(s.data(), 5, 2, nullptr), 2);  // only 0.7 above; NaNs do not count
}

// The vectorised counts (16 items at a time where the CPU has AVX-512) against the definition,
// at catalogue sizes around the vector width, with ties, NaNs, infinities, and history marks.
TEST(FullRank, MatchesTheDefinitionOnRandomCataloguesBothWays) {
  std::mt19937 rng(7);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int32_t n : {2, 3, 15, 16, 17, 18, 33, 100, 1031}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> s(static_cast<size_t>(n));
      std::vector<uint8_t> excluded(static_cast<size_t>(n));
      for (int32_t j = 0; j < n; ++j) {
        s[j] = float(rng() % 7) * 0.25f;  // few values: many ties
        if (rng() % 13 == 0) s[j] = nan;
        if (rng() % 17 == 0) s[j] = rng() % 2 ? kInf : -kInf;
        excluded[j] = rng() % 4 == 0 ? 1 : 0;
      }
      for (int32_t target = 1; target < n; target += std::max(1, n / 7)) {
        auto reference = [&](const uint8_t* ex) {
          int64_t candidates = 0, above = 0;
          for (int32_t j = 1; j < n; ++j) {
            if (j == target || (ex && ex[j])) continue;
            ++candidates;
            above += s[j] >= s[target] ? 1 : 0;
          }
          return 1 + (std::isnan(s[target]) ? candidates : above);
        };
        EXPECT_EQ(full_rank(s.data(), n, target, nullptr), reference(nullptr)) << n;
        EXPECT_EQ(full_rank(s.data(), n, target, excluded.data()), reference(excluded.data()))
            << n;
        int64_t filtered = 0, unfiltered = 0;
        ranking::full_ranks_filtered_and_not(s.data(), n, target, excluded.data(), &filtered,
                                             &unfiltered);
        EXPECT_EQ(filtered, reference(excluded.data())) << n;
        EXPECT_EQ(unfiltered, reference(nullptr)) << n;
      }
    }
  }
}

// The ranks of a row that differs from a fixed base at a few items, counted without a pass
// over the catalogue, against the pass itself: ties, NaN and +-inf on either side, a changed or
// excluded target, items both changed and excluded.
TEST(FullRanksOverBase, EqualTheFullPassOnRandomRows) {
  std::mt19937 rng(11);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto draw = [&] {
    if (rng() % 13 == 0) return nan;
    if (rng() % 17 == 0) return rng() % 2 ? kInf : -kInf;
    return float(rng() % 7) * 0.25f;  // few values: many ties
  };
  int64_t checked = 0;
  for (int32_t n : {2, 3, 17, 100, 1031}) {
    std::vector<float> base(static_cast<size_t>(n));
    for (auto& v : base) v = draw();
    const ranking::SortedScores sorted(base.data(), n);
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<float> row = base;
      std::vector<uint8_t> marks(static_cast<size_t>(n), 0);
      std::vector<int32_t> changed, excluded;
      for (int32_t j = 1; j < n; ++j) {
        if (rng() % 5 == 0) {
          row[j] = draw();
          changed.push_back(j);
        }
        if (rng() % 6 == 0) {
          marks[j] = 1;
          excluded.push_back(j);
        }
      }
      std::shuffle(changed.begin(), changed.end(), rng);  // any order
      for (int32_t target = 1; target < n; target += std::max(1, n / 9)) {
        int64_t filtered = 0, unfiltered = 0, want_filtered = 0, want_unfiltered = 0;
        ranking::full_ranks_filtered_and_not(row.data(), n, target, marks.data(), &want_filtered,
                                             &want_unfiltered);
        ranking::full_ranks_over_base(row.data(), base.data(), sorted, n, target, changed,
                                      excluded, &filtered, &unfiltered);
        EXPECT_EQ(filtered, want_filtered) << n << " " << target;
        EXPECT_EQ(unfiltered, want_unfiltered) << n << " " << target;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 500);
}

TEST(SortedScores, CountsScoresAtLeastAThresholdLeavingOutPaddingAndNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> base = {9.0f, 1.0f, nan, 3.0f, 3.0f, -kInf, kInf};
  const ranking::SortedScores sorted(base.data(), static_cast<int32_t>(base.size()));
  EXPECT_EQ(sorted.count_at_least(3.0f), 3);  // 3, 3, inf (index 0 is padding)
  EXPECT_EQ(sorted.count_at_least(-kInf), 5);
  EXPECT_EQ(sorted.count_at_least(kInf), 1);
  EXPECT_EQ(sorted.count_at_least(10.0f), 1);
  EXPECT_EQ(sorted.count_at_least(nan), 0);
}

TEST(SampledRank, RanksAgainstTheNegativesOnly) {
  std::vector<float> s = {-kInf, 0.5f, 0.9f, 0.1f, 0.5f, 0.3f, 2.0f};
  EXPECT_EQ(sampled_rank(s.data(), 1, {3, 5}), 1);
  EXPECT_EQ(sampled_rank(s.data(), 1, {3, 4, 5}), 2);  // tie with 4
  EXPECT_EQ(sampled_rank(s.data(), 1, {2, 6, 3}), 3);
  EXPECT_EQ(sampled_rank(s.data(), 1, {}), 1);
}

TEST(RankingAccumulator, HitRateNdcgAndMrrByHand) {
  RankingAccumulator acc;
  for (int64_t rank : {1, 3, 12, 60}) acc.add(rank);
  EXPECT_EQ(acc.count(), 4);
  EXPECT_DOUBLE_EQ(acc.hit_rate(1), 0.25);
  EXPECT_DOUBLE_EQ(acc.hit_rate(5), 0.5);
  EXPECT_DOUBLE_EQ(acc.hit_rate(10), 0.5);
  EXPECT_DOUBLE_EQ(acc.hit_rate(20), 0.75);
  EXPECT_DOUBLE_EQ(acc.hit_rate(50), 0.75);
  EXPECT_DOUBLE_EQ(acc.ndcg(1), 0.25);            // 1/log2(2) = 1
  EXPECT_DOUBLE_EQ(acc.ndcg(5), (1.0 + 0.5) / 4);  // rank 3: 1/log2(4) = 0.5
  EXPECT_NEAR(acc.ndcg(20), (1.0 + 0.5 + 0.2702381) / 4, 1e-7);  // 1/log2(13)
  EXPECT_NEAR(acc.ndcg(50), acc.ndcg(20), 1e-15);
  EXPECT_NEAR(acc.mrr(), (1.0 + 1.0 / 3 + 1.0 / 12 + 1.0 / 60) / 4, 1e-15);

  const Json j = acc.to_json();
  EXPECT_DOUBLE_EQ(j.at("hr@20").get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j.at("ndcg@5").get<double>(), 0.375);
  EXPECT_EQ(j.at("n").get<int64_t>(), 4);
  EXPECT_TRUE(j.contains("mrr"));
}

TEST(RankingAccumulator, MergeEqualsAddingEverything) {
  RankingAccumulator a, b, all;
  for (int64_t r : {2, 7}) { a.add(r); all.add(r); }
  for (int64_t r : {1, 51, 4}) { b.add(r); all.add(r); }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (int k : default_cutoffs()) {
    EXPECT_DOUBLE_EQ(a.hit_rate(k), all.hit_rate(k));
    EXPECT_DOUBLE_EQ(a.ndcg(k), all.ndcg(k));
  }
  EXPECT_DOUBLE_EQ(a.mrr(), all.mrr());
}

TEST(RankingAccumulator, EmptyGivesZeros) {
  RankingAccumulator acc;
  EXPECT_EQ(acc.hit_rate(10), 0.0);
  EXPECT_EQ(acc.mrr(), 0.0);
}

double brute_force_auc(const std::vector<double>& s, const std::vector<int8_t>& y) {
  double wins = 0, pairs = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!y[i]) continue;
    for (size_t j = 0; j < s.size(); ++j) {
      if (y[j]) continue;
      pairs += 1;
      wins += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
    }
  }
  return wins / pairs;
}

TEST(RocAuc, HandExamples) {
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);
  // Tie between a positive and a negative at 0.5 counts one half: 3.5 of 4 pairs.
  EXPECT_DOUBLE_EQ(roc_auc({0.5, 0.5, 0.2, 0.9}, {1, 0, 0, 1}), 0.875);
  EXPECT_DOUBLE_EQ(roc_auc({1, 1, 1, 1}, {1, 0, 1, 0}), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc({3, 2, 1}, {0, 1, 1}), 0.0);
  EXPECT_TRUE(std::isnan(roc_auc({0.1, 0.2}, {1, 1})));
}

TEST(RocAuc, MatchesBruteForcePairCountWithManyTies) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(0, 6), coin(0, 2);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> s(200);
    std::vector<int8_t> y(200);
    for (size_t i = 0; i < s.size(); ++i) {
      y[i] = coin(rng) == 0 ? 1 : 0;
      s[i] = level(rng) * 0.5 + (y[i] ? 0.4 : 0.0) * (level(rng) > 3);
    }
    y[0] = 1;
    y[1] = 0;
    EXPECT_NEAR(roc_auc(s, y), brute_force_auc(s, y), 1e-12) << "trial " << trial;
  }
}

TEST(LogLoss, HandValueAndNoOverflow) {
  // p = sigmoid(0) = 0.5 for a positive, sigmoid(ln 3) = 0.75 for a negative.
  EXPECT_NEAR(log_loss_from_logits({0.0, std::log(3.0)}, {1, 0}),
              (0.6931471805599453 + 1.3862943611198906) / 2, 1e-12);
  EXPECT_NEAR(log_loss_from_logits({1000.0}, {0}), 1000.0, 1e-9);
  EXPECT_NEAR(log_loss_from_logits({-1000.0}, {0}), 0.0, 1e-12);
  EXPECT_NEAR(log_loss_from_logits({-40.0}, {1}), 40.0, 1e-9);
  EXPECT_TRUE(std::isnan(log_loss_from_logits({}, {})));
}

TEST(ExpectedCalibrationError, HandWorkedTenBins) {
  // bin 0: {0.05|0} -> |0-0.05|*1; bin 1: {0.15|1, 0.12|0} -> |0.5-0.135|*2 = 0.73;
  // bin 9: {0.95|1, 1.0|1} -> |1-0.975|*2 = 0.05. Total (0.05+0.73+0.05)/5.
  EXPECT_NEAR(expected_calibration_error({0.05, 0.15, 0.12, 0.95, 1.0}, {0, 1, 0, 1, 1}), 0.166,
              1e-12);
  // Perfectly calibrated bins give 0; two bins change the grouping.
  EXPECT_NEAR(expected_calibration_error({0.25, 0.25, 0.25, 0.25}, {1, 0, 0, 0}), 0.0, 1e-12);
  EXPECT_NEAR(expected_calibration_error({0.2, 0.4, 0.9}, {0, 1, 1}, 2), (0.4 + 0.1) / 3, 1e-12);
}

TEST(BinaryMetricsJson, CombinesEverythingAndNullsUndefined) {
  const Json j = binary_metrics_json({0.0, std::log(3.0)}, {1, 0});
  EXPECT_DOUBLE_EQ(j.at("auc").get<double>(), 0.0);
  EXPECT_NEAR(j.at("log_loss").get<double>(), 1.0397207708399179, 1e-12);
  EXPECT_DOUBLE_EQ(j.at("positive_rate").get<double>(), 0.5);
  EXPECT_NEAR(j.at("mean_prediction").get<double>(), 0.625, 1e-12);
  EXPECT_EQ(j.at("n").get<int64_t>(), 2);
  EXPECT_TRUE(binary_metrics_json({1.0, 2.0}, {1, 1}).at("auc").is_null());
}

}  // namespace
}  // namespace cf::eval
