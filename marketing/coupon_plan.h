// Coupon plans: who gets which coupon under a budget, from a model's purchase probabilities with
// and without each coupon live, and the CSV and summary JSON the plan is handed over as.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "marketing/coupon_allocation.h"
#include "marketing/targeting.h"
#include "marketing/user_scores.h"

namespace cf::trainer {
class Model;
}

namespace cf::marketing {

struct CouponPlanRequest {
  // NAME = an activity of the corpus. Without identified uplift only the first is given.
  std::vector<CouponType> coupons;
  BudgetKind budget_kind = BudgetKind::kCoupons;
  double budget = 0;
  // Value of one extra purchase; none = the corpus's average order value (the report's data
  // profile), which needs purchase prices in the corpus.
  std::optional<double> value_per_purchase;
  // Coupon exposure in the training logs was randomised, so P(purchase | coupon) -
  // P(purchase | none) estimates the coupon's effect: allocate by uplift. Otherwise the uplift
  // is not identified and the first coupon goes to the users most likely to buy.
  bool exposure_randomized = false;
  std::optional<PurchaseHead> head;  // none = choose_purchase_head's default
  ScoringOptions scoring;
  std::string checkpoint;  // the directory the model was loaded from, named in errors and output
};

// One coupon given: a row of the CSV.
struct CouponPlanRow {
  std::string user_key, coupon;
  double expected_uplift, expected_cost, net_value;
  double purchase_prob_without, purchase_prob_with;
};

struct IssuedCoupon {
  CouponType type;
  int64_t issued = 0;
};

// What the summary JSON says, as data.
struct CouponPlanSummary {
  std::string checkpoint, corpus;
  bool uplift_identified = false;  // = the request's exposure_randomized
  std::string caveat;              // what the numbers can and cannot be taken for
  int64_t candidates = 0;          // users scored
  BudgetKind budget_kind = BudgetKind::kCoupons;
  double budget = 0, budget_used = 0;
  double value_per_purchase = 0;
  std::vector<IssuedCoupon> coupons;  // in the request's order
  int64_t coupons_issued = 0;
  double face_value_issued = 0;
  PurchaseHead head = PurchaseHead::kPropensity;
  // The model's estimates over the coupons given. Claimed as expected effects only where the
  // uplift is identified; otherwise reported apart as unidentified.
  double expected_extra_purchases = 0, expected_spend = 0, expected_net_value = 0;
  double expected_return_on_spend = 0;  // value of the extra purchases / spend; NaN for no spend
};

struct CouponPlan {
  std::vector<CouponPlanRow> rows;  // by net value descending (uplift) or by propensity
  CouponPlanSummary summary;
};

// Scores every user (or the first scoring.max_users) without a coupon and with each coupon live
// in the current session, then allocates (allocate_coupons by uplift, or allocate_by_score on
// P(purchase | none) when the uplift is not identified, which scores only the first coupon and
// sends the caveat as a notice). UserErrors (one line): a checkpoint without the purchase head,
// a coupon that is not an activity of the corpus (naming --coupon), no --value-per-purchase for
// a corpus without prices, and the allocators' own.
CouponPlan plan_coupons(trainer::Model& model, const data::CorpusReader& corpus,
                        const CouponPlanRequest& request, const TargetingCallbacks& callbacks = {});

// user_key,coupon,expected_uplift,expected_cost,net_value,purchase_prob_without,
// purchase_prob_with: probabilities and uplift to 6 decimals, money to 4; blank where undefined.
std::string coupon_plan_csv(const CouponPlan& plan);

// The summary as pretty-printed JSON (undefined numbers as null), ending in a newline.
std::string coupon_plan_summary_json(const CouponPlan& plan);

// Where the summary of the plan written to `csv_path` goes: "<dir>/<stem>_summary.json".
std::string coupon_summary_path(const std::string& csv_path);

}  // namespace cf::marketing
