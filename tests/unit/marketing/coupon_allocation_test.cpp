// Coupon allocation against brute-force enumeration, hand-made instances and the error messages;
// the coupon spec parser.
#include "marketing/coupon_allocation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "core/random.h"
#include "unit/user_error_of.h"

namespace cf::marketing {
namespace {

double uniform01(Xoshiro256& generator) {
  return static_cast<double>(generator.next() >> 11) * 0x1.0p-53;
}

struct Instance {
  int64_t users = 0;
  std::vector<CouponType> coupons;
  std::vector<CouponEffect> effects;
  double value_per_purchase = 1.0;

  double net(int64_t user, size_t coupon) const {
    const CouponEffect& e = effects[static_cast<size_t>(user) * coupons.size() + coupon];
    return value_per_purchase * e.uplift -
           coupons[coupon].cost_per_redemption * e.redemption_probability;
  }
};

// Random instance with whole face values (so sums are exact) and a mix of positive and negative
// nets.
Instance random_instance(Xoshiro256& generator, int64_t users, size_t coupon_types) {
  Instance instance;
  instance.users = users;
  instance.value_per_purchase = 10.0;
  for (size_t c = 0; c < coupon_types; ++c) {
    const double face = 1.0 + std::floor(uniform01(generator) * 6);
    instance.coupons.push_back({"c" + std::to_string(c), face, face * uniform01(generator)});
  }
  for (int64_t u = 0; u < users; ++u) {
    for (size_t c = 0; c < coupon_types; ++c) {
      instance.effects.push_back({-0.05 + 0.35 * uniform01(generator), uniform01(generator)});
    }
  }
  return instance;
}

struct BruteForce {
  double best_net = 0;
  double max_single_net = 0;
};

// Enumerates every assignment (no coupon or one of the types per user) within the budget.
BruteForce brute_force(const Instance& instance, BudgetKind kind, double budget) {
  const size_t choices = instance.coupons.size() + 1;
  size_t total = 1;
  for (int64_t u = 0; u < instance.users; ++u) total *= choices;
  BruteForce out;
  for (int64_t u = 0; u < instance.users; ++u) {
    for (size_t c = 0; c < instance.coupons.size(); ++c) {
      out.max_single_net = std::max(out.max_single_net, instance.net(u, c));
    }
  }
  for (size_t code = 0; code < total; ++code) {
    double used = 0, net = 0;
    size_t rest = code;
    for (int64_t u = 0; u < instance.users; ++u) {
      const size_t choice = rest % choices;
      rest /= choices;
      if (choice == 0) continue;
      used += kind == BudgetKind::kCoupons ? 1.0 : instance.coupons[choice - 1].face_value;
      net += instance.net(u, choice - 1);
    }
    if (used <= budget) out.best_net = std::max(out.best_net, net);
  }
  return out;
}

AllocationResult allocate(const Instance& instance, BudgetKind kind, double budget) {
  AllocationOptions options;
  options.budget_kind = kind;
  options.budget = budget;
  options.value_per_purchase = instance.value_per_purchase;
  return allocate_coupons(instance.users, instance.coupons, instance.effects, options);
}

// Invariants every result must satisfy.
void expect_consistent(const Instance& instance, BudgetKind kind, double budget,
                       const AllocationResult& result) {
  std::set<int64_t> users;
  double purchases = 0, cost = 0, face = 0, net = 0;
  for (size_t i = 0; i < result.assignments.size(); ++i) {
    const Assignment& a = result.assignments[i];
    EXPECT_TRUE(users.insert(a.user).second) << "user " << a.user << " got two coupons";
    ASSERT_GE(a.coupon, 0);
    ASSERT_LT(static_cast<size_t>(a.coupon), instance.coupons.size());
    const auto c = static_cast<size_t>(a.coupon);
    const CouponEffect& e =
        instance.effects[static_cast<size_t>(a.user) * instance.coupons.size() + c];
    EXPECT_EQ(a.uplift, e.uplift);
    EXPECT_DOUBLE_EQ(a.expected_cost,
                     instance.coupons[c].cost_per_redemption * e.redemption_probability);
    EXPECT_DOUBLE_EQ(a.net_value, instance.net(a.user, c));
    EXPECT_GT(a.net_value, 0.0);
    if (i > 0) {
      EXPECT_GE(result.assignments[i - 1].net_value, a.net_value);
    }
    purchases += a.uplift;
    cost += a.expected_cost;
    face += instance.coupons[c].face_value;
    net += a.net_value;
  }
  EXPECT_NEAR(result.expected_incremental_purchases, purchases, 1e-9);
  EXPECT_NEAR(result.expected_cost, cost, 1e-9);
  EXPECT_NEAR(result.face_value_issued, face, 1e-9);
  EXPECT_NEAR(result.net_value, net, 1e-9);
  EXPECT_NEAR(
      result.net_value,
      instance.value_per_purchase * result.expected_incremental_purchases - result.expected_cost,
      1e-9);
  if (kind == BudgetKind::kCoupons) {
    EXPECT_EQ(result.budget_used, static_cast<double>(result.assignments.size()));
    EXPECT_LE(result.budget_used, std::floor(budget));
  } else {
    EXPECT_EQ(result.budget_used, result.face_value_issued);
    EXPECT_LE(result.budget_used, budget);
  }
}

TEST(CouponAllocation, CouponCountBudgetIsExact) {
  Xoshiro256 generator(2024);
  for (int trial = 0; trial < 60; ++trial) {
    const Instance instance = random_instance(generator, 6, 2);
    for (double budget : {0.5, 1.0, 2.0, 3.7, 6.0, 100.0}) {
      const AllocationResult result = allocate(instance, BudgetKind::kCoupons, budget);
      expect_consistent(instance, BudgetKind::kCoupons, budget, result);
      EXPECT_NEAR(result.net_value, brute_force(instance, BudgetKind::kCoupons, budget).best_net,
                  1e-9)
          << "trial " << trial << ", budget " << budget;
    }
  }
}

TEST(CouponAllocation, FaceValueBudgetIsWithinOneItemOfTheOptimum) {
  Xoshiro256 generator(77);
  int optimal = 0, cases = 0;
  for (int trial = 0; trial < 150; ++trial) {
    const int64_t users = 4 + static_cast<int64_t>(trial % 4);       // 4..7
    const size_t coupon_types = 2 + static_cast<size_t>(trial % 2);  // 2..3
    const Instance instance = random_instance(generator, users, coupon_types);
    for (double budget : {1.0, 3.0, 7.0, 12.0, 20.0}) {
      const AllocationResult result = allocate(instance, BudgetKind::kFaceValue, budget);
      expect_consistent(instance, BudgetKind::kFaceValue, budget, result);
      const BruteForce best = brute_force(instance, BudgetKind::kFaceValue, budget);
      EXPECT_LE(result.net_value, best.best_net + 1e-9);
      EXPECT_GE(result.net_value, best.best_net - best.max_single_net - 1e-9)
          << "trial " << trial << ", budget " << budget;
      ++cases;
      if (result.net_value >= best.best_net - 1e-9) ++optimal;
    }
  }
  // The bound is loose in practice: nearly every small instance is solved exactly.
  EXPECT_GE(optimal, cases * 8 / 10) << optimal << " of " << cases << " optimal";
}

// Two users and coupons S (face 2) and L (face 5), nets given directly (uplift with value 1 and
// no cost). User 0: S 1.5, L 3; user 1: S 1, L 1.2. Hull efficiencies: user 0 S 0.75, S->L 0.5;
// user 1 S 0.5, S->L 0.067. With budget 7 the greedy takes user 0 S, user 0 S->L (tie at 0.5
// goes to the lower user), user 1 S: net 4, the optimum (user 0 S + user 1 L is only 2.7).
TEST(CouponAllocation, FaceValueHandMadeUpgradeInstanceIsOptimal) {
  Instance instance;
  instance.users = 2;
  instance.coupons = {{"S", 2.0, 0.0}, {"L", 5.0, 0.0}};
  instance.effects = {{1.5, 0.5}, {3.0, 0.5}, {1.0, 0.5}, {1.2, 0.5}};
  const AllocationResult result = allocate(instance, BudgetKind::kFaceValue, 7.0);
  expect_consistent(instance, BudgetKind::kFaceValue, 7.0, result);
  ASSERT_EQ(result.assignments.size(), 2u);
  EXPECT_EQ(result.assignments[0].user, 0);
  EXPECT_EQ(result.assignments[0].coupon, 1);
  EXPECT_EQ(result.assignments[1].user, 1);
  EXPECT_EQ(result.assignments[1].coupon, 0);
  EXPECT_DOUBLE_EQ(result.net_value, 4.0);
  EXPECT_DOUBLE_EQ(result.face_value_issued, 7.0);
  EXPECT_DOUBLE_EQ(result.net_value, brute_force(instance, BudgetKind::kFaceValue, 7.0).best_net);
}

// User 0: A (face 10) net 6. User 1: A net 5, B (face 2) net 0.5; B lies under user 1's hull.
// Budget 12: the greedy takes user 0 A and stops at user 1 A (does not fit); the fill then gives
// user 1 B from the 2 left: net 6.5, the optimum.
TEST(CouponAllocation, FaceValueFillUsesOptionsBelowTheHull) {
  Instance instance;
  instance.users = 2;
  instance.coupons = {{"A", 10.0, 0.0}, {"B", 2.0, 0.0}};
  instance.effects = {{6.0, 0.1}, {-1.0, 0.1}, {5.0, 0.1}, {0.5, 0.1}};
  const AllocationResult result = allocate(instance, BudgetKind::kFaceValue, 12.0);
  expect_consistent(instance, BudgetKind::kFaceValue, 12.0, result);
  ASSERT_EQ(result.assignments.size(), 2u);
  EXPECT_EQ(result.assignments[0].user, 0);
  EXPECT_EQ(result.assignments[0].coupon, 0);
  EXPECT_EQ(result.assignments[1].user, 1);
  EXPECT_EQ(result.assignments[1].coupon, 1);
  EXPECT_DOUBLE_EQ(result.net_value, 6.5);
  EXPECT_DOUBLE_EQ(result.net_value, brute_force(instance, BudgetKind::kFaceValue, 12.0).best_net);
}

// User 0: S (face 5) net 1, L (face 10) net 10; user 1: S net 4. Budget 10. S lies under user
// 0's hull (slope 0.2 < 1), so the greedy compares user 0's L (1 per unit) with user 1's S (0.8)
// and takes L: net 10, the optimum. Taking user 0's cheap step first (without the hull) would
// spend the budget on user 1's S and user 0's S: net 5.
TEST(CouponAllocation, FaceValueGreedyUsesTheConvexHull) {
  Instance instance;
  instance.users = 2;
  instance.coupons = {{"S", 5.0, 0.0}, {"L", 10.0, 0.0}};
  instance.effects = {{1.0, 0.2}, {10.0, 0.9}, {4.0, 0.3}, {-2.0, 0.3}};
  const AllocationResult result = allocate(instance, BudgetKind::kFaceValue, 10.0);
  expect_consistent(instance, BudgetKind::kFaceValue, 10.0, result);
  ASSERT_EQ(result.assignments.size(), 1u);
  EXPECT_EQ(result.assignments[0].user, 0);
  EXPECT_EQ(result.assignments[0].coupon, 1);
  EXPECT_DOUBLE_EQ(result.net_value, 10.0);
  EXPECT_DOUBLE_EQ(result.net_value, brute_force(instance, BudgetKind::kFaceValue, 10.0).best_net);
}

TEST(CouponAllocation, AmpleBudgetGivesEveryUserTheirBestCoupon) {
  Xoshiro256 generator(5);
  const Instance instance = random_instance(generator, 50, 3);
  for (BudgetKind kind : {BudgetKind::kCoupons, BudgetKind::kFaceValue}) {
    const AllocationResult result = allocate(instance, kind, 1e6);
    expect_consistent(instance, kind, 1e6, result);
    size_t with_positive_net = 0;
    double best_total = 0;
    for (int64_t u = 0; u < instance.users; ++u) {
      double best = 0;
      for (size_t c = 0; c < 3; ++c) best = std::max(best, instance.net(u, c));
      with_positive_net += best > 0 ? 1 : 0;
      best_total += best;
    }
    EXPECT_EQ(result.assignments.size(), with_positive_net);
    EXPECT_NEAR(result.net_value, best_total, 1e-9);
  }
}

TEST(CouponAllocation, UsersWithoutPositiveNetNeverGetCoupons) {
  // Coupon "x" costs 4 per redemption. User 0: net 0 exactly (uplift 2 = 4 * 0.5) and -1;
  // user 1: both negative; user 2: net 1.
  const std::vector<CouponType> coupons = {{"x", 5.0, 4.0}, {"y", 1.0, 1.0}};
  const std::vector<CouponEffect> effects = {{2.0, 0.5}, {0.0, 1.0}, {-0.5, 0.0},
                                             {0.1, 0.9}, {3.0, 0.5}, {0.0, 0.0}};
  for (BudgetKind kind : {BudgetKind::kCoupons, BudgetKind::kFaceValue}) {
    AllocationOptions options;
    options.budget_kind = kind;
    options.budget = 1000;
    const AllocationResult result = allocate_coupons(3, coupons, effects, options);
    ASSERT_EQ(result.assignments.size(), 1u);
    EXPECT_EQ(result.assignments[0].user, 2);
    EXPECT_EQ(result.assignments[0].coupon, 0);
    EXPECT_DOUBLE_EQ(result.net_value, 1.0);
  }
  AllocationOptions options;
  options.budget = 10;
  EXPECT_TRUE(allocate_coupons(0, coupons, {}, options).assignments.empty());
}

TEST(CouponAllocation, CountBudgetPicksTheHighestNetsAndBreaksTiesByIndex) {
  // Nets (value 1, no cost): user 0: 0.2 / 0.2 (tie -> coupon 0); user 1: 0.5 / 0.7;
  // user 2: 0.7 / 0.1 (ties user 1 at 0.7 -> user 1 first); user 3: 0.3 / 0.
  const std::vector<CouponType> coupons = {{"a", 1.0, 0.0}, {"b", 3.0, 0.0}};
  const std::vector<CouponEffect> effects = {{0.2, 0}, {0.2, 0}, {0.5, 0}, {0.7, 0},
                                             {0.7, 0}, {0.1, 0}, {0.3, 0}, {0.0, 0}};
  AllocationOptions options;
  options.budget = 2.9;  // two whole coupons
  AllocationResult result = allocate_coupons(4, coupons, effects, options);
  ASSERT_EQ(result.assignments.size(), 2u);
  EXPECT_EQ(result.assignments[0].user, 1);
  EXPECT_EQ(result.assignments[0].coupon, 1);
  EXPECT_EQ(result.assignments[1].user, 2);
  EXPECT_EQ(result.assignments[1].coupon, 0);
  EXPECT_EQ(result.budget_used, 2.0);
  EXPECT_DOUBLE_EQ(result.face_value_issued, 4.0);
  options.budget = 4;
  result = allocate_coupons(4, coupons, effects, options);
  ASSERT_EQ(result.assignments.size(), 4u);
  EXPECT_EQ(result.assignments[3].user, 0);
  EXPECT_EQ(result.assignments[3].coupon, 0);
  options.budget = 0.99;  // less than one coupon
  EXPECT_TRUE(allocate_coupons(4, coupons, effects, options).assignments.empty());
}

TEST(CouponAllocation, DecimalFaceValuesFillTheirExactBudget) {
  ASSERT_GT(0.1 + 0.2 + 0.3, 0.6);  // binary rounding makes the exact fill look too large
  const std::vector<CouponType> coupons = {{"a", 0.1, 0.0}, {"b", 0.2, 0.0}, {"c", 0.3, 0.0}};
  std::vector<CouponEffect> effects(9);
  for (size_t u = 0; u < 3; ++u) effects[u * 3 + u] = {1.0, 0.5};  // user u only likes coupon u
  AllocationOptions options;
  options.budget_kind = BudgetKind::kFaceValue;
  options.budget = 0.6;
  const AllocationResult result = allocate_coupons(3, coupons, effects, options);
  EXPECT_EQ(result.assignments.size(), 3u);
  EXPECT_LE(result.face_value_issued, 0.6 * (1 + 1e-9));
}

TEST(CouponAllocation, ErrorMessagesNameTheProblem) {
  const std::vector<CouponType> coupons = {{"ten", 10.0, 10.0}, {"five", 5.0, 2.0}};
  std::vector<CouponEffect> effects(4, {0.1, 0.2});
  AllocationOptions options;
  options.budget = 0;
  EXPECT_EQ(testing::user_error_of([&] { allocate_coupons(2, coupons, effects, options); }),
            "budget must be > 0 (got 0)");
  options.budget = -2.5;
  EXPECT_EQ(testing::user_error_of([&] { allocate_coupons(2, coupons, effects, options); }),
            "budget must be > 0 (got -2.5)");
  options.budget = std::numeric_limits<double>::infinity();
  EXPECT_EQ(testing::user_error_of([&] { allocate_coupons(2, coupons, effects, options); }),
            "budget must be finite (got inf)");
  options.budget = 100;
  EXPECT_EQ(testing::user_error_of([&] { allocate_coupons(2, {}, {}, options); }),
            "no coupon types given");
  EXPECT_EQ(testing::user_error_of([&] {
              allocate_coupons(2, {{"ten", 10.0, 1.0}, {"free", 0.0, 0.0}}, effects, options);
            }),
            "coupon 'free': face value must be a finite number > 0 (got 0)");
  EXPECT_EQ(testing::user_error_of([&] {
              allocate_coupons(2, {{"ten", 10.0, 1.0}, {"odd", 5.0, -1.0}}, effects, options);
            }),
            "coupon 'odd': cost per redemption must be a finite number >= 0 (got -1)");
  EXPECT_EQ(testing::user_error_of([&] {
              allocate_coupons(2, {{"ten", 10.0, 1.0}, {"ten", 5.0, 1.0}}, effects, options);
            }),
            "coupon 'ten' is given twice");
  options.value_per_purchase = 0;
  EXPECT_EQ(testing::user_error_of([&] { allocate_coupons(2, coupons, effects, options); }),
            "value per purchase must be a finite number > 0 (got 0)");
  options.value_per_purchase = 1;
  effects[3].uplift = std::nan("");
  EXPECT_EQ(testing::user_error_of([&] { allocate_coupons(2, coupons, effects, options); }),
            "coupon effect of user 1, coupon 'five' is not a finite number (uplift nan, "
            "redemption probability 0.2)");
  effects[3] = {0.1, 1.5};
  EXPECT_EQ(testing::user_error_of([&] { allocate_coupons(2, coupons, effects, options); }),
            "coupon effect of user 1, coupon 'five': redemption probability must be within [0, 1] "
            "(got 1.5)");
}

TEST(CouponSpec, ParsesNameFaceValueAndOptionalCost) {
  const CouponType ten = parse_coupon_spec("ten:10");
  EXPECT_EQ(ten.name, "ten");
  EXPECT_EQ(ten.face_value, 10.0);
  EXPECT_EQ(ten.cost_per_redemption, 10.0);  // defaults to the face value
  const CouponType cheap = parse_coupon_spec("spring-5:5.5:2.25");
  EXPECT_EQ(cheap.name, "spring-5");
  EXPECT_EQ(cheap.face_value, 5.5);
  EXPECT_EQ(cheap.cost_per_redemption, 2.25);
  EXPECT_EQ(parse_coupon_spec("free-ship:4.9:0").cost_per_redemption, 0.0);
  EXPECT_EQ(parse_coupon_spec("sci:1e1").face_value, 10.0);
}

TEST(CouponSpec, ErrorsNameTheSpec) {
  using testing::user_error_of;
  EXPECT_EQ(user_error_of([] { parse_coupon_spec(":10"); }),
            "coupon spec ':10': missing the coupon name");
  EXPECT_EQ(user_error_of([] { parse_coupon_spec("ten"); }),
            "coupon spec 'ten': expected NAME:FACE_VALUE[:COST_PER_REDEMPTION]");
  EXPECT_EQ(user_error_of([] { parse_coupon_spec("ten:1:2:3"); }),
            "coupon spec 'ten:1:2:3': expected NAME:FACE_VALUE[:COST_PER_REDEMPTION]");
  EXPECT_EQ(user_error_of([] { parse_coupon_spec("ten:abc"); }),
            "coupon spec 'ten:abc': face value 'abc' is not a finite number");
  EXPECT_EQ(user_error_of([] { parse_coupon_spec("ten:"); }),
            "coupon spec 'ten:': face value '' is not a finite number");
  EXPECT_EQ(user_error_of([] { parse_coupon_spec("ten:10 "); }),
            "coupon spec 'ten:10 ': face value '10 ' is not a finite number");
  EXPECT_EQ(user_error_of([] { parse_coupon_spec("ten:inf"); }),
            "coupon spec 'ten:inf': face value 'inf' is not a finite number");
  EXPECT_EQ(user_error_of([] { parse_coupon_spec("ten:0"); }),
            "coupon spec 'ten:0': face value must be > 0 (got 0)");
  EXPECT_EQ(user_error_of([] { parse_coupon_spec("ten:-10"); }),
            "coupon spec 'ten:-10': face value must be > 0 (got -10)");
  EXPECT_EQ(user_error_of([] { parse_coupon_spec("ten:10:-1"); }),
            "coupon spec 'ten:10:-1': cost per redemption must be >= 0 (got -1)");
  EXPECT_EQ(user_error_of([] { parse_coupon_spec("ten:10:x"); }),
            "coupon spec 'ten:10:x': cost per redemption 'x' is not a finite number");
}

}  // namespace
}  // namespace cf::marketing
