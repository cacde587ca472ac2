// Coupon allocation by a ranking score alone (no uplift): the fallback when uplift is not
// identified (propensity ranking), and the reference policies of the uplift benchmark
// (propensity-only, random).
#pragma once
#include <cstdint>
#include <vector>

#include "marketing/coupon_allocation.h"

namespace cf::marketing {

// User indices by decreasing score; ties keep the lower index first and NaN scores come last.
std::vector<int64_t> users_by_score(const std::vector<double>& score);

// Gives coupon type `coupon` to users in decreasing `score` order (ties to the lower user
// index) while the budget allows: floor(budget) users for kCoupons, face values up to the
// budget for kFaceValue. Users with a NaN score are never chosen. Uplift, cost and net of each
// assignment come from `effects` (users x coupons, as allocate_coupons takes them) when given,
// else they are NaN and the totals count coupons and face value only.
AllocationResult allocate_by_score(const std::vector<double>& score, int32_t coupon,
                                   const std::vector<CouponType>& coupons,
                                   const std::vector<CouponEffect>* effects,
                                   const AllocationOptions& options);

}  // namespace cf::marketing
