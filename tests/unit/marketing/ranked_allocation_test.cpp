// Allocation by score: order (ties, NaN), coupon and face-value budgets, totals from effects.
#include "marketing/ranked_allocation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "unit/user_error_of.h"

namespace cf::marketing {
namespace {

using cf::testing::user_error_of;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

AllocationOptions coupons_budget(double budget) {
  AllocationOptions o;
  o.budget_kind = BudgetKind::kCoupons;
  o.budget = budget;
  return o;
}

AllocationOptions face_value_budget(double budget) {
  AllocationOptions o;
  o.budget_kind = BudgetKind::kFaceValue;
  o.budget = budget;
  return o;
}

std::vector<int64_t> users_of(const AllocationResult& r) {
  std::vector<int64_t> users;
  for (const Assignment& a : r.assignments) users.push_back(a.user);
  return users;
}

// Scores: user 1 and 3 tie at the top, user 2 has none.
const std::vector<double> kScores = {0.2, 0.9, kNaN, 0.9, 0.5, -1.0};
const std::vector<CouponType> kOneCoupon = {{"ten_off", 2.0, 1.5}};

TEST(RankedAllocation, TakesUsersByDecreasingScoreTiesToTheLowerIndex) {
  const AllocationResult r =
      allocate_by_score(kScores, 0, kOneCoupon, nullptr, coupons_budget(3.7));
  EXPECT_EQ(users_of(r), (std::vector<int64_t>{1, 3, 4}));  // floor(3.7) = 3 coupons
  EXPECT_DOUBLE_EQ(r.budget_used, 3.0);
  EXPECT_DOUBLE_EQ(r.face_value_issued, 6.0);
  for (const Assignment& a : r.assignments) EXPECT_EQ(a.coupon, 0);

  // A budget above the number of users: every user with a score, never the NaN one.
  const AllocationResult all =
      allocate_by_score(kScores, 0, kOneCoupon, nullptr, coupons_budget(100));
  EXPECT_EQ(users_of(all), (std::vector<int64_t>{1, 3, 4, 0, 5}));
  EXPECT_DOUBLE_EQ(all.budget_used, 5.0);
  EXPECT_DOUBLE_EQ(all.face_value_issued, 10.0);

  // Less than one coupon: none.
  EXPECT_TRUE(
      allocate_by_score(kScores, 0, kOneCoupon, nullptr, coupons_budget(0.9)).assignments.empty());
  // Ties keep the lower index first wherever they are.
  const AllocationResult ties =
      allocate_by_score({0.5, 0.5, 0.7, 0.5}, 0, kOneCoupon, nullptr, coupons_budget(3));
  EXPECT_EQ(users_of(ties), (std::vector<int64_t>{2, 0, 1}));
}

TEST(RankedAllocation, NaNScoresAreNeverChosen) {
  const std::vector<double> scores = {kNaN, kNaN, 0.1, kNaN};
  const AllocationResult r = allocate_by_score(scores, 0, kOneCoupon, nullptr, coupons_budget(10));
  EXPECT_EQ(users_of(r), (std::vector<int64_t>{2}));
  EXPECT_TRUE(allocate_by_score({kNaN, kNaN}, 0, kOneCoupon, nullptr, coupons_budget(10))
                  .assignments.empty());
  EXPECT_TRUE(
      allocate_by_score({}, 0, kOneCoupon, nullptr, coupons_budget(10)).assignments.empty());
}

TEST(RankedAllocation, FaceValueBudgetStopsBeforeItWouldBeExceeded) {
  // Face value 2: a budget of 5 pays for two coupons (4), not a third (6).
  AllocationResult r = allocate_by_score(kScores, 0, kOneCoupon, nullptr, face_value_budget(5));
  EXPECT_EQ(users_of(r), (std::vector<int64_t>{1, 3}));
  EXPECT_DOUBLE_EQ(r.face_value_issued, 4.0);
  EXPECT_DOUBLE_EQ(r.budget_used, 4.0);
  // Exactly three coupons' worth.
  r = allocate_by_score(kScores, 0, kOneCoupon, nullptr, face_value_budget(6));
  EXPECT_EQ(users_of(r), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_DOUBLE_EQ(r.budget_used, 6.0);
  // Below one face value: none.
  EXPECT_TRUE(allocate_by_score(kScores, 0, kOneCoupon, nullptr, face_value_budget(1.99))
                  .assignments.empty());
  // Decimal face values: 0.1 + 0.1 + 0.1 fits a budget of 0.3 despite binary rounding.
  const std::vector<CouponType> dime = {{"dime", 0.1, 0.0}};
  r = allocate_by_score({3, 2, 1, 0}, 0, dime, nullptr, face_value_budget(0.3));
  EXPECT_EQ(users_of(r), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_NEAR(r.face_value_issued, 0.3, 1e-12);
}

TEST(RankedAllocation, TotalsComeFromTheEffectsOfTheChosenCoupon) {
  // Two coupon types; type 1 is given. effects[u * 2 + c].
  const std::vector<CouponType> coupons = {{"small", 1.0, 0.5}, {"big", 5.0, 4.0}};
  const std::vector<double> scores = {0.1, 0.8, 0.4};
  const std::vector<CouponEffect> effects = {
      {9.0, 0.9}, {0.05, 0.2},    // user 0
      {9.0, 0.9}, {0.30, 0.5},    // user 1
      {9.0, 0.9}, {-0.10, 0.25},  // user 2
  };
  AllocationOptions o = coupons_budget(2);
  o.value_per_purchase = 20.0;
  const AllocationResult r = allocate_by_score(scores, 1, coupons, &effects, o);
  ASSERT_EQ(users_of(r), (std::vector<int64_t>{1, 2}));
  // User 1: uplift 0.30, cost 4 * 0.5 = 2, net 20 * 0.30 - 2 = 4.
  EXPECT_EQ(r.assignments[0].coupon, 1);
  EXPECT_DOUBLE_EQ(r.assignments[0].uplift, 0.30);
  EXPECT_DOUBLE_EQ(r.assignments[0].expected_cost, 2.0);
  EXPECT_DOUBLE_EQ(r.assignments[0].net_value, 4.0);
  // User 2 (chosen by score even though its net is negative): uplift -0.1, cost 1, net -3.
  EXPECT_DOUBLE_EQ(r.assignments[1].uplift, -0.10);
  EXPECT_DOUBLE_EQ(r.assignments[1].expected_cost, 1.0);
  EXPECT_DOUBLE_EQ(r.assignments[1].net_value, -3.0);
  EXPECT_DOUBLE_EQ(r.expected_incremental_purchases, 0.30 - 0.10);
  EXPECT_DOUBLE_EQ(r.expected_cost, 3.0);
  EXPECT_DOUBLE_EQ(r.net_value, 1.0);
  EXPECT_DOUBLE_EQ(r.face_value_issued, 10.0);
  EXPECT_DOUBLE_EQ(r.budget_used, 2.0);

  // The totals are the sums over the assignments.
  double uplift = 0, cost = 0, net = 0;
  for (const Assignment& a : r.assignments) {
    uplift += a.uplift;
    cost += a.expected_cost;
    net += a.net_value;
  }
  EXPECT_DOUBLE_EQ(r.expected_incremental_purchases, uplift);
  EXPECT_DOUBLE_EQ(r.expected_cost, cost);
  EXPECT_DOUBLE_EQ(r.net_value, net);
}

TEST(RankedAllocation, WithoutEffectsTheValueTotalsAreNaN) {
  const AllocationResult r = allocate_by_score(kScores, 0, kOneCoupon, nullptr, coupons_budget(2));
  ASSERT_EQ(r.assignments.size(), 2u);
  EXPECT_TRUE(std::isnan(r.expected_incremental_purchases));
  EXPECT_TRUE(std::isnan(r.expected_cost));
  EXPECT_TRUE(std::isnan(r.net_value));
  for (const Assignment& a : r.assignments) {
    EXPECT_TRUE(std::isnan(a.uplift));
    EXPECT_TRUE(std::isnan(a.expected_cost));
    EXPECT_TRUE(std::isnan(a.net_value));
  }
  EXPECT_DOUBLE_EQ(r.face_value_issued, 4.0);
  EXPECT_DOUBLE_EQ(r.budget_used, 2.0);
}

TEST(RankedAllocation, ABudgetThatIsNotPositiveIsAUserError) {
  for (double budget : {0.0, -1.0, kNaN, std::numeric_limits<double>::infinity()}) {
    const std::string m = user_error_of(
        [&] { allocate_by_score(kScores, 0, kOneCoupon, nullptr, coupons_budget(budget)); });
    EXPECT_NE(m.find("budget"), std::string::npos) << budget << ": " << m;
    const std::string f = user_error_of(
        [&] { allocate_by_score(kScores, 0, kOneCoupon, nullptr, face_value_budget(budget)); });
    EXPECT_NE(f.find("budget"), std::string::npos) << budget << ": " << f;
  }
}

}  // namespace
}  // namespace cf::marketing
