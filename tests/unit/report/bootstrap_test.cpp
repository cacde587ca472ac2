// Bootstrap intervals: estimates, 1/sqrt(n) widths, the normal approximation, determinism,
// pairing, the generic statistic form and the option errors.
#include "report/bootstrap.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "eval/metrics.h"
#include "unit/user_error_of.h"

namespace cf::report {
namespace {

double uniform01(Xoshiro256& generator) {
  return static_cast<double>(generator.next() >> 11) * 0x1.0p-53;
}

std::vector<double> bernoulli(size_t n, double p, uint64_t seed) {
  Xoshiro256 generator(seed);
  std::vector<double> values(n);
  for (double& value : values) value = uniform01(generator) < p ? 1.0 : 0.0;
  return values;
}

double mean_of(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

double standard_deviation(const std::vector<double>& values) {
  const double mean = mean_of(values);
  double squares = 0;
  for (double value : values) squares += (value - mean) * (value - mean);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

double half_width(const Interval& interval) { return (interval.upper - interval.lower) / 2; }

// The mean of every metric over the resampled users, as a generic statistic.
ResampleStatistic means_of(const std::vector<std::vector<double>>& per_user) {
  return [&per_user](const std::vector<int64_t>& users) {
    std::vector<double> means;
    for (const auto& row : per_user) {
      double sum = 0;
      for (int64_t user : users) sum += row[static_cast<size_t>(user)];
      means.push_back(sum / static_cast<double>(users.size()));
    }
    return means;
  };
}

TEST(BootstrapMeans, EstimateIsThePlainMeanAndIntervalsContainIt) {
  const std::vector<std::vector<double>> per_user = {
      bernoulli(1000, 0.3, 1), bernoulli(1000, 0.05, 2), bernoulli(1000, 0.8, 3)};
  const auto intervals = bootstrap_means(per_user, {});
  ASSERT_EQ(intervals.size(), 3u);
  for (size_t m = 0; m < 3; ++m) {
    EXPECT_DOUBLE_EQ(intervals[m].estimate, mean_of(per_user[m])) << m;
    EXPECT_LT(intervals[m].lower, intervals[m].estimate) << m;
    EXPECT_GT(intervals[m].upper, intervals[m].estimate) << m;
  }
}

TEST(BootstrapMeans, ResamplesWithReplacement) {
  // Two users worth 0 and 1: a resample holds {0, 0}, {0, 1} or {1, 1} (1/4, 1/2, 1/4), so the
  // 95% interval is [0, 1]. Resampling without replacement would give 1/2 every time.
  const auto intervals = bootstrap_means({{0.0, 1.0}, {4.0, 4.0}}, {});
  EXPECT_EQ(intervals[0].estimate, 0.5);
  EXPECT_EQ(intervals[0].lower, 0.0);
  EXPECT_EQ(intervals[0].upper, 1.0);
  // A constant metric has a degenerate interval.
  EXPECT_EQ(intervals[1].lower, 4.0);
  EXPECT_EQ(intervals[1].upper, 4.0);
}

TEST(BootstrapMeans, WidthShrinksLikeOneOverSqrtN) {
  const auto small = bootstrap_means({bernoulli(400, 0.3, 5)}, {});
  const auto large = bootstrap_means({bernoulli(6400, 0.3, 6)}, {});
  const double ratio = half_width(small[0]) / half_width(large[0]);  // sqrt(6400 / 400) = 4
  EXPECT_GT(ratio, 4.0 * 0.75);
  EXPECT_LT(ratio, 4.0 * 1.25);
}

TEST(BootstrapMeans, MatchesTheNormalApproximation) {
  const size_t n = 5000;
  std::vector<double> skewed(n);
  Xoshiro256 generator(9);
  for (double& value : skewed) value = -std::log(1.0 - uniform01(generator));  // exponential
  const std::vector<std::vector<double>> per_user = {bernoulli(n, 0.3, 8), skewed};
  const auto intervals = bootstrap_means(per_user, {});
  for (size_t m = 0; m < per_user.size(); ++m) {
    const double expected = 1.96 * standard_deviation(per_user[m]) / std::sqrt(double(n));
    EXPECT_NEAR(half_width(intervals[m]), expected, 0.15 * expected) << m;
    const double centre = (intervals[m].lower + intervals[m].upper) / 2;
    EXPECT_NEAR(centre, intervals[m].estimate, 0.15 * expected) << m;
  }
  // A 90% interval is narrower by 1.645 / 1.96.
  BootstrapOptions ninety;
  ninety.level = 0.90;
  const auto narrower = bootstrap_means({per_user[0]}, ninety);
  EXPECT_NEAR(half_width(narrower[0]) / half_width(intervals[0]), 1.645 / 1.96, 0.1);
}

TEST(BootstrapMeans, DeterministicPerSeedAndIndependentOfThreads) {
  const std::vector<std::vector<double>> per_user = {bernoulli(3000, 0.3, 1),
                                                     bernoulli(3000, 0.6, 2)};
  BootstrapOptions options;
  options.resamples = 203;  // not a multiple of the internal block of resamples
  const auto first = bootstrap_means(per_user, options);
  const auto again = bootstrap_means(per_user, options);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto serial = bootstrap_means(per_user, options);
  omp_set_num_threads(3);
  const auto three = bootstrap_means(per_user, options);
  omp_set_num_threads(threads);
  options.seed = 4321;
  const auto reseeded = bootstrap_means(per_user, options);
  for (size_t m = 0; m < per_user.size(); ++m) {
    for (const auto* same : {&again, &serial, &three}) {
      EXPECT_EQ((*same)[m].lower, first[m].lower) << m;
      EXPECT_EQ((*same)[m].upper, first[m].upper) << m;
    }
    EXPECT_NE(reseeded[m].lower, first[m].lower) << m;
    EXPECT_EQ(reseeded[m].estimate, first[m].estimate) << m;
  }
}

TEST(BootstrapMeans, NoUsersGivesNaN) {
  const auto intervals = bootstrap_means({{}, {}}, {});
  ASSERT_EQ(intervals.size(), 2u);
  for (const auto& interval : intervals) {
    EXPECT_TRUE(std::isnan(interval.estimate));
    EXPECT_TRUE(std::isnan(interval.lower));
    EXPECT_TRUE(std::isnan(interval.upper));
  }
  EXPECT_TRUE(bootstrap_means({}, {}).empty());
}

TEST(BootstrapPaired, IdenticalModelsDifferByExactlyZero) {
  const std::vector<std::vector<double>> a = {bernoulli(2000, 0.3, 1), bernoulli(2000, 0.1, 2)};
  const auto differences = paired_bootstrap(a, a, {});
  ASSERT_EQ(differences.size(), 2u);
  for (const auto& d : differences) {
    EXPECT_EQ(d.difference, 0.0);
    EXPECT_EQ(d.lower, 0.0);
    EXPECT_EQ(d.upper, 0.0);
    EXPECT_FALSE(d.significant);
  }
}

TEST(BootstrapPaired, SmallConsistentGainIsSignificantAndCovered) {
  const size_t n = 4000;
  std::vector<double> a = bernoulli(n, 0.3, 3);
  std::vector<double> b = a;
  for (size_t u = 0; u < n; u += 2) b[u] += 0.05;  // true difference 0.025
  const auto better = paired_bootstrap({a}, {b}, {});
  EXPECT_DOUBLE_EQ(better[0].a, mean_of(a));
  EXPECT_DOUBLE_EQ(better[0].b, mean_of(b));
  EXPECT_NEAR(better[0].difference, 0.025, 1e-12);
  EXPECT_TRUE(better[0].significant);
  EXPECT_GT(better[0].lower, 0.0);
  EXPECT_LT(better[0].lower, 0.025);
  EXPECT_GT(better[0].upper, 0.025);
  // Pairing cancels the per-user noise: the difference is far tighter than either model's own
  // interval (independent resampling would make it wider than both).
  const auto alone = bootstrap_means({a}, {});
  EXPECT_LT(better[0].upper - better[0].lower, 0.2 * (alone[0].upper - alone[0].lower));
  // The other way round the difference is negative and still significant.
  const auto worse = paired_bootstrap({b}, {a}, {});
  EXPECT_NEAR(worse[0].difference, -0.025, 1e-12);
  EXPECT_TRUE(worse[0].significant);
  EXPECT_LT(worse[0].upper, 0.0);
}

TEST(BootstrapPaired, NoUsersIsNotSignificant) {
  const auto differences = paired_bootstrap({{}}, {{}}, {});
  ASSERT_EQ(differences.size(), 1u);
  EXPECT_TRUE(std::isnan(differences[0].lower));
  EXPECT_FALSE(differences[0].significant);
}

TEST(BootstrapStatistic, AgreesWithBootstrapMeansForMeans) {
  const std::vector<std::vector<double>> per_user = {bernoulli(1500, 0.3, 1),
                                                     bernoulli(1500, 0.7, 2)};
  BootstrapOptions options;
  options.resamples = 300;
  const auto direct = bootstrap_means(per_user, options);
  const auto generic = bootstrap_statistic(1500, means_of(per_user), options);
  ASSERT_EQ(generic.size(), 2u);
  for (size_t m = 0; m < 2; ++m) {
    EXPECT_NEAR(generic[m].estimate, direct[m].estimate, 1e-12) << m;
    EXPECT_NEAR(generic[m].lower, direct[m].lower, 1e-12) << m;
    EXPECT_NEAR(generic[m].upper, direct[m].upper, 1e-12) << m;
  }
  std::vector<std::vector<double>> shifted = per_user;
  for (size_t u = 0; u < 1500; u += 3) shifted[0][u] += 0.1;
  const auto paired_direct = paired_bootstrap(per_user, shifted, options);
  const auto paired_generic =
      paired_bootstrap_statistic(1500, means_of(per_user), means_of(shifted), options);
  for (size_t m = 0; m < 2; ++m) {
    EXPECT_NEAR(paired_generic[m].difference, paired_direct[m].difference, 1e-12) << m;
    EXPECT_NEAR(paired_generic[m].lower, paired_direct[m].lower, 1e-12) << m;
    EXPECT_NEAR(paired_generic[m].upper, paired_direct[m].upper, 1e-12) << m;
    EXPECT_EQ(paired_generic[m].significant, paired_direct[m].significant) << m;
  }
  EXPECT_TRUE(paired_generic[0].significant);
  EXPECT_FALSE(paired_generic[1].significant);  // metric 1 is identical in both
}

TEST(BootstrapStatistic, AucIntervalLeavesOutSingleClassResamples) {
  // Twelve users with one positive: about (11/12)^12 = 35% of resamples draw no positive and have
  // no AUC. Those are left out instead of poisoning the interval.
  const size_t n = 12;
  std::vector<double> scores(n);
  std::vector<int8_t> labels(n, 0);
  for (size_t i = 0; i < n; ++i) scores[i] = static_cast<double>(i);
  labels[8] = 1;
  const auto auc = [&](const std::vector<int64_t>& users) {
    std::vector<double> s;
    std::vector<int8_t> y;
    for (int64_t user : users) {
      s.push_back(scores[static_cast<size_t>(user)]);
      y.push_back(labels[static_cast<size_t>(user)]);
    }
    return std::vector<double>{eval::roc_auc(s, y)};
  };
  const auto interval = bootstrap_statistic(static_cast<int64_t>(n), auc, {});
  EXPECT_NEAR(interval[0].estimate, 8.0 / 11, 1e-12);
  EXPECT_TRUE(std::isfinite(interval[0].lower));
  EXPECT_TRUE(std::isfinite(interval[0].upper));
  EXPECT_LE(interval[0].lower, interval[0].estimate);
  EXPECT_GE(interval[0].upper, interval[0].estimate);
  // A statistic that is never defined gives a NaN interval.
  const auto undefined = bootstrap_statistic(
      5, [](const std::vector<int64_t>&) { return std::vector<double>{std::nan("")}; }, {});
  EXPECT_TRUE(std::isnan(undefined[0].lower));
}

TEST(BootstrapStatistic, NoUsersCallsTheStatisticOnTheEmptySample) {
  const auto intervals =
      bootstrap_statistic(0,
                          [](const std::vector<int64_t>& users) {
                            return std::vector<double>{double(users.size()), 7.0};
                          },
                          {});
  ASSERT_EQ(intervals.size(), 2u);
  EXPECT_EQ(intervals[0].estimate, 0.0);
  EXPECT_EQ(intervals[1].estimate, 7.0);
  EXPECT_TRUE(std::isnan(intervals[1].lower));
  EXPECT_TRUE(std::isnan(intervals[1].upper));
}

TEST(BootstrapStatistic, RethrowsTheStatisticsError) {
  const auto fails_on_resamples = [](const std::vector<int64_t>& users) {
    for (size_t i = 0; i < users.size(); ++i) {
      if (users[i] != static_cast<int64_t>(i)) throw UserError("statistic failed");
    }
    return std::vector<double>{1.0};
  };
  EXPECT_EQ(testing::user_error_of([&] { bootstrap_statistic(100, fails_on_resamples, {}); }),
            "statistic failed");
}

TEST(BootstrapOptionsErrors, NameTheOffendingValue) {
  const std::vector<std::vector<double>> per_user = {{1.0, 0.0}};
  BootstrapOptions options;
  options.resamples = 9;
  EXPECT_EQ(testing::user_error_of([&] { bootstrap_means(per_user, options); }),
            "bootstrap resamples must be >= 10 (got 9)");
  EXPECT_EQ(testing::user_error_of([&] { paired_bootstrap(per_user, per_user, options); }),
            "bootstrap resamples must be >= 10 (got 9)");
  options.resamples = 10;
  for (double level : {0.0, 1.0, -0.5, 95.0}) {
    options.level = level;
    const std::string message = testing::user_error_of([&] { bootstrap_means(per_user, options); });
    EXPECT_EQ(message.rfind("bootstrap level must be within (0, 1) (got ", 0), 0u) << message;
  }
  options.level = 95.0;
  EXPECT_EQ(testing::user_error_of([&] { bootstrap_statistic(2, means_of(per_user), options); }),
            "bootstrap level must be within (0, 1) (got 95)");
}

}  // namespace
}  // namespace cf::report
