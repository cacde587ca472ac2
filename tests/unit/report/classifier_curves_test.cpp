// ROC, reliability, gain and top-fraction curves against hand-computed values and eval/.
#include "report/classifier_curves.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/random.h"
#include "eval/metrics.h"
#include "unit/user_error_of.h"

namespace cf::report {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double uniform01(Xoshiro256& generator) {
  return static_cast<double>(generator.next() >> 11) * 0x1.0p-53;
}

// Ten users whose labels by decreasing score are 1 1 0 1 0 0 1 0 0 0 (4 positives), given in a
// shuffled input order so that the ranking is really exercised.
struct TenUsers {
  std::vector<double> scores = {0.3, 0.95, 0.5, 0.8, 0.1, 0.4, 0.85, 0.2, 0.7, 0.6};
  std::vector<int8_t> labels = {0, 1, 0, 0, 0, 1, 1, 0, 1, 0};
};

TEST(ClassifierCurvesRoc, HandComputedCurveGroupsTies) {
  // By decreasing score: 0.9+, 0.8+ 0.8-, 0.7+, 0.6- 0.6+, 0.3-  (4 positives, 3 negatives).
  const std::vector<double> scores = {0.6, 0.8, 0.9, 0.3, 0.7, 0.6, 0.8};
  const std::vector<int8_t> labels = {0, 1, 1, 0, 1, 1, 0};
  const auto curve = roc_curve(scores, labels);
  const std::vector<RocPoint> expected = {{0.0, 0.0, kInfinity}, {0.0, 0.25, 0.9},
                                          {1.0 / 3, 0.5, 0.8},   {1.0 / 3, 0.75, 0.7},
                                          {2.0 / 3, 1.0, 0.6},   {1.0, 1.0, 0.3}};
  ASSERT_EQ(curve.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(curve[i].false_positive_rate, expected[i].false_positive_rate, 1e-15) << i;
    EXPECT_NEAR(curve[i].true_positive_rate, expected[i].true_positive_rate, 1e-15) << i;
    EXPECT_EQ(curve[i].threshold, expected[i].threshold) << i;
  }
  // Trapezoids: 1/3 * (0.25 + 0.5) / 2 + 1/3 * (0.75 + 1) / 2 + 1/3 * 1 = 0.75, which is also
  // the Mann-Whitney count 9 of 12 pairs (two tied pairs counting one half each).
  EXPECT_NEAR(area_under(curve), 0.75, 1e-15);
  EXPECT_NEAR(eval::roc_auc(scores, labels), 0.75, 1e-15);
}

TEST(ClassifierCurvesRoc, AreaEqualsEvalAucOnRandomDataWithTiesAndNaN) {
  Xoshiro256 generator(7);
  for (int trial = 0; trial < 20; ++trial) {
    const size_t n = 50 + 97 * static_cast<size_t>(trial);
    std::vector<double> scores(n);
    std::vector<int8_t> labels(n);
    for (size_t i = 0; i < n; ++i) {
      // Scores on a coarse grid so that many ties cross the classes; the label leans on the score.
      scores[i] = std::floor(uniform01(generator) * 12) / 12;
      labels[i] = uniform01(generator) < 0.2 + 0.6 * scores[i] ? 1 : 0;
    }
    if (trial % 4 == 0) scores[n / 2] = kNaN;  // ranks lowest in both implementations
    const auto curve = roc_curve(scores, labels);
    ASSERT_FALSE(curve.empty());
    EXPECT_EQ(curve.front().false_positive_rate, 0.0);
    EXPECT_EQ(curve.back().false_positive_rate, 1.0);
    EXPECT_EQ(curve.back().true_positive_rate, 1.0);
    for (size_t i = 1; i < curve.size(); ++i) {
      EXPECT_GE(curve[i].false_positive_rate, curve[i - 1].false_positive_rate);
      EXPECT_GE(curve[i].true_positive_rate, curve[i - 1].true_positive_rate);
      EXPECT_LT(curve[i].threshold, curve[i - 1].threshold);
    }
    EXPECT_NEAR(area_under(curve), eval::roc_auc(scores, labels), 1e-12) << "trial " << trial;
  }
}

TEST(ClassifierCurvesRoc, EmptyWhenAClassIsMissing) {
  EXPECT_TRUE(roc_curve({}, {}).empty());
  EXPECT_TRUE(roc_curve({0.2, 0.9}, {1, 1}).empty());
  EXPECT_TRUE(roc_curve({0.2, 0.9}, {0, 0}).empty());
  EXPECT_TRUE(std::isnan(area_under({})));
  EXPECT_TRUE(std::isnan(eval::roc_auc({0.2, 0.9}, {0, 0})));
  // Constant scores: one diagonal segment, AUC one half.
  const auto curve = roc_curve({0.5, 0.5, 0.5}, {1, 0, 1});
  ASSERT_EQ(curve.size(), 2u);
  EXPECT_DOUBLE_EQ(area_under(curve), 0.5);
}

TEST(ClassifierCurvesReliability, HandComputedBinsAndErrorMatchEval) {
  // Four bins of width 0.25; 0.25 and 0.5 open their bins, p = 1 belongs to the last.
  const std::vector<double> p = {0.0, 0.1, 0.3, 0.5, 0.74, 1.0, 0.25};
  const std::vector<int8_t> y = {0, 0, 1, 0, 1, 1, 0};
  const auto bins = reliability_bins(p, y, 4);
  ASSERT_EQ(bins.size(), 4u);
  const int64_t counts[] = {2, 2, 2, 1};
  const double means[] = {0.05, 0.275, 0.62, 1.0};
  const double rates[] = {0.0, 0.5, 0.5, 1.0};
  for (size_t b = 0; b < 4; ++b) {
    EXPECT_DOUBLE_EQ(bins[b].lower, 0.25 * static_cast<double>(b)) << b;
    EXPECT_DOUBLE_EQ(bins[b].upper, 0.25 * static_cast<double>(b + 1)) << b;
    EXPECT_EQ(bins[b].count, counts[b]) << b;
    EXPECT_NEAR(bins[b].mean_prediction, means[b], 1e-15) << b;
    EXPECT_DOUBLE_EQ(bins[b].positive_rate, rates[b]) << b;
  }
  // (2 * 0.05 + 2 * 0.225 + 2 * 0.12 + 1 * 0) / 7
  EXPECT_NEAR(calibration_error(bins), 0.79 / 7, 1e-15);
  EXPECT_NEAR(calibration_error(bins), eval::expected_calibration_error(p, y, 4), 1e-15);
}

TEST(ClassifierCurvesReliability, ErrorEqualsEvalOnRandomDataIncludingZeroAndOne) {
  Xoshiro256 generator(11);
  for (int bin_count : {1, 7, 10, 20}) {
    const size_t n = 3000;
    std::vector<double> p(n);
    std::vector<int8_t> y(n);
    for (size_t i = 0; i < n; ++i) {
      p[i] = uniform01(generator);
      if (i % 50 == 0) p[i] = 1.0;  // exactly on the upper edge
      if (i % 50 == 1) p[i] = 0.0;
      if (i % 50 == 2) p[i] = 0.5;  // exactly on an inner edge for even bin counts
      y[i] = uniform01(generator) < p[i] * p[i] ? 1 : 0;  // miscalibrated on purpose
    }
    const auto bins = reliability_bins(p, y, bin_count);
    ASSERT_EQ(bins.size(), static_cast<size_t>(bin_count));
    int64_t total = 0;
    for (const auto& bin : bins) total += bin.count;
    EXPECT_EQ(total, static_cast<int64_t>(n));
    EXPECT_GT(bins.back().count, 0);
    EXPECT_NEAR(calibration_error(bins), eval::expected_calibration_error(p, y, bin_count), 1e-12)
        << bin_count << " bins";
  }
}

TEST(ClassifierCurvesReliability, EmptyBinsHaveNaNMeansAndNoDataHasNaNError) {
  const auto bins = reliability_bins({0.05, 0.95}, {0, 1}, 10);
  EXPECT_EQ(bins[0].count, 1);
  EXPECT_EQ(bins[9].count, 1);
  for (size_t b = 1; b < 9; ++b) {
    EXPECT_EQ(bins[b].count, 0);
    EXPECT_TRUE(std::isnan(bins[b].mean_prediction));
    EXPECT_TRUE(std::isnan(bins[b].positive_rate));
  }
  EXPECT_NEAR(calibration_error(bins), 0.05, 1e-15);
  const auto none = reliability_bins({}, {}, 10);
  ASSERT_EQ(none.size(), 10u);
  EXPECT_TRUE(std::isnan(calibration_error(none)));
  EXPECT_TRUE(std::isnan(eval::expected_calibration_error({}, {}, 10)));
}

TEST(ClassifierCurvesGain, HandComputedTenUsers) {
  const TenUsers data;
  // Positives among the top 2, 4, 6, 8, 10 users: 2, 3, 3, 4, 4 (of 4).
  const auto curve = cumulative_gain(data.scores, data.labels, 5);
  const std::vector<GainPoint> expected = {{0.0, 0.0, 2.5},   {0.2, 0.5, 2.5},  {0.4, 0.75, 1.875},
                                           {0.6, 0.75, 1.25}, {0.8, 1.0, 1.25}, {1.0, 1.0, 1.0}};
  ASSERT_EQ(curve.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(curve[i].fraction_targeted, expected[i].fraction_targeted, 1e-15) << i;
    EXPECT_NEAR(curve[i].fraction_of_positives, expected[i].fraction_of_positives, 1e-15) << i;
    EXPECT_NEAR(curve[i].lift, expected[i].lift, 1e-12) << i;
  }
}

TEST(ClassifierCurvesGain, InterpolatesBetweenWholeUsers) {
  const TenUsers data;
  // 20 points: fraction 0.15 is 1.5 users = user 1 (+) and half of user 2 (+): 1.5 of 4.
  const auto curve = cumulative_gain(data.scores, data.labels, 20);
  ASSERT_EQ(curve.size(), 21u);
  EXPECT_NEAR(curve[3].fraction_targeted, 0.15, 1e-15);
  EXPECT_NEAR(curve[3].fraction_of_positives, 0.375, 1e-15);
  EXPECT_NEAR(curve[3].lift, 2.5, 1e-12);
  // Fraction 0.25 is 2.5 users; the third user is a negative: still 2 of 4.
  EXPECT_NEAR(curve[5].fraction_of_positives, 0.5, 1e-15);
  // More points than users: every fraction is evenly spaced and the curve never decreases.
  const auto fine = cumulative_gain(data.scores, data.labels, 50);
  ASSERT_EQ(fine.size(), 51u);
  for (size_t i = 1; i < fine.size(); ++i) {
    EXPECT_NEAR(fine[i].fraction_targeted, static_cast<double>(i) / 50, 1e-15);
    EXPECT_GE(fine[i].fraction_of_positives, fine[i - 1].fraction_of_positives);
  }
  EXPECT_DOUBLE_EQ(fine.back().fraction_of_positives, 1.0);
}

TEST(ClassifierCurvesGain, TiesKeepInputOrder) {
  // All tied: the ranking is the input order, so the positives come last (not first, as a
  // reversed or score-only order could have them).
  const std::vector<double> scores = {0.5, 0.5, 0.5, 0.5};
  const std::vector<int8_t> labels = {0, 0, 1, 1};
  const auto curve = cumulative_gain(scores, labels, 4);
  ASSERT_EQ(curve.size(), 5u);
  EXPECT_EQ(curve[0].lift, 0.0);  // the top-ranked user (input 0) is a negative
  EXPECT_DOUBLE_EQ(curve[1].fraction_of_positives, 0.0);
  EXPECT_DOUBLE_EQ(curve[2].fraction_of_positives, 0.0);
  EXPECT_DOUBLE_EQ(curve[3].fraction_of_positives, 0.5);
  EXPECT_DOUBLE_EQ(curve[4].fraction_of_positives, 1.0);
}

TEST(ClassifierCurvesGain, EmptyWithoutUsersOrPositivesAndFlatWhenAllPositive) {
  EXPECT_TRUE(cumulative_gain({}, {}, 10).empty());
  EXPECT_TRUE(cumulative_gain({0.1, 0.7}, {0, 0}, 10).empty());
  const auto all = cumulative_gain({0.1, 0.7, 0.4}, {1, 1, 1}, 6);
  ASSERT_EQ(all.size(), 7u);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_NEAR(all[i].lift, 1.0, 1e-12) << i;
}

TEST(ClassifierCurvesTopFraction, HandComputedTenUsers) {
  const TenUsers data;
  const auto metrics = top_fraction_metrics(data.scores, data.labels, {0.01, 0.1, 0.25, 0.5, 1.0});
  ASSERT_EQ(metrics.size(), 5u);
  struct Expected {
    int64_t selected, positives;
    double precision, recall, lift;
  };
  // Base rate 0.4. 0.01 * 10 rounds up to 1 user; 0.25 * 10 = 2.5 rounds up to 3.
  const Expected expected[] = {{1, 1, 1.0, 0.25, 2.5},
                               {1, 1, 1.0, 0.25, 2.5},
                               {3, 2, 2.0 / 3, 0.5, 5.0 / 3},
                               {5, 3, 0.6, 0.75, 1.5},
                               {10, 4, 0.4, 1.0, 1.0}};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(metrics[i].selected, expected[i].selected) << i;
    EXPECT_EQ(metrics[i].positives, expected[i].positives) << i;
    EXPECT_NEAR(metrics[i].precision, expected[i].precision, 1e-15) << i;
    EXPECT_NEAR(metrics[i].recall, expected[i].recall, 1e-15) << i;
    EXPECT_NEAR(metrics[i].lift, expected[i].lift, 1e-12) << i;
  }
  EXPECT_EQ(metrics[2].fraction, 0.25);
}

TEST(ClassifierCurvesTopFraction, ExactSharesAreNotRoundedUpByBinaryError) {
  std::vector<double> scores(100);
  std::vector<int8_t> labels(100, 0);
  for (size_t i = 0; i < 100; ++i) scores[i] = static_cast<double>(i);
  ASSERT_GT(0.07 * 100, 7.0);  // the binary product really is above 7
  const auto metrics = top_fraction_metrics(scores, labels, {0.07, 0.29, 0.071});
  EXPECT_EQ(metrics[0].selected, 7);
  EXPECT_EQ(metrics[1].selected, 29);
  EXPECT_EQ(metrics[2].selected, 8);
}

TEST(ClassifierCurvesTopFraction, EmptyAndSingleClassAndBadFractions) {
  EXPECT_TRUE(top_fraction_metrics({}, {}).empty());
  const auto none = top_fraction_metrics({0.3, 0.9}, {0, 0}, {0.5});
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].selected, 1);
  EXPECT_EQ(none[0].precision, 0.0);
  EXPECT_TRUE(std::isnan(none[0].recall));
  EXPECT_TRUE(std::isnan(none[0].lift));
  const auto ties = top_fraction_metrics({0.5, 0.5, 0.5, 0.5}, {0, 0, 1, 1}, {0.5});
  EXPECT_EQ(ties[0].positives, 0);  // users 0 and 1, in input order
  EXPECT_EQ(testing::user_error_of([] { top_fraction_metrics({0.1}, {1}, {0.0}); }),
            "top fraction must be within (0, 1] (got 0)");
  EXPECT_EQ(testing::user_error_of([] { top_fraction_metrics({}, {}, {1.5}); }),
            "top fraction must be within (0, 1] (got 1.5)");
}

}  // namespace
}  // namespace cf::report
