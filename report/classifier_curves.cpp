// ROC, reliability, cumulative gain and top-fraction metrics for a binary score.
#include "report/classifier_curves.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.h"

namespace cf::report {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

std::string shortest(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

void check_inputs(const std::vector<double>& scores, const std::vector<int8_t>& labels) {
  CF_CHECK(scores.size() == labels.size(), "scores and labels differ in length");
  for (int8_t label : labels) CF_CHECK(label == 0 || label == 1, "labels must be 0 or 1");
}

// The sort key of a score: NaN ranks lowest, as in eval::roc_auc.
double rank_key(double score) { return std::isnan(score) ? -kInfinity : score; }

// User indices by decreasing score; the stable sort keeps tied users in input order.
std::vector<size_t> ranking_order(const std::vector<double>& scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rank_key(scores[a]) > rank_key(scores[b]); });
  return order;
}

int64_t count_positives(const std::vector<int8_t>& labels) {
  return std::count(labels.begin(), labels.end(), int8_t{1});
}

// ceil(fraction * n), except that a product within 1e-9 of a whole number is that number: the
// user asked for an exact share, and 0.07 * 100 = 7.000000000000001 must not become 8.
int64_t users_in_fraction(double fraction, int64_t n) {
  const double exact = fraction * static_cast<double>(n);
  const double nearest = std::nearbyint(exact);
  const double whole =
      std::abs(exact - nearest) <= 1e-9 * std::max(1.0, exact) ? nearest : std::ceil(exact);
  return std::clamp(static_cast<int64_t>(whole), int64_t{1}, n);
}

}  // namespace

std::vector<RocPoint> roc_curve(const std::vector<double>& scores,
                                const std::vector<int8_t>& labels) {
  check_inputs(scores, labels);
  const int64_t positives = count_positives(labels);
  const int64_t negatives = static_cast<int64_t>(labels.size()) - positives;
  if (positives == 0 || negatives == 0) return {};

  std::vector<RocPoint> curve;
  curve.push_back({0.0, 0.0, kInfinity});
  const std::vector<size_t> order = ranking_order(scores);
  int64_t true_positives = 0, false_positives = 0;
  for (size_t start = 0; start < order.size();) {
    // Everything tied with this score crosses the threshold together.
    const double key = rank_key(scores[order[start]]);
    size_t end = start;
    for (; end < order.size() && rank_key(scores[order[end]]) == key; ++end) {
      if (labels[order[end]]) {
        ++true_positives;
      } else {
        ++false_positives;
      }
    }
    curve.push_back({static_cast<double>(false_positives) / static_cast<double>(negatives),
                     static_cast<double>(true_positives) / static_cast<double>(positives), key});
    start = end;
  }
  return curve;
}

double area_under(const std::vector<RocPoint>& curve) {
  if (curve.empty()) return kNaN;
  double area = 0;
  for (size_t i = 1; i < curve.size(); ++i) {
    const RocPoint& left = curve[i - 1];
    const RocPoint& right = curve[i];
    area += (right.false_positive_rate - left.false_positive_rate) *
            (left.true_positive_rate + right.true_positive_rate) / 2.0;
  }
  return area;
}

std::vector<ReliabilityBin> reliability_bins(const std::vector<double>& probabilities,
                                             const std::vector<int8_t>& labels, int bins) {
  check_inputs(probabilities, labels);
  CF_CHECK(bins >= 1, "need at least one reliability bin");
  const auto bin_count = static_cast<size_t>(bins);
  std::vector<double> probability_sum(bin_count, 0.0), label_sum(bin_count, 0.0);
  std::vector<int64_t> count(bin_count, 0);
  for (size_t i = 0; i < probabilities.size(); ++i) {
    CF_CHECK(!std::isnan(probabilities[i]), "a probability is NaN");
    // Exactly eval::expected_calibration_error's assignment, so the report's ECE matches eval's.
    const double p = std::clamp(probabilities[i], 0.0, 1.0);
    const auto bin = static_cast<size_t>(std::min(bins - 1, static_cast<int>(p * bins)));
    probability_sum[bin] += p;
    label_sum[bin] += labels[i] ? 1.0 : 0.0;
    ++count[bin];
  }
  std::vector<ReliabilityBin> out(bin_count);
  for (size_t b = 0; b < bin_count; ++b) {
    const auto members = static_cast<double>(count[b]);
    out[b] = {static_cast<double>(b) / bins, static_cast<double>(b + 1) / bins, count[b],
              count[b] ? probability_sum[b] / members : kNaN,
              count[b] ? label_sum[b] / members : kNaN};
  }
  return out;
}

double calibration_error(const std::vector<ReliabilityBin>& bins) {
  double weighted_gap = 0;
  int64_t total = 0;
  for (const ReliabilityBin& bin : bins) {
    if (bin.count == 0) continue;
    weighted_gap +=
        static_cast<double>(bin.count) * std::abs(bin.positive_rate - bin.mean_prediction);
    total += bin.count;
  }
  return total ? weighted_gap / static_cast<double>(total) : kNaN;
}

std::vector<GainPoint> cumulative_gain(const std::vector<double>& scores,
                                       const std::vector<int8_t>& labels, int points) {
  check_inputs(scores, labels);
  CF_CHECK(points >= 1, "need at least one gain point");
  const auto n = static_cast<int64_t>(scores.size());
  const int64_t positives = count_positives(labels);
  if (n == 0 || positives == 0) return {};

  const std::vector<size_t> order = ranking_order(scores);
  // positives_in_top[c] = positives among the c best-scored users.
  std::vector<int64_t> positives_in_top(order.size() + 1, 0);
  for (size_t c = 0; c < order.size(); ++c) {
    positives_in_top[c + 1] = positives_in_top[c] + labels[order[c]];
  }
  const auto total = static_cast<double>(positives);
  std::vector<GainPoint> curve;
  curve.reserve(static_cast<size_t>(points) + 1);
  curve.push_back({0.0, 0.0, labels[order[0]] ? static_cast<double>(n) / total : 0.0});
  for (int64_t k = 1; k <= points; ++k) {
    // k * n / points users, split into whole users and a fraction of the next one.
    const int64_t whole = k * n / points;
    const int64_t remainder = k * n % points;
    double reached = static_cast<double>(positives_in_top[static_cast<size_t>(whole)]);
    if (remainder > 0) {
      reached +=
          static_cast<double>(remainder) / points * labels[order[static_cast<size_t>(whole)]];
    }
    const double targeted = static_cast<double>(k) / points;
    const double gain = reached / total;
    curve.push_back({targeted, gain, gain / targeted});
  }
  return curve;
}

std::vector<TopFractionMetrics> top_fraction_metrics(const std::vector<double>& scores,
                                                     const std::vector<int8_t>& labels,
                                                     const std::vector<double>& fractions) {
  check_inputs(scores, labels);
  for (double fraction : fractions) {
    if (!(fraction > 0 && fraction <= 1)) {
      throw UserError("top fraction must be within (0, 1] (got " + shortest(fraction) + ")");
    }
  }
  const auto n = static_cast<int64_t>(scores.size());
  if (n == 0) return {};

  const std::vector<size_t> order = ranking_order(scores);
  const int64_t positives = count_positives(labels);
  const double base_rate = static_cast<double>(positives) / static_cast<double>(n);
  std::vector<TopFractionMetrics> out;
  out.reserve(fractions.size());
  for (double fraction : fractions) {
    const int64_t selected = users_in_fraction(fraction, n);
    int64_t hits = 0;
    for (int64_t c = 0; c < selected; ++c) hits += labels[order[static_cast<size_t>(c)]];
    const double precision = static_cast<double>(hits) / static_cast<double>(selected);
    const bool defined = positives > 0;
    out.push_back({fraction, selected, hits, precision,
                   defined ? static_cast<double>(hits) / static_cast<double>(positives) : kNaN,
                   defined ? precision / base_rate : kNaN});
  }
  return out;
}

}  // namespace cf::report
