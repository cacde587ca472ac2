#include "trainer/early_stopping.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace cf::trainer {
namespace {

// Feeds `values` (one evaluation every 10 steps) and returns the step at which the rule says
// stop, or -1 when it never does.
int64_t stop_step(EarlyStopping& rule, const std::vector<double>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    rule.record(int64_t(i + 1) * 10, values[i]);
    if (rule.should_stop()) return int64_t(i + 1) * 10;
  }
  return -1;
}

TEST(EarlyStopping, StopsAfterPatienceEvaluationsWithoutImprovement) {
  EarlyStopping rule(/*higher_is_better=*/true, /*patience=*/2, /*min_delta=*/0);
  // Best 0.30 at step 30; 0.29 (step 40) and 0.30 (step 50, a tie is no improvement) follow.
  EXPECT_EQ(stop_step(rule, {0.10, 0.20, 0.30, 0.29, 0.30, 0.50}), 50);
  EXPECT_EQ(rule.state().best_step, 30);
  EXPECT_EQ(rule.state().best_value, 0.30);
  EXPECT_EQ(rule.state().evaluations_without_improvement, 2);
}

TEST(EarlyStopping, AnImprovementResetsTheCount) {
  EarlyStopping rule(true, 2, 0);
  EXPECT_EQ(stop_step(rule, {0.1, 0.05, 0.2, 0.15, 0.3, 0.25, 0.2}), 70);
  EXPECT_EQ(rule.state().best_step, 50);
}

TEST(EarlyStopping, LowerIsBetterForALoss) {
  EarlyStopping rule(/*higher_is_better=*/false, 1, 0);
  EXPECT_TRUE(rule.record(10, 5.0));
  EXPECT_TRUE(rule.record(20, 4.0));
  EXPECT_FALSE(rule.should_stop());
  EXPECT_FALSE(rule.record(30, 4.5));
  EXPECT_TRUE(rule.should_stop());
  EXPECT_EQ(rule.state().best_step, 20);
}

TEST(EarlyStopping, MinDeltaMustBeBeaten) {
  EarlyStopping rule(true, 3, 0.01);
  EXPECT_EQ(stop_step(rule, {0.100, 0.105, 0.110, 0.1101}), -1);  // 0.1101 beats 0.1 by > 0.01
  EXPECT_EQ(rule.state().best_step, 40);
  EXPECT_EQ(stop_step(rule, {0.12, 0.1201, 0.05}), 30);  // steps restart at 10 here
}

TEST(EarlyStopping, PatienceZeroNeverStopsButStillTracksTheBest) {
  EarlyStopping rule(true, 0, 0);
  EXPECT_EQ(stop_step(rule, {0.5, 0.4, 0.3, 0.2, 0.1}), -1);
  EXPECT_EQ(rule.state().best_step, 10);
  EXPECT_EQ(rule.state().evaluations_without_improvement, 4);
}

TEST(EarlyStopping, NaNNeverImproves) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EarlyStopping rule(true, 2, 0);
  EXPECT_FALSE(rule.record(10, nan));  // not even as the first evaluation
  EXPECT_EQ(rule.state().best_step, -1);
  EXPECT_TRUE(rule.record(20, 0.1));
  EXPECT_FALSE(rule.record(30, nan));
  EXPECT_EQ(rule.state().best_step, 20);
}

// A rule rebuilt from a saved state (a resumed run) decides exactly as the uninterrupted one.
TEST(EarlyStopping, RestoredStateDecidesLikeTheUninterruptedRule) {
  const std::vector<double> values = {0.1, 0.3, 0.2, 0.25, 0.31, 0.3, 0.29, 0.28};
  EarlyStopping straight(true, 3, 0);
  const int64_t straight_stop = stop_step(straight, values);
  for (size_t cut = 0; cut <= values.size(); ++cut) {
    EarlyStopping first(true, 3, 0);
    int64_t stopped = -1;
    for (size_t i = 0; i < cut && stopped < 0; ++i) {
      first.record(int64_t(i + 1) * 10, values[i]);
      if (first.should_stop()) stopped = int64_t(i + 1) * 10;
    }
    EarlyStopping resumed(true, 3, 0, first.state());
    for (size_t i = cut; i < values.size() && stopped < 0; ++i) {
      resumed.record(int64_t(i + 1) * 10, values[i]);
      if (resumed.should_stop()) stopped = int64_t(i + 1) * 10;
    }
    EXPECT_EQ(stopped, straight_stop) << "cut after " << cut;
    EXPECT_EQ(stopped, 80);
    if (cut < values.size()) {
      EXPECT_EQ(resumed.state(), straight.state()) << cut;
    }
  }
}

// Served metric (prior fused) stalls while the network alone still improves: patience counts
// only evaluations where neither improved, and the best stays the best served evaluation.
TEST(EarlyStopping, AnImprovingLearningMetricKeepsTheRunGoing) {
  const std::vector<double> served = {0.30, 0.29, 0.29, 0.30, 0.31, 0.30, 0.30};
  const std::vector<double> alone = {0.10, 0.15, 0.20, 0.25, 0.28, 0.27, 0.26};
  EarlyStopping with_learning(true, 2, 0);
  int64_t stopped = -1;
  for (size_t i = 0; i < served.size() && stopped < 0; ++i) {
    with_learning.record(int64_t(i + 1) * 10, served[i], alone[i]);
    if (with_learning.should_stop()) stopped = int64_t(i + 1) * 10;
  }
  EXPECT_EQ(stopped, 70);  // 60 and 70: neither improved
  EXPECT_EQ(with_learning.state().best_step, 50);
  EXPECT_EQ(with_learning.state().best_value, 0.31);
  EXPECT_EQ(with_learning.state().best_learning_step, 50);
  EXPECT_EQ(with_learning.state().best_learning_value, 0.28);
  // Judged on the served metric alone, the run stops at step 30 with the prior's 0.30.
  EarlyStopping served_only(true, 2, 0);
  EXPECT_EQ(stop_step(served_only, served), 30);
  EXPECT_EQ(served_only.state().best_step, 10);
}

TEST(EarlyStopping, TheLearningMetricNeverBecomesTheBest) {
  EarlyStopping rule(true, 1, 0);
  EXPECT_TRUE(rule.record(10, 0.5, 0.1));
  EXPECT_FALSE(rule.record(20, 0.4, 0.2));  // learning improved: not the best, no stop
  EXPECT_FALSE(rule.should_stop());
  EXPECT_EQ(rule.state().best_step, 10);
  EXPECT_FALSE(rule.record(30, 0.4, std::nan("")));  // a NaN learning value is no improvement
  EXPECT_TRUE(rule.should_stop());
}

}  // namespace
}  // namespace cf::trainer
