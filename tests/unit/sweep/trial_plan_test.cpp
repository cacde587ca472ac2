// Trial plans: the grid's order, random draws (deterministic, distinct, uniform, capped at the
// grid), and trial ids.
#include "sweep/trial_plan.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "unit/user_error_of.h"

namespace cf::sweep {
namespace {

using cf::testing::user_error_of;

std::vector<SweepAxis> three_axes() {
  return {{"train.lr", {"0.1", "0.2"}},
          {"model.dropout", {"0", "0.1", "0.2"}},
          {"model.block", {"gpt", "ligr"}}};
}

std::vector<std::vector<std::string>> values_of(const TrialPlan& plan) {
  std::vector<std::vector<std::string>> out;
  for (const Trial& t : plan.trials) out.push_back(t.values);
  return out;
}

TEST(TrialPlan, GridIsTheProductWithTheFirstAxisSlowest) {
  const TrialPlan plan = grid_plan(three_axes());
  EXPECT_EQ(plan.kind, PlanKind::kGrid);
  ASSERT_EQ(plan.trials.size(), 12u);
  EXPECT_EQ(grid_size(three_axes()), 12u);
  // The reference: nested loops over the axes as given.
  const std::vector<SweepAxis> axes = three_axes();
  std::vector<std::vector<std::string>> expected;
  for (const auto& lr : axes[0].values)
    for (const auto& dropout : axes[1].values)
      for (const auto& block : axes[2].values) expected.push_back({lr, dropout, block});
  EXPECT_EQ(values_of(plan), expected);
  for (size_t i = 0; i < plan.trials.size(); ++i) {
    EXPECT_EQ(plan.trials[i].id, trial_id(i, 12));
  }
  EXPECT_EQ(plan.trials[0].id, "t000");
  EXPECT_EQ(plan.trials[11].id, "t011");
  EXPECT_EQ(plan.describe(plan.trials[5]), "train.lr=0.1 model.dropout=0.2 model.block=ligr");
  EXPECT_EQ(plan.assignments(plan.trials[6]),
            (std::vector<std::string>{"train.lr=0.2", "model.dropout=0", "model.block=gpt"}));
}

TEST(TrialPlan, OneAxisGridKeepsTheGivenOrder) {
  const TrialPlan plan = grid_plan({{"train.lr", {"0.3", "0.1", "0.2"}}});
  EXPECT_EQ(values_of(plan), (std::vector<std::vector<std::string>>{{"0.3"}, {"0.1"}, {"0.2"}}));
}

TEST(TrialPlan, RefusesAGridTooLargeToTrain) {
  std::vector<SweepAxis> axes;
  std::vector<std::string> ten;
  for (int i = 0; i < 10; ++i) ten.push_back(std::to_string(i));
  for (int a = 0; a < 6; ++a) axes.push_back({"k" + std::to_string(a), ten});
  EXPECT_EQ(grid_size(axes), 1000000u);
  EXPECT_EQ(user_error_of([&] { grid_plan(axes); }),
            "the --grid flags make 1000000 combinations, more than the 100000 a sweep trains; "
            "draw some with --random N");
  for (int a = 0; a < 14; ++a) axes.push_back({"m" + std::to_string(a), ten});
  EXPECT_EQ(grid_size(axes), UINT64_MAX);  // 10^20 saturates
  // Drawing a few from a huge grid is fine.
  EXPECT_EQ(random_plan(axes, 5, 1).trials.size(), 5u);
}

TEST(TrialPlan, RandomDrawsAreDeterministicDistinctAndFromTheGrid) {
  const TrialPlan a = random_plan(three_axes(), 7, 42);
  const TrialPlan b = random_plan(three_axes(), 7, 42);
  EXPECT_EQ(a.kind, PlanKind::kRandom);
  EXPECT_EQ(a.random_trials, 7);
  EXPECT_EQ(a.random_seed, 42u);
  ASSERT_EQ(a.trials.size(), 7u);
  EXPECT_EQ(values_of(a), values_of(b));
  const auto grid = values_of(grid_plan(three_axes()));
  const std::set<std::vector<std::string>> in_grid(grid.begin(), grid.end());
  std::set<std::vector<std::string>> seen;
  for (const Trial& t : a.trials) {
    EXPECT_TRUE(in_grid.count(t.values)) << a.describe(t);
    EXPECT_TRUE(seen.insert(t.values).second) << "drawn twice: " << a.describe(t);
  }
  EXPECT_EQ(a.trials[0].id, "t000");
  EXPECT_EQ(a.trials[6].id, "t006");
  // Another seed draws another plan (these two differ; not a property of every pair).
  EXPECT_NE(values_of(random_plan(three_axes(), 7, 43)), values_of(a));
}

TEST(TrialPlan, RandomDrawsAreCappedAtTheGrid) {
  const TrialPlan all = random_plan(three_axes(), 50, 3);
  ASSERT_EQ(all.trials.size(), 12u);
  auto got = values_of(all);
  auto grid = values_of(grid_plan(three_axes()));
  std::sort(got.begin(), got.end());
  std::sort(grid.begin(), grid.end());
  EXPECT_EQ(got, grid);  // every combination, once
  EXPECT_EQ(all.random_trials, 50);
  EXPECT_EQ(user_error_of([] { random_plan(three_axes(), 0, 1); }), "--random must be >= 1, got 0");
}

TEST(TrialPlan, RandomDrawsAreUniformOverTheCombinations) {
  // One draw from a 2 x 3 grid, over 6000 seeds: each combination comes first about 1000
  // times (binomial sd ~29; 150 is over 5 sd).
  const std::vector<SweepAxis> axes = {{"a", {"1", "2"}}, {"b", {"x", "y", "z"}}};
  std::map<std::vector<std::string>, int> first;
  for (uint64_t seed = 0; seed < 6000; ++seed) first[random_plan(axes, 1, seed).trials[0].values]++;
  ASSERT_EQ(first.size(), 6u);
  for (const auto& [values, n] : first) EXPECT_NEAR(n, 1000, 150) << values[0] << values[1];
}

TEST(TrialPlan, IdsSortInPlanOrder) {
  EXPECT_EQ(trial_id(0, 1), "t000");
  EXPECT_EQ(trial_id(999, 1000), "t999");
  EXPECT_EQ(trial_id(7, 1001), "t0007");
  EXPECT_EQ(trial_id(1000, 1001), "t1000");
}

}  // namespace
}  // namespace cf::sweep
