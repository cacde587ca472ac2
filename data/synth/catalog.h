// The synthetic catalogue: categories, items, prices, related next items, and activities.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/synth/synth.h"

namespace cf::synth {

// One slot of Walker's alias table: O(1) draws from a fixed discrete distribution, one cache
// line each.
struct AliasSlot {
  double threshold;  // keep `item` when the fraction is below this, else take `alias`
  int32_t item;
  int32_t alias;
};

struct Category {
  std::vector<int32_t> items;  // in popularity-rank order
  std::vector<double> popularity_cdf;
  std::vector<AliasSlot> popularity_alias;  // the same distribution, for fast draws
  double median_price = 0;
  bool consumable = false;
  double repurchase_days = 0;
  // Multiplies a coupon's effect on carts of this category's items: coupons move purchases of
  // some categories (deal-driven ones) far more than of others.
  double deal_affinity = 1.0;
};

struct Catalog {
  int32_t successors_per_item = 0;
  std::vector<int64_t> public_id;    // item index -> item_id written to the files
  std::vector<int32_t> category_of;  // item index -> category index
  std::vector<int64_t> price_cents;
  std::vector<float> log_relative_price;  // log(price / category median)
  std::vector<int32_t> successors;        // successors_per_item entries per item
  std::vector<double> successor_cdf;      // shared weights K, K-1, ..., 1 (cumulative)
  std::vector<Category> categories;
  std::vector<double> category_cdf;  // how often a category is chosen as a taste
};

// Drawn from the catalogue's own stream: the same for every number of users.
Catalog build_catalog(const SynthOptions& options);

struct Activity {
  std::string id;
  bool coupon = true;
  int32_t discount_percent = 0;
  int64_t start = 0, end = 0;  // [start, end) unix seconds
  double factor = 1.0;         // multiplies P(buy | cart) for a user of coupon_sensitivity 1
};

// options.campaigns activities a1..aA inside the time window; the first is a coupon, the second
// a campaign, the rest either.
std::vector<Activity> build_activities(const SynthOptions& options);

}  // namespace cf::synth
