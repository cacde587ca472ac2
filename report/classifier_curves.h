// Curves for a binary score (purchase propensity): ROC, reliability bins, cumulative gain/lift and
// precision/recall/lift among the top-scored users, for the evaluation report's charts and tables.
#pragma once
#include <cstdint>
#include <vector>

namespace cf::report {

// Common rules for every function below:
//  - `scores` / `probabilities` and `labels` have the same length and labels are 0 or 1
//    (CF_CHECK: these come from the evaluator, not from the user).
//  - A NaN score ranks below every other score (as in eval::roc_auc), so a broken prediction
//    is never counted as a confident one.

// One point of an ROC curve: the rates obtained by calling positive every user whose score is
// >= threshold.
struct RocPoint {
  double false_positive_rate, true_positive_rate, threshold;
};

// One point per distinct score, by decreasing threshold, from (0, 0) (threshold +inf) to (1, 1)
// (threshold = the lowest score; -inf when that score is NaN). Tied scores form one point, so
// the curve crosses a tie group on a diagonal segment: that is what makes its trapezoidal area
// equal the tie-aware Mann-Whitney AUC. Empty when either class is absent (n = 0 included),
// because one of the two rates is then undefined.
std::vector<RocPoint> roc_curve(const std::vector<double>& scores,
                                const std::vector<int8_t>& labels);

// Trapezoidal area under a curve from roc_curve; equals eval::roc_auc on the same data (up to
// rounding). NaN for an empty curve (one class absent), as eval::roc_auc.
double area_under(const std::vector<RocPoint>& curve);

// One equal-width probability bin [lower, upper) (the last bin also holds p = 1).
// mean_prediction and positive_rate are NaN when count is 0.
struct ReliabilityBin {
  double lower, upper;
  int64_t count;
  double mean_prediction, positive_rate;
};

// `bins` equal-width bins over [0, 1] with exactly eval::expected_calibration_error's
// assignment: p is clamped to [0, 1] and goes to bin min(bins - 1, floor(p * bins)). Always
// returns `bins` entries (all empty when n = 0). `bins` >= 1 and no probability may be NaN
// (CF_CHECK).
std::vector<ReliabilityBin> reliability_bins(const std::vector<double>& probabilities,
                                             const std::vector<int8_t>& labels, int bins = 10);

// sum over non-empty bins of (count / n) * |positive_rate - mean_prediction|: equals
// eval::expected_calibration_error with the same bins (up to rounding). NaN when every bin is
// empty (n = 0), as eval.
double calibration_error(const std::vector<ReliabilityBin>& bins);

// A point of the cumulative gain curve: targeting the best-scored `fraction_targeted` of users
// reaches `fraction_of_positives` of all positives; lift = fraction_of_positives /
// fraction_targeted (1 = no better than random targeting).
struct GainPoint {
  double fraction_targeted, fraction_of_positives, lift;
};

// Users are ranked by score, highest first; tied scores keep their input order (a stable sort),
// so the curve is deterministic but depends on the order of tied users.
//
// Returns points + 1 entries: the origin, then the fractions k / points for k = 1..points
// exactly. Where k * n / points is not a whole number of users, the gain is interpolated
// linearly between the neighbouring whole-user counts (the chart's straight segment between
// users). The origin's lift is the limit as the fraction tends to 0: n / positives when the
// top-ranked user is a positive, else 0. Empty when n = 0 or there are no positives (the gain is
// then undefined). `points` >= 1 (CF_CHECK).
std::vector<GainPoint> cumulative_gain(const std::vector<double>& scores,
                                       const std::vector<int8_t>& labels, int points = 50);

// The shares of users reported by default: the top 1%, 5%, 10% and 20%.
inline const std::vector<double>& default_top_fractions() {
  static const std::vector<double> fractions = {0.01, 0.05, 0.10, 0.20};
  return fractions;
}

// The outcome of targeting the `selected` best-scored users: precision = positives / selected,
// recall = positives / all positives, lift = precision / overall positive rate.
struct TopFractionMetrics {
  double fraction;
  int64_t selected, positives;
  double precision, recall, lift;
};

// For each fraction in (0, 1]: selected = ceil(fraction * n) users with the highest scores (at
// least 1, ranked and tie-broken as in cumulative_gain). fraction * n within 1e-9 of a whole
// number counts as that number, so 0.07 * 100 selects 7 users, not 8 through binary rounding.
// Empty when n = 0. With no positives, recall and lift are NaN (undefined) and precision is 0.
// A fraction outside (0, 1] is a UserError (fractions can come from the command line).
std::vector<TopFractionMetrics> top_fraction_metrics(
    const std::vector<double>& scores, const std::vector<int8_t>& labels,
    const std::vector<double>& fractions = default_top_fractions());

}  // namespace cf::report
