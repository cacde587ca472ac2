// Ranking metrics: the rank of a held-out item under full or sampled ranking (pessimistic
// ties) and HR@K / NDCG@K / MRR accumulation. Pure functions of scores, with no model or corpus
// behind them, so both offline evaluation (eval/) and validation during training (trainer/) use
// the same code.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "core/json.h"

namespace cf::ranking {

// Cut-offs reported for HR@K and NDCG@K.
inline const std::vector<int>& default_cutoffs() {
  static const std::vector<int> ks = {1, 5, 10, 20, 50};
  return ks;
}

// Users scored per model call when each needs a row of scores over `num_items` items: at most
// `max_rows`, fewer when the catalogue is so large that the score buffer would pass 256 MiB,
// and at least 1. Offline evaluation and validation during training batch alike, so the same
// users share a model call in both.
int score_batch_rows(int max_rows, int32_t num_items);

// Rank (1 = best) of `target` among the candidate items 1..num_items-1 (token 0 is padding and
// never a candidate). Items whose `excluded` mark is non-zero are removed from the candidate set,
// except the target itself, which is always ranked; `excluded` may be null (no filtering).
//
// Ties are pessimistic: every other candidate whose score is >= the target's counts as ranked
// above it, so rank = 1 + #{j != target candidate : score[j] >= score[target]}. A constant
// scorer therefore gets the worst rank, never a lucky one. A NaN target score also ranks last;
// NaN scores of other items never count above the target.
int64_t full_rank(const float* scores, int32_t num_items, int32_t target,
                  const uint8_t* excluded);

// full_rank(scores, ..., excluded) and full_rank(scores, ..., nullptr) from one pass.
void full_ranks_filtered_and_not(const float* scores, int32_t num_items, int32_t target,
                                 const uint8_t* excluded, int64_t* filtered, int64_t* unfiltered);

// A fixed score row, sorted, for ranking against rows that differ from it in a few items
// (full_ranks_over_base).
class SortedScores {
 public:
  // `base[1..num_items)`; NaN scores are left out (they never count above a target).
  SortedScores(const float* base, int32_t num_items);
  // How many of those items score >= t (0 for a NaN t).
  int64_t count_at_least(float t) const;

 private:
  std::vector<float> sorted_;
};

// full_ranks_filtered_and_not(scores, ...) for a row that equals `base` except at the items in
// `changed`, without a pass over the catalogue: O(|changed| + |excluded| + log num_items).
// `changed` and `excluded` list distinct items in [1, num_items); `excluded` lists exactly the
// items whose mark full_ranks_filtered_and_not would see set. The ranks are the same, to the
// last tie and NaN rule.
void full_ranks_over_base(const float* scores, const float* base, const SortedScores& sorted_base,
                          int32_t num_items, int32_t target, const std::vector<int32_t>& changed,
                          const std::vector<int32_t>& excluded, int64_t* filtered,
                          int64_t* unfiltered);

// full_rank of the scores with an additive sparse term, for several weights at once: ranks[w] =
// full_rank(fused_w) where fused_w[j] = scores[j] + weights[w] * bonus_j (float arithmetic, as
// CooccurrenceTable::add_log_prior computes it) for the items listed in `bonus` (item, bonus_j;
// ascending items, each once) and fused_w[j] = scores[j] for every other item. One pass over the
// catalogue serves every weight.
void full_ranks_with_bonus(const float* scores, int32_t num_items, int32_t target,
                           const uint8_t* excluded,
                           const std::vector<std::pair<int32_t, float>>& bonus,
                           const float* weights, int num_weights, int64_t* ranks);

// Rank of the target among itself and the given negatives (1 + #{negatives scoring >= target}),
// with the same pessimistic ties and NaN rule as full_rank.
int64_t sampled_rank(const float* scores, int32_t target, const std::vector<int32_t>& negatives);

// Accumulates per-user ranks into HR@K = share of users with rank <= K,
// NDCG@K = mean of 1/log2(rank+1) when rank <= K (else 0; one relevant item so IDCG = 1) and
// MRR = mean of 1/rank over the full ranking (no cut-off).
class RankingAccumulator {
 public:
  explicit RankingAccumulator(std::vector<int> cutoffs = default_cutoffs());
  void add(int64_t rank);
  void merge(const RankingAccumulator& other);  // same cutoffs required
  int64_t count() const { return count_; }
  double hit_rate(int k) const;
  double ndcg(int k) const;
  double mrr() const;
  const std::vector<int>& cutoffs() const { return cutoffs_; }
  // {"hr@1": …, "ndcg@1": …, …, "mrr": …, "n": users}; rates are 0 when nothing was added.
  Json to_json() const;

 private:
  size_t cutoff_index(int k) const;
  std::vector<int> cutoffs_;
  std::vector<double> hits_, gains_;  // per cut-off sums
  double reciprocal_rank_sum_ = 0;
  int64_t count_ = 0;
};

}  // namespace cf::ranking
