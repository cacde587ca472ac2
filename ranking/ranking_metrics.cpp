#include "ranking/ranking_metrics.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace cf::ranking {

int score_batch_rows(int max_rows, int32_t num_items) {
  constexpr int64_t kMaxScoreFloats = int64_t{64} << 20;  // 256 MiB of float scores
  return static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>(max_rows, kMaxScoreFloats / std::max<int32_t>(num_items, 1))));
}

int64_t full_rank(const float* scores, int32_t num_items, int32_t target,
                  const uint8_t* excluded) {
  CF_CHECK(target > 0 && target < num_items, "target token out of range");
  const float target_score = scores[target];
  int64_t candidates = 0, above = 0;
  for (int32_t j = 1; j < num_items; ++j) {
    if (j == target || (excluded && excluded[j])) continue;
    ++candidates;
    above += scores[j] >= target_score ? 1 : 0;  // false for NaN on either side
  }
  if (std::isnan(target_score)) return 1 + candidates;
  return 1 + above;
}

void full_ranks_with_bonus(const float* scores, int32_t num_items, int32_t target,
                           const uint8_t* excluded,
                           const std::vector<std::pair<int32_t, float>>& bonus,
                           const float* weights, int num_weights, int64_t* ranks) {
  CF_CHECK(target > 0 && target < num_items, "target token out of range");
  CF_CHECK(num_weights >= 1 && num_weights <= 16, "between 1 and 16 weights");
  float target_bonus = 0.0f;
  for (const auto& [item, b] : bonus) {
    if (item == target) target_bonus = b;
  }
  const bool target_has_bonus = target_bonus != 0.0f;
  float threshold[16];
  for (int w = 0; w < num_weights; ++w) {
    threshold[w] = target_has_bonus ? scores[target] + weights[w] * target_bonus : scores[target];
  }
  // Every candidate as if it had no bonus...
  int64_t candidates = 0, above[16] = {0};
  for (int32_t j = 1; j < num_items; ++j) {
    if (j == target || (excluded && excluded[j])) continue;
    ++candidates;
    const float s = scores[j];
    for (int w = 0; w < num_weights; ++w) above[w] += s >= threshold[w] ? 1 : 0;
  }
  // ...then the candidates with one, recounted with it.
  for (const auto& [j, b] : bonus) {
    if (j <= 0 || j >= num_items || j == target || (excluded && excluded[j])) continue;
    const float s = scores[j];
    for (int w = 0; w < num_weights; ++w) {
      const float fused = s + weights[w] * b;
      above[w] += (fused >= threshold[w] ? 1 : 0) - (s >= threshold[w] ? 1 : 0);
    }
  }
  for (int w = 0; w < num_weights; ++w) {
    ranks[w] = std::isnan(threshold[w]) ? 1 + candidates : 1 + above[w];
  }
}

int64_t sampled_rank(const float* scores, int32_t target, const std::vector<int32_t>& negatives) {
  const float target_score = scores[target];
  if (std::isnan(target_score)) return 1 + static_cast<int64_t>(negatives.size());
  int64_t above = 0;
  for (int32_t j : negatives) above += scores[j] >= target_score ? 1 : 0;
  return 1 + above;
}

RankingAccumulator::RankingAccumulator(std::vector<int> cutoffs)
    : cutoffs_(std::move(cutoffs)), hits_(cutoffs_.size(), 0.0), gains_(cutoffs_.size(), 0.0) {}

void RankingAccumulator::add(int64_t rank) {
  CF_CHECK(rank >= 1, "ranks start at 1");
  for (size_t i = 0; i < cutoffs_.size(); ++i) {
    if (rank <= cutoffs_[i]) {
      hits_[i] += 1.0;
      gains_[i] += 1.0 / std::log2(static_cast<double>(rank) + 1.0);
    }
  }
  reciprocal_rank_sum_ += 1.0 / static_cast<double>(rank);
  ++count_;
}

void RankingAccumulator::merge(const RankingAccumulator& other) {
  CF_CHECK(other.cutoffs_ == cutoffs_, "merging accumulators with different cut-offs");
  for (size_t i = 0; i < cutoffs_.size(); ++i) {
    hits_[i] += other.hits_[i];
    gains_[i] += other.gains_[i];
  }
  reciprocal_rank_sum_ += other.reciprocal_rank_sum_;
  count_ += other.count_;
}

size_t RankingAccumulator::cutoff_index(int k) const {
  auto it = std::find(cutoffs_.begin(), cutoffs_.end(), k);
  CF_CHECK(it != cutoffs_.end(), "cut-off not tracked: " + std::to_string(k));
  return static_cast<size_t>(it - cutoffs_.begin());
}

double RankingAccumulator::hit_rate(int k) const {
  return count_ ? hits_[cutoff_index(k)] / static_cast<double>(count_) : 0.0;
}

double RankingAccumulator::ndcg(int k) const {
  return count_ ? gains_[cutoff_index(k)] / static_cast<double>(count_) : 0.0;
}

double RankingAccumulator::mrr() const {
  return count_ ? reciprocal_rank_sum_ / static_cast<double>(count_) : 0.0;
}

Json RankingAccumulator::to_json() const {
  Json out = Json::object();
  for (int k : cutoffs_) out["hr@" + std::to_string(k)] = hit_rate(k);
  for (int k : cutoffs_) out["ndcg@" + std::to_string(k)] = ndcg(k);
  out["mrr"] = mrr();
  out["n"] = count_;
  return out;
}

}  // namespace cf::ranking
