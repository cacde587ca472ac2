// Bootstrap confidence intervals over users: per-metric means, paired differences between two
// models on the same users, and the generic form for statistics that are not means (AUC).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace cf::report {

struct Interval {
  double estimate, lower, upper;
};

struct BootstrapOptions {
  int resamples = 1000;  // >= 10
  double level = 0.95;   // in (0, 1)
  uint64_t seed = 1234;
};

// How every function below resamples:
//  - Resample r draws n user indices uniformly with replacement from a generator seeded by
//    (options.seed, r) alone, so results are identical on every run and for every OpenMP thread
//    count, and the four functions draw the same user sets for the same seed (bootstrap_statistic
//    with a mean agrees with bootstrap_means up to rounding).
//  - All statistics of one call share each resample's users, so their intervals are consistent
//    with each other (e.g. HR@10 <= HR@20 holds in every resample).
//  - Intervals are percentile intervals: the (1 - level) / 2 and (1 + level) / 2 quantiles of
//    the resampled statistics, interpolated linearly between order statistics.
//  - resamples < 10 or level outside (0, 1) is a UserError (both come from the command line).

// per_user[m][u] = metric m's value for user u (e.g. 1 if the target is in the top 10, the
// user's NDCG@10 gain, 1/rank); every metric has the same n users (CF_CHECK). Each statistic is
// the mean over users; estimate = the mean of the original sample. n = 0: every value is NaN.
std::vector<Interval> bootstrap_means(const std::vector<std::vector<double>>& per_user,
                                      const BootstrapOptions& options);

// A paired comparison of model a and model b: a and b are their means on the original sample,
// difference = b - a, [lower, upper] the percentile interval of the resampled difference, and
// significant iff that interval excludes 0 (lower > 0 or upper < 0).
struct PairedDifference {
  double a, b, difference, lower, upper;
  bool significant;
};

// a[m][u] and b[m][u] are metric m for the SAME user u under the two models (same shape,
// CF_CHECK). Each resample draws users once and takes the difference of the two means on those
// users, so per-user noise common to both models cancels. n = 0: every value is NaN and nothing
// is significant.
std::vector<PairedDifference> paired_bootstrap(const std::vector<std::vector<double>>& a,
                                               const std::vector<std::vector<double>>& b,
                                               const BootstrapOptions& options);

// statistic(indices) computes the statistic vector on a resample given as user indices in
// [0, n) (with repetition, in draw order); it must return the same number of values every time.
using ResampleStatistic = std::function<std::vector<double>(const std::vector<int64_t>&)>;

// Generic bootstrap for statistics that are not means (e.g. AUC). The estimate is statistic()
// on the identity sample 0..n-1. The statistic is called concurrently from several OpenMP
// threads, so it must be safe to call in parallel (read shared data, keep its scratch local);
// an exception it throws is rethrown to the caller. A NaN it returns for a resample (AUC of a
// resample that drew one class only) is left out of that statistic's percentiles; if every
// resample is NaN, so is the interval. n = 0: estimate = statistic({}), lower/upper NaN.
std::vector<Interval> bootstrap_statistic(int64_t n, const ResampleStatistic& statistic,
                                          const BootstrapOptions& options);

// Paired version: statistic_a and statistic_b (same length, CF_CHECK) are evaluated on the same
// resampled users; the interval is that of statistic_b - statistic_a. Same rules as
// bootstrap_statistic (NaN differences left out; n = 0: a, b and difference from the empty
// sample, interval NaN, not significant).
std::vector<PairedDifference> paired_bootstrap_statistic(int64_t n,
                                                         const ResampleStatistic& statistic_a,
                                                         const ResampleStatistic& statistic_b,
                                                         const BootstrapOptions& options);

}  // namespace cf::report
