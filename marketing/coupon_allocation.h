// Coupon allocation under a budget: which candidate user gets which coupon type (at most one
// each) to maximise the expected net value, and the parser of the command line's coupon spec.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cf::marketing {

struct CouponType {
  std::string name;
  double face_value = 0;           // > 0; what a face-value budget counts
  double cost_per_redemption = 0;  // >= 0; what the business pays when the coupon is redeemed
};

// For one candidate user and one coupon type: expected incremental purchases if the user gets it
// (may be <= 0), and P(the coupon is redeemed) = P(purchase | coupon), used for the expected cost.
struct CouponEffect {
  double uplift = 0;
  double redemption_probability = 0;  // in [0, 1]
};

enum class BudgetKind {
  kCoupons,    // number of coupons issued
  kFaceValue,  // total face value issued
};

struct AllocationOptions {
  BudgetKind budget_kind = BudgetKind::kCoupons;
  double budget = 0;  // > 0 and finite
  // Value of one incremental purchase (e.g. average order margin), > 0.
  double value_per_purchase = 1.0;
};

struct Assignment {
  int64_t user;
  int32_t coupon;  // index into the coupon types
  double uplift;
  double expected_cost;  // cost_per_redemption * redemption_probability
  double net_value;      // value_per_purchase * uplift - expected_cost (> 0)
};

struct AllocationResult {
  std::vector<Assignment> assignments;  // by net_value descending, ties by user ascending
  double expected_incremental_purchases = 0, expected_cost = 0, face_value_issued = 0,
         net_value = 0;
  double budget_used = 0;  // in the budget's unit: coupons issued, or face_value_issued
};

// effects[u * coupons.size() + c] is user u's effect for coupon type c (size checked by CF_CHECK).
// net(u, c) = value_per_purchase * uplift - cost_per_redemption * redemption_probability.
// Each user gets at most one coupon and only with net > 0, so a user whose every net is <= 0
// never gets one, whatever the budget.
//
// kCoupons: exact. Each user's best coupon (highest net; ties to the lower coupon index), then
// the floor(budget) users with the highest such net (ties to the lower user index).
//
// kFaceValue: a multiple-choice knapsack (NP-hard), solved approximately in O(U C log(U C)):
//  1. Per user, the upper convex hull of the options (0, 0) and (face_value, net) with net > 0;
//     its segments are upgrades of decreasing value per unit of face value.
//  2. All users' upgrades by decreasing efficiency (ties: lower user, then the user's earlier
//     segment), taken while they fit; the first that does not fit stops this phase. What is taken
//     is the LP relaxation's optimum without its one fractional upgrade.
//  3. The leftover budget is filled greedily: repeatedly the affordable switch (a first coupon,
//     or any user's change to another coupon, hull or not) with the largest net gain, until no
//     switch with a positive gain fits.
//  Optimality gap: net_value >= optimum - (the net gain of the upgrade that stopped phase 2)
//  >= optimum - max over (u, c) of net(u, c), since the LP optimum bounds the integer optimum
//  and phase 3 only adds value. When the whole hull fits, the result is the unconstrained
//  optimum. A coupon fits when the issued face value stays within budget * (1 + 1e-9): decimal
//  face values such as 0.1 + 0.2 + 0.3 then fit a budget of 0.6 despite binary rounding, and the
//  budget is never exceeded by more than that rounding slack.
//
// UserError (one line each): budget not > 0 or not finite, no coupon types, a coupon with
// face_value <= 0 or cost_per_redemption < 0 (or not finite), two coupons with the same name,
// value_per_purchase not > 0 or not finite, a NaN or infinite uplift or redemption probability,
// or a redemption probability outside [0, 1] (naming the user index and the coupon).
AllocationResult allocate_coupons(int64_t users, const std::vector<CouponType>& coupons,
                                  const std::vector<CouponEffect>& effects,
                                  const AllocationOptions& options);

// Parses the command line's coupon spec NAME:FACE_VALUE[:COST_PER_REDEMPTION], e.g. "ten:10" or
// "ten:10:7.5"; the cost defaults to the face value (a redeemed coupon costs what it is worth).
// UserError naming the spec for: a wrong number of fields, an empty name, a face value that is
// not a finite number or not > 0, a cost that is not a finite number or negative.
CouponType parse_coupon_spec(const std::string& spec);

}  // namespace cf::marketing
