#include "data/synth/catalog.h"

#include <algorithm>
#include <cmath>

#include "core/random.h"
#include "data/synth/behaviour_model.h"
#include "data/synth/random.h"

namespace cf::synth {
namespace {

// Walker's alias table for `weights` over `values`.
std::vector<AliasSlot> build_alias_table(const std::vector<double>& weights,
                                         const std::vector<int32_t>& values) {
  const size_t n = weights.size();
  double total = 0;
  for (double w : weights) total += w;
  std::vector<double> scaled(n);
  std::vector<size_t> small, large;
  for (size_t k = 0; k < n; ++k) {
    scaled[k] = weights[k] * static_cast<double>(n) / total;
    (scaled[k] < 1.0 ? small : large).push_back(k);
  }
  std::vector<AliasSlot> table(n);
  while (!small.empty() && !large.empty()) {
    size_t s = small.back(), l = large.back();
    small.pop_back();
    table[s] = {scaled[s], values[s], values[l]};
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // What is left has weight 1 up to rounding.
  for (size_t k : large) table[k] = {1.0, values[k], values[k]};
  for (size_t k : small) table[k] = {1.0, values[k], values[k]};
  return table;
}

}  // namespace

Catalog build_catalog(const SynthOptions& options) {
  Rng rng(options.seed, kCatalogStream, 0);
  const int64_t num_items = options.items;
  const int32_t num_categories = options.categories;
  Catalog catalog;
  catalog.categories.resize(num_categories);

  // Category sizes vary (lognormal weights); every category gets at least one item.
  std::vector<double> size_cdf(num_categories);
  double acc = 0;
  for (int32_t c = 0; c < num_categories; ++c) size_cdf[c] = (acc += rng.lognormal_unit_mean(0.5));
  catalog.category_of.resize(num_items);
  for (int64_t i = 0; i < num_items; ++i) {
    int32_t c = i < num_categories
                    ? static_cast<int32_t>(i)
                    : static_cast<int32_t>(draw_from_cdf(rng, size_cdf.data(), num_categories));
    catalog.category_of[i] = c;
    catalog.categories[c].items.push_back(static_cast<int32_t>(i));
  }
  // Popularity: Zipf over a random rank order within each category.
  for (size_t c = 0; c < catalog.categories.size(); ++c) {
    Category& category = catalog.categories[c];
    auto& items = category.items;
    for (int64_t k = static_cast<int64_t>(items.size()) - 1; k > 0; --k) {
      std::swap(items[k], items[rng.below(k + 1)]);
    }
    category.popularity_cdf.resize(items.size());
    std::vector<double> weights(items.size());
    double total = 0;
    for (size_t r = 0; r < items.size(); ++r) {
      weights[r] = std::pow(static_cast<double>(r + 1), -kItemZipfExponent);
      category.popularity_cdf[r] = (total += weights[r]);
    }
    category.popularity_alias = build_alias_table(weights, items);
    category.median_price = std::exp(3.2 + 0.9 * rng.normal());
    category.consumable = rng.chance(kConsumableCategoryFraction);
    category.repurchase_days = category.consumable ? static_cast<double>(10 + rng.below(35)) : 0.0;
    // From a hash, not the catalog stream, so every other catalog draw stays as it was.
    const uint64_t bits =
        splitmix64_mix(options.seed * kGoldenGamma + 0xDEA1ull + static_cast<uint64_t>(c));
    category.deal_affinity = static_cast<double>(bits >> 11) * 0x1.0p-53 < kDealCategoryFraction
                                 ? kDealAffinity
                                 : kOtherAffinity;
  }
  // Prices: lognormal around the category's median; whole cents, at least 0.50.
  catalog.price_cents.resize(num_items);
  catalog.log_relative_price.resize(num_items);
  for (int64_t i = 0; i < num_items; ++i) {
    const Category& category = catalog.categories[catalog.category_of[i]];
    double price = category.median_price * std::exp(0.45 * rng.normal());
    int64_t cents = std::max<int64_t>(50, std::llround(price * 100.0));
    catalog.price_cents[i] = cents;
    catalog.log_relative_price[i] =
        static_cast<float>(std::log(cents / (100.0 * category.median_price)));
  }
  // Related next items: distinct items of the same category, half of the slots drawn by
  // popularity and half uniformly, so popular items are reached more often but the tail is too.
  const int32_t k_max = options.successors_per_item;
  catalog.successors_per_item = k_max;
  catalog.successors.assign(static_cast<size_t>(num_items) * k_max, 0);
  for (int64_t i = 0; i < num_items; ++i) {
    const Category& category = catalog.categories[catalog.category_of[i]];
    const int64_t size = static_cast<int64_t>(category.items.size());
    int32_t* slots = &catalog.successors[static_cast<size_t>(i) * k_max];
    const int64_t distinct = std::min<int64_t>(k_max, size - 1);
    if (distinct <= 0) {
      std::fill(slots, slots + k_max, static_cast<int32_t>(i));  // a category of one item
      continue;
    }
    int32_t filled = 0;
    while (filled < distinct) {
      int64_t rank = rng.chance(0.5) ? draw_from_cdf(rng, category.popularity_cdf.data(), size)
                                     : rng.below(size);
      int32_t candidate = category.items[rank];
      if (candidate == i || std::find(slots, slots + filled, candidate) != slots + filled) continue;
      slots[filled++] = candidate;
    }
    for (int32_t k = filled; k < k_max; ++k) slots[k] = slots[k % filled];
  }
  catalog.successor_cdf.resize(k_max);
  double successor_total = 0;
  for (int32_t k = 0; k < k_max; ++k) catalog.successor_cdf[k] = (successor_total += k_max - k);

  // Which categories users like: Zipf over a random order of the categories.
  std::vector<int32_t> order(num_categories);
  for (int32_t c = 0; c < num_categories; ++c) order[c] = c;
  for (int32_t k = num_categories - 1; k > 0; --k) std::swap(order[k], order[rng.below(k + 1)]);
  std::vector<double> weight(num_categories);
  for (int32_t r = 0; r < num_categories; ++r)
    weight[order[r]] = std::pow(r + 1.0, -kCategoryZipfExponent);
  catalog.category_cdf.resize(num_categories);
  acc = 0;
  for (int32_t c = 0; c < num_categories; ++c) catalog.category_cdf[c] = (acc += weight[c]);

  // Public item ids: a random permutation of 1..N, unrelated to category or popularity.
  catalog.public_id.resize(num_items);
  for (int64_t i = 0; i < num_items; ++i) catalog.public_id[i] = i + 1;
  for (int64_t k = num_items - 1; k > 0; --k)
    std::swap(catalog.public_id[k], catalog.public_id[rng.below(k + 1)]);
  return catalog;
}

std::vector<Activity> build_activities(const SynthOptions& options) {
  Rng rng(options.seed, kActivityStream, 0);
  const int64_t window = int64_t{options.window_days} * kSecondsPerDay;
  std::vector<Activity> activities(options.campaigns);
  for (int32_t a = 0; a < options.campaigns; ++a) {
    Activity& activity = activities[a];
    activity.id = "a" + std::to_string(a + 1);
    activity.coupon = a == 0 ? true : a == 1 ? false : rng.chance(0.6);
    // Coupons: 5-30% off and a strong response; campaigns (site-wide sales): 10-40%, weaker.
    activity.discount_percent = activity.coupon ? static_cast<int32_t>(5 * (1 + rng.below(6)))
                                                : static_cast<int32_t>(10 * (1 + rng.below(4)));
    double elasticity = activity.coupon ? 2.0 + 2.0 * rng.uniform() : 1.0 + 1.5 * rng.uniform();
    activity.factor =
        std::round((1.0 + elasticity * activity.discount_percent / 100.0) * 1e4) / 1e4;
    int64_t duration = std::min<int64_t>(window, (20 + rng.below(26)) * kSecondsPerDay);
    activity.start = options.start_timestamp + rng.below(window - duration + 1);
    activity.end = activity.start + duration;
  }
  return activities;
}

}  // namespace cf::synth
