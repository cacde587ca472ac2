#include "marketing/ranked_allocation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace cf::marketing {

std::vector<int64_t> users_by_score(const std::vector<double>& score) {
  std::vector<int64_t> order(score.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const double sa = score[static_cast<size_t>(a)], sb = score[static_cast<size_t>(b)];
    if (std::isnan(sb)) return !std::isnan(sa);
    return sa > sb;
  });
  return order;
}

AllocationResult allocate_by_score(const std::vector<double>& score, int32_t coupon,
                                   const std::vector<CouponType>& coupons,
                                   const std::vector<CouponEffect>* effects,
                                   const AllocationOptions& options) {
  CF_CHECK(coupon >= 0 && coupon < static_cast<int32_t>(coupons.size()), "coupon index out of range");
  if (!(options.budget > 0) || !std::isfinite(options.budget)) {
    throw UserError("budget must be > 0 (got " + std::to_string(options.budget) + ")");
  }
  const size_t n = score.size();
  CF_CHECK(!effects || effects->size() == n * coupons.size(), "effects must be users x coupons");
  const std::vector<int64_t> order = users_by_score(score);
  const CouponType& type = coupons[static_cast<size_t>(coupon)];
  if (!(type.face_value > 0) || !std::isfinite(type.face_value)) {
    throw UserError("coupon " + type.name + ": face value must be a finite number > 0 (got " +
                    std::to_string(type.face_value) + ")");
  }
  const double unit = options.budget_kind == BudgetKind::kCoupons ? 1.0 : type.face_value;
  const double limit = options.budget_kind == BudgetKind::kCoupons ? std::floor(options.budget)
                                                                    : options.budget * (1 + 1e-9);
  AllocationResult result;
  for (int64_t user : order) {
    if (std::isnan(score[static_cast<size_t>(user)])) break;
    if (result.budget_used + unit > limit) break;
    Assignment a{user, coupon, std::nan(""), std::nan(""), std::nan("")};
    if (effects) {
      const CouponEffect& e = (*effects)[static_cast<size_t>(user) * coupons.size() + static_cast<size_t>(coupon)];
      a.uplift = e.uplift;
      a.expected_cost = type.cost_per_redemption * e.redemption_probability;
      a.net_value = options.value_per_purchase * e.uplift - a.expected_cost;
      result.expected_incremental_purchases += a.uplift;
      result.expected_cost += a.expected_cost;
      result.net_value += a.net_value;
    }
    result.face_value_issued += type.face_value;
    result.budget_used += unit;
    result.assignments.push_back(a);
  }
  if (!effects) {
    result.expected_incremental_purchases = result.expected_cost = result.net_value = std::nan("");
  }
  return result;
}

}  // namespace cf::marketing
