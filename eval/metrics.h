// Offline metrics: target ranks under full / sampled ranking, HR@K / NDCG@K / MRR accumulation,
// and binary metrics (AUC, log loss, expected calibration error) for the propensity head.
#pragma once
#include <cstdint>
#include <vector>

#include "core/json.h"

namespace cf::eval {

// Cut-offs reported for HR@K and NDCG@K.
inline const std::vector<int>& default_cutoffs() {
  static const std::vector<int> ks = {1, 5, 10, 20, 50};
  return ks;
}

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

// Area under the ROC curve via the Mann-Whitney rank statistic: the probability that a random
// positive scores above a random negative, ties counted one half (average ranks). NaN when
// either class is absent. `labels` are 0/1.
double roc_auc(const std::vector<double>& scores, const std::vector<int8_t>& labels);

// Mean binary cross-entropy computed from logits, in the overflow-free form
// softplus(z) - y*z (natural log). NaN for empty input.
double log_loss_from_logits(const std::vector<double>& logits, const std::vector<int8_t>& labels);

// Expected calibration error with `bins` equal-width probability bins over [0, 1] (p = 1 falls
// into the last bin): sum over bins of (n_bin / n) * |mean label - mean probability|.
double expected_calibration_error(const std::vector<double>& probabilities,
                                  const std::vector<int8_t>& labels, int bins = 10);

double sigmoid(double logit);

// The propensity summary: {"auc", "log_loss", "ece", "positive_rate", "mean_prediction", "n"}
// from logits and 0/1 labels (undefined values, e.g. AUC with one class, become null).
Json binary_metrics_json(const std::vector<double>& logits, const std::vector<int8_t>& labels,
                         int calibration_bins = 10);

}  // namespace cf::eval
