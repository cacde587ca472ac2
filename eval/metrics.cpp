#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace cf::eval {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

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

double roc_auc(const std::vector<double>& scores, const std::vector<int8_t>& labels) {
  CF_CHECK(scores.size() == labels.size(), "scores and labels differ in length");
  const size_t n = scores.size();
  // A NaN score would break the sort's ordering; it ranks lowest instead.
  std::vector<double> keys(scores);
  for (double& k : keys) {
    if (std::isnan(k)) k = -std::numeric_limits<double>::infinity();
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  // Sum of the (1-based, tie-averaged) ranks of the positives.
  double positive_rank_sum = 0;
  int64_t positives = 0;
  for (size_t start = 0; start < n;) {
    size_t end = start + 1;
    while (end < n && keys[order[end]] == keys[order[start]]) ++end;
    const double average_rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
    for (size_t i = start; i < end; ++i) {
      if (labels[order[i]]) {
        positive_rank_sum += average_rank;
        ++positives;
      }
    }
    start = end;
  }
  const int64_t negatives = static_cast<int64_t>(n) - positives;
  if (positives == 0 || negatives == 0) return kNaN;
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1.0) / 2.0) / (p * static_cast<double>(negatives));
}

double log_loss_from_logits(const std::vector<double>& logits, const std::vector<int8_t>& labels) {
  CF_CHECK(logits.size() == labels.size(), "logits and labels differ in length");
  if (logits.empty()) return kNaN;
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double z = logits[i];
    // softplus(z) = max(z, 0) + log1p(exp(-|z|)) never overflows.
    const double softplus = std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z)));
    sum += softplus - (labels[i] ? z : 0.0);
  }
  return sum / static_cast<double>(logits.size());
}

double expected_calibration_error(const std::vector<double>& probabilities,
                                  const std::vector<int8_t>& labels, int bins) {
  CF_CHECK(probabilities.size() == labels.size(), "probabilities and labels differ in length");
  CF_CHECK(bins > 0, "need at least one bin");
  if (probabilities.empty()) return kNaN;
  std::vector<double> probability_sum(bins, 0.0), label_sum(bins, 0.0);
  std::vector<int64_t> count(bins, 0);
  for (size_t i = 0; i < probabilities.size(); ++i) {
    const double p = std::clamp(probabilities[i], 0.0, 1.0);
    const int bin = std::min(bins - 1, static_cast<int>(p * bins));
    probability_sum[bin] += p;
    label_sum[bin] += labels[i] ? 1.0 : 0.0;
    ++count[bin];
  }
  double ece = 0;
  for (int b = 0; b < bins; ++b) {
    if (!count[b]) continue;
    ece += std::abs(label_sum[b] - probability_sum[b]);  // = n_b * |mean label - mean p|
  }
  return ece / static_cast<double>(probabilities.size());
}

double sigmoid(double logit) {
  return logit >= 0 ? 1.0 / (1.0 + std::exp(-logit)) : std::exp(logit) / (1.0 + std::exp(logit));
}

Json binary_metrics_json(const std::vector<double>& logits, const std::vector<int8_t>& labels,
                         int calibration_bins) {
  std::vector<double> probabilities(logits.size());
  double positives = 0, prediction_sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probabilities[i] = sigmoid(logits[i]);
    prediction_sum += probabilities[i];
    positives += labels[i] ? 1.0 : 0.0;
  }
  const double n = static_cast<double>(logits.size());
  Json out = Json::object();
  out["auc"] = json_number_or_null(roc_auc(logits, labels));
  out["log_loss"] = json_number_or_null(log_loss_from_logits(logits, labels));
  out["ece"] = json_number_or_null(expected_calibration_error(probabilities, labels, calibration_bins));
  out["positive_rate"] = json_number_or_null(n > 0 ? positives / n : kNaN);
  out["mean_prediction"] = json_number_or_null(n > 0 ? prediction_sum / n : kNaN);
  out["n"] = static_cast<int64_t>(logits.size());
  return out;
}

}  // namespace cf::eval
