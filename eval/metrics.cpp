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
