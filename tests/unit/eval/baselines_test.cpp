// Popularity and co-occurrence baselines on hand-made sequences with hand-computed scores.
#include "eval/baselines.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "eval/metrics.h"

namespace cf::eval {
namespace {

TEST(PopularityBaseline, ScoresAreTrainingCountsForEveryUser) {
  const std::vector<int64_t> counts = {0, 5, 3, 3, 1, 0};
  PopularityBaseline pop(counts);
  EXPECT_EQ(pop.num_items(), 6);
  std::vector<float> a(6), b(6);
  const int32_t h1[] = {1, 2};
  const int32_t h2[] = {4};
  pop.score(h1, 2, a.data());
  pop.score(h2, 1, b.data());
  EXPECT_TRUE(std::isinf(a[0]) && a[0] < 0);
  for (int j = 1; j < 6; ++j) {
    EXPECT_EQ(a[j], static_cast<float>(counts[j]));
    EXPECT_EQ(a[j], b[j]);
  }
  // Ranking: the most popular is first; 2 and 3 tie at 3 (pessimistic: both rank 3).
  EXPECT_EQ(full_rank(a.data(), 6, 1, nullptr), 1);
  EXPECT_EQ(full_rank(a.data(), 6, 2, nullptr), 3);
  EXPECT_EQ(full_rank(a.data(), 6, 3, nullptr), 3);
  EXPECT_EQ(full_rank(a.data(), 6, 5, nullptr), 5);
}

CooccurrenceBaseline tiny_cooccurrence() {
  CooccurrenceParams params;
  params.window = 2;
  params.recent_items = 2;
  CooccurrenceBaseline co({0, 5, 3, 2, 1, 0}, params);
  const std::vector<int32_t> a = {1, 2, 3};
  const std::vector<int32_t> b = {2, 3, 1, 2};
  co.add_sequence(a.data(), 3);
  co.add_sequence(b.data(), 4);
  co.finalize();
  return co;
}

TEST(CooccurrenceBaseline, CountsFollowersWithinTheWindowWeightedByGap) {
  // A = 1 2 3: 1->2 (1), 1->3 (1/2), 2->3 (1).
  // B = 2 3 1 2: 2->3 (1), 2->1 (1/2), 3->1 (1), 3->2 (1/2), 1->2 (1).
  const CooccurrenceBaseline co = tiny_cooccurrence();
  EXPECT_FLOAT_EQ(co.weight(1, 2), 2.0f);
  EXPECT_FLOAT_EQ(co.weight(1, 3), 0.5f);
  EXPECT_FLOAT_EQ(co.weight(2, 3), 2.0f);
  EXPECT_FLOAT_EQ(co.weight(2, 1), 0.5f);
  EXPECT_FLOAT_EQ(co.weight(3, 1), 1.0f);
  EXPECT_FLOAT_EQ(co.weight(3, 2), 0.5f);
  EXPECT_FLOAT_EQ(co.weight(2, 2), 0.0f);  // the B sequence's 2..2 gap is 3 > window
  EXPECT_FLOAT_EQ(co.weight(3, 3), 0.0f);
  EXPECT_FLOAT_EQ(co.weight(4, 1), 0.0f);
  EXPECT_EQ(co.num_pairs(), 6);
}

TEST(CooccurrenceBaseline, ScoresSumRecentItemsRowsWithRecencyAndPopularityBackoff) {
  const CooccurrenceBaseline co = tiny_cooccurrence();
  // History 4 3 2: r=1 is item 2 (weight 1), r=2 is item 3 (weight 1/2); 4 is too old.
  // Back-off: 1e-3/(2*2) * count/(1+5).
  const int32_t history[] = {4, 3, 2};
  std::vector<float> s(6);
  co.score(history, 3, s.data());
  const double eps = 2.5e-4 / 6;
  EXPECT_TRUE(std::isinf(s[0]) && s[0] < 0);
  EXPECT_NEAR(s[1], 0.5 + 0.5 * 1.0 + eps * 5, 1e-6);  // C[2][1] + C[3][1]/2
  EXPECT_NEAR(s[2], 0.5 * 0.5 + eps * 3, 1e-6);        // C[3][2]/2
  EXPECT_NEAR(s[3], 2.0 + eps * 2, 1e-6);              // C[2][3]
  EXPECT_NEAR(s[4], eps * 1, 1e-9);
  EXPECT_NEAR(s[5], 0.0, 1e-12);
  // Back-off orders the zero-co-occurrence items by popularity.
  EXPECT_GT(s[4], s[5]);
  EXPECT_EQ(full_rank(s.data(), 6, 3, nullptr), 1);
  EXPECT_EQ(full_rank(s.data(), 6, 4, nullptr), 4);
}

TEST(CooccurrenceBaseline, EmptyHistoryFallsBackToPopularityOrder) {
  const CooccurrenceBaseline co = tiny_cooccurrence();
  std::vector<float> s(6);
  co.score(nullptr, 0, s.data());
  EXPECT_GT(s[1], s[2]);
  EXPECT_GT(s[2], s[3]);
  EXPECT_GT(s[3], s[4]);
  EXPECT_GT(s[4], s[5]);
}

// eval ranks the baselines from their base row and the items a history changes; that form
// must give score()'s row to the bit, list each changed item once, and nothing else.
TEST(HistoryScorer, BasePlusChangesIsTheDenseScoreBitForBit) {
  std::mt19937 rng(5);
  const int32_t n = 60;
  std::vector<int64_t> counts(static_cast<size_t>(n));
  for (auto& c : counts) c = rng() % 40;
  CooccurrenceBaseline co(counts, CooccurrenceParams{});
  for (int s = 0; s < 200; ++s) {
    std::vector<int32_t> seq(static_cast<size_t>(2 + rng() % 12));
    for (auto& item : seq) item = static_cast<int32_t>(rng() % n);
    co.add_sequence(seq.data(), static_cast<int32_t>(seq.size()));
  }
  co.finalize();
  const PopularityBaseline pop(counts);
  const HistoryScorer* scorers[] = {&pop, &co};
  for (const HistoryScorer* scorer : scorers) {
    std::vector<float> row = scorer->base(), dense(static_cast<size_t>(n));
    std::vector<int32_t> changed;
    for (int user = 0; user < 50; ++user) {
      std::vector<int32_t> history(static_cast<size_t>(rng() % 8));
      for (auto& item : history) item = static_cast<int32_t>(rng() % n);
      const int32_t length = static_cast<int32_t>(history.size());
      scorer->score(history.data(), length, dense.data());
      scorer->change(history.data(), length, row.data(), changed);
      std::vector<int32_t> distinct = changed;
      std::sort(distinct.begin(), distinct.end());
      EXPECT_EQ(std::unique(distinct.begin(), distinct.end()), distinct.end()) << scorer->name();
      for (int32_t j = 0; j < n; ++j) {
        const bool listed = std::count(changed.begin(), changed.end(), j) == 1;
        // Bit equality (also for -inf at padding); unlisted items keep the base.
        EXPECT_EQ(std::memcmp(&row[j], &dense[j], sizeof(float)), 0) << scorer->name() << " " << j;
        if (!listed) {
          EXPECT_EQ(row[j], scorer->base()[j]) << scorer->name() << " " << j;
        }
      }
      for (int32_t j : changed) row[j] = scorer->base()[j];
    }
  }
}

TEST(CooccurrenceBaseline, IgnoresPaddingAndOutOfVocabularyTokens) {
  CooccurrenceBaseline co({0, 1, 1}, CooccurrenceParams{});
  const std::vector<int32_t> seq = {1, 0, 7, 2};
  co.add_sequence(seq.data(), 4);
  co.finalize();
  EXPECT_FLOAT_EQ(co.weight(1, 2), 1.0f / 3);  // gap 3, window 3
  EXPECT_EQ(co.num_pairs(), 1);
}

TEST(CooccurrenceBaseline, LongSequencesCompactToTheSameCounts) {
  // Many repeats of a short cycle force in-place compaction while building.
  CooccurrenceBaseline co({0, 1, 1, 1}, CooccurrenceParams{});
  std::vector<int32_t> seq;
  for (int i = 0; i < 30000; ++i) seq.push_back(1 + i % 3);
  co.add_sequence(seq.data(), static_cast<int32_t>(seq.size()));
  co.finalize();
  // Item 1 sits at positions 0,3,...,29997 (10000 times): gap 1 -> 2, gap 2 -> 3 every time,
  // gap 3 -> 1 for all but the last occurrence (9999 times, weight 1/3 each).
  EXPECT_FLOAT_EQ(co.weight(1, 2), 10000.0f);
  EXPECT_FLOAT_EQ(co.weight(1, 3), 10000.0f * 0.5f);
  EXPECT_FLOAT_EQ(co.weight(1, 1), 9999.0f / 3.0f);
  EXPECT_EQ(co.num_pairs(), 9);
}

// The co-occurrence prior's terms are the baseline's history score without the back-off, in
// sparse form, and add_log_prior adds weight * log(1 + S) to exactly those items.
TEST(CooccurrencePrior, SparseTermsAreTheHistoryScoreAndTheLogPriorAddsOnlyThem) {
  const CooccurrenceBaseline co = tiny_cooccurrence();
  const int32_t history[] = {4, 3, 2};
  std::vector<std::pair<int32_t, float>> sparse;
  co.table().history_scores(history, 3, sparse);
  // By hand (see ScoresSumRecentItemsRows...): S(1) = 1.0, S(2) = 0.25, S(3) = 2.0.
  ASSERT_EQ(sparse.size(), 3u);
  EXPECT_EQ(sparse[0].first, 1);
  EXPECT_FLOAT_EQ(sparse[0].second, 1.0f);
  EXPECT_EQ(sparse[1].first, 2);
  EXPECT_FLOAT_EQ(sparse[1].second, 0.25f);
  EXPECT_EQ(sparse[2].first, 3);
  EXPECT_FLOAT_EQ(sparse[2].second, 2.0f);
  std::vector<float> dense(6, 0.0f);
  co.table().add_history_scores(history, 3, dense.data());
  for (const auto& [item, s] : sparse) EXPECT_EQ(dense[size_t(item)], s);  // the same sums
  EXPECT_EQ(dense[4], 0.0f);
  EXPECT_EQ(dense[5], 0.0f);

  std::vector<float> scores = {0.0f, 0.5f, -1.0f, 0.0f, 3.0f, 2.0f};
  std::vector<std::pair<int32_t, float>> scratch;
  co.table().add_log_prior(history, 3, 2.0f, scores.data(), scratch);
  EXPECT_FLOAT_EQ(scores[1], 0.5f + 2.0f * std::log(2.0f));
  EXPECT_FLOAT_EQ(scores[2], -1.0f + 2.0f * std::log(1.25f));
  EXPECT_FLOAT_EQ(scores[3], 0.0f + 2.0f * std::log(3.0f));
  EXPECT_EQ(scores[4], 3.0f);  // no co-occurrence: unchanged
  EXPECT_EQ(scores[5], 2.0f);
  EXPECT_EQ(scores[0], 0.0f);
  // Weight 0 changes nothing, and an empty history has no terms.
  std::vector<float> same = {0.0f, 0.5f, -1.0f, 0.0f, 3.0f, 2.0f};
  co.table().add_log_prior(history, 3, 0.0f, same.data(), scratch);
  EXPECT_EQ(same, (std::vector<float>{0.0f, 0.5f, -1.0f, 0.0f, 3.0f, 2.0f}));
  co.table().log_prior_terms(nullptr, 0, scratch);
  EXPECT_TRUE(scratch.empty());
}

// full_ranks_with_bonus equals full_rank of the materialised fused scores for every weight,
// with filtering, ties and a target with and without a bonus, on random data.
TEST(CooccurrencePrior, RanksForManyWeightsEqualFullRankOfTheFusedScores) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
  const int32_t n = 300;
  const float weights[] = {0.0f, 0.25f, 0.5f, 1.0f, 2.0f, 4.0f, 8.0f};
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> scores(static_cast<size_t>(n));
    // Coarse values make ties common.
    for (auto& s : scores) s = std::round(uniform(rng) * 4.0f) / 4.0f;
    std::vector<uint8_t> excluded(static_cast<size_t>(n), 0);
    for (int k = 0; k < 20; ++k) excluded[size_t(1 + rng() % (n - 1))] = 1;
    std::vector<std::pair<int32_t, float>> bonus;
    for (int32_t j = 1; j < n; ++j) {
      if (rng() % 5 == 0) bonus.emplace_back(j, std::log1p(std::fabs(uniform(rng))));
    }
    const int32_t target = trial % 2 == 0 && !bonus.empty() ? bonus[size_t(trial) % bonus.size()].first
                                                             : int32_t(1 + rng() % (n - 1));
    int64_t got[7];
    ranking::full_ranks_with_bonus(scores.data(), n, target, trial % 3 == 0 ? nullptr : excluded.data(),
                          bonus, weights, 7, got);
    for (int w = 0; w < 7; ++w) {
      std::vector<float> fused = scores;
      for (const auto& [j, b] : bonus) fused[size_t(j)] = scores[size_t(j)] + weights[w] * b;
      EXPECT_EQ(got[w], full_rank(fused.data(), n, target,
                                  trial % 3 == 0 ? nullptr : excluded.data()))
          << "trial " << trial << " weight " << weights[w];
    }
  }
}

}  // namespace
}  // namespace cf::eval
