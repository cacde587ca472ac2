// Fixed parameters of the synthetic behaviour model (docs/synthetic-data.md explains each).
#pragma once
#include <cstddef>
#include <cstdint>

namespace cf::synth {

inline constexpr int64_t kSecondsPerDay = 86400;
inline constexpr int64_t kSessionSlotSeconds =
    2 * 3600;  // a session never runs longer than its slot
inline constexpr int64_t kSessionStopAfterSeconds =
    kSessionSlotSeconds - 1000;  // room for funnel steps
inline constexpr double kItemZipfExponent = 0.9;
inline constexpr double kCategoryZipfExponent = 0.7;
inline constexpr double kConsumableCategoryFraction = 0.3;
inline constexpr double kRevisitAvoidance = 0.85;  // chance a user skips an item already seen
inline constexpr int kNextItemAttempts = 3;
inline constexpr double kSecondCategoryProbability = 0.3;
inline constexpr double kExploreCategoryProbability = 0.05;
inline constexpr double kCategorySwitchProbability = 0.12;
inline constexpr double kTasteDriftPerSession = 0.05;
inline constexpr double kRepurchaseTakeUp = 0.6;
inline constexpr double kRepurchaseCartProb = 0.45;
inline constexpr size_t kMaxPendingRepurchases = 16;
inline constexpr double kMeanCartProb = 0.075;
inline constexpr double kMeanBuyProb = 0.40;
inline constexpr double kMeanFavProb = 0.03;
inline constexpr double kBuyProbCap = 0.95;
// A third of the categories are deal-driven: a coupon's effect on a cart of their items is 2x
// what the user's sensitivity alone gives, on the others 0.5x (mean 1 over categories).
inline constexpr double kDealCategoryFraction = 1.0 / 3.0;
inline constexpr double kDealAffinity = 2.0, kOtherAffinity = 0.5;
inline constexpr double kMedianViewGapSeconds = 40.0;

}  // namespace cf::synth
