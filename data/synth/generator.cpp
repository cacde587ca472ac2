#include "data/synth/generator.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "data/synth/behaviour_model.h"
#include "data/synth/ground_truth.h"

namespace cf::synth {
namespace {

// View-to-view gaps: a lognormal (median kMedianViewGapSeconds, sigma 0.9) tabulated at 4096
// quantiles, so a gap costs one draw and one lookup instead of log, sqrt, cos and exp.
std::vector<int32_t> build_view_gap_table() {
  constexpr int kSize = 4096;
  std::vector<int32_t> table(kSize);
  for (int k = 0; k < kSize; ++k) {
    double p = (k + 0.5) / kSize;
    // Standard normal quantile by bisection on the CDF 0.5 * erfc(-z / sqrt(2)).
    double lo = -9.0, hi = 9.0;
    for (int it = 0; it < 80; ++it) {
      double mid = 0.5 * (lo + hi);
      (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
    }
    double gap = kMedianViewGapSeconds * std::exp(0.9 * 0.5 * (lo + hi));
    table[k] = static_cast<int32_t>(std::clamp(gap, 2.0, 900.0));
  }
  return table;
}

}  // namespace

Generator::Generator(const SynthOptions& options, const Catalog& catalog,
                     const std::vector<Activity>& activities, CsvFile& behavior,
                     UserTruthFile& user_truth)
    : options_(options),
      catalog_(catalog),
      activities_(activities),
      behavior_(behavior),
      user_truth_(user_truth),
      view_gaps_(build_view_gap_table()),
      tallies_(activities.size()) {
  items_.resize(catalog.category_of.size());
  for (size_t i = 0; i < items_.size(); ++i) {
    items_[i] = {catalog.category_of[i], catalog.log_relative_price[i],
                 static_cast<int32_t>(catalog.public_id[i]), 0};
  }
  // Sessions per user are set so that the mean number of events lands near the target:
  // a view brings on average ~0.15 funnel events with it (measured on the defaults).
  const double events_per_view = 1.15;
  mean_sessions_ = std::max(
      1.0, options.events_per_user_mean / (options.views_per_session_mean * events_per_view));
  behavior_.begin_row();
  behavior_.put("user_id,item_id,activity_id,behavior,timestamp,purchase\n");
}

void Generator::generate_user(int64_t user) {
  Rng rng(options_.seed, kUserStream, static_cast<uint64_t>(user));
  if (++stamp_ == 0) {  // wrapped after 2^32 - 1 users: forget every mark, start again
    for (auto& item : items_) item.seen_stamp = 0;
    stamp_ = 1;
  }
  user_text_len_ = static_cast<size_t>(
      std::to_chars(user_text_, user_text_ + sizeof(user_text_), user + 1).ptr - user_text_);
  init_user(rng);
  user_truth_.write(user, user_);

  const int64_t window = int64_t{options_.window_days} * kSecondsPerDay;
  // Active span: users join and leave at different times inside the window.
  int64_t span = static_cast<int64_t>(window * (0.3 + 0.7 * rng.uniform()));
  int64_t span_start = options_.start_timestamp + rng.below(window - span + 1);
  double y = (mean_sessions_ - 1.0) * rng.lognormal_unit_mean(0.7);
  int64_t sessions =
      1 + static_cast<int64_t>(std::floor(y)) + (rng.chance(y - std::floor(y)) ? 1 : 0);
  sessions = std::clamp<int64_t>(sessions, 1, std::max<int64_t>(1, span / kSessionSlotSeconds));
  // Session starts: S sorted points in the span's free time, each followed by its own slot, so
  // sessions never overlap and timestamps strictly increase within a user.
  int64_t free_time = std::max<int64_t>(0, span - sessions * kSessionSlotSeconds);
  starts_.resize(static_cast<size_t>(sessions));
  for (auto& s : starts_) s = rng.below(free_time + 1);
  std::sort(starts_.begin(), starts_.end());
  last_event_repeat_ = false;
  for (int64_t k = 0; k < sessions; ++k) {
    generate_session(rng, span_start + starts_[k] + k * kSessionSlotSeconds, k == 0);
  }
  repeat_last_users_ += last_event_repeat_ ? 1 : 0;
}

void Generator::init_user(Rng& rng) {
  user_ = UserState{};
  UserState& u = user_;
  u.pending.clear();
  // Sparse taste: 1-4 categories (drawn by category popularity) with Dirichlet(1) weights.
  double r = rng.uniform();
  int n_tastes = r < 0.3 ? 1 : r < 0.7 ? 2 : r < 0.9 ? 3 : 4;
  n_tastes = std::min<int>(n_tastes, options_.categories);
  while (static_cast<int>(u.taste_categories.size()) < n_tastes) {
    int32_t c = draw_category(rng);
    if (std::find(u.taste_categories.begin(), u.taste_categories.end(), c) ==
        u.taste_categories.end()) {
      u.taste_categories.push_back(c);
    }
  }
  double acc = 0;
  for (int k = 0; k < n_tastes; ++k) u.taste_cdf.push_back(acc += rng.exponential());
  u.cart_prob = std::clamp(kMeanCartProb * rng.lognormal_unit_mean(0.5), 0.005, 0.5);
  u.buy_prob = std::clamp(kMeanBuyProb * rng.lognormal_unit_mean(0.35), 0.02, 0.9);
  u.fav_prob = std::clamp(kMeanFavProb * rng.lognormal_unit_mean(0.8), 0.0, 0.3);
  // Price-sensitive users both prefer cheaper items and respond more to coupons, so the
  // response is partly predictable from behaviour (what an uplift model should find).
  u.coupon_sensitivity = rng.lognormal_unit_mean(0.6);
  u.price_elasticity = 0.8 * u.coupon_sensitivity;
  u.experiment = rng.chance(options_.randomized_fraction);
  // In the experiment exposure is a coin flip; outside it, marketing targets heavy buyers
  // (exposure confounded with the user's own purchase propensity).
  double exposure_prob =
      u.experiment ? options_.exposure_fraction
                   : std::min(1.0, options_.exposure_fraction * u.buy_prob / kMeanBuyProb);
  bool exposed = rng.chance(exposure_prob);
  int64_t activity = rng.below(std::max<int64_t>(1, static_cast<int64_t>(activities_.size())));
  if (!activities_.empty() && exposed) {
    u.activity = static_cast<int32_t>(activity);
    ++exposed_users_;
    ++tallies_[activity].exposed_users;
    if (u.experiment) ++tallies_[activity].experiment_exposed_users;
  }
  experiment_users_ += u.experiment ? 1 : 0;
}

int32_t Generator::draw_category(Rng& rng) {
  return static_cast<int32_t>(
      draw_from_cdf(rng, catalog_.category_cdf.data(), options_.categories));
}
int32_t Generator::draw_taste(Rng& rng) {
  const auto& cdf = user_.taste_cdf;
  return user_.taste_categories[draw_from_cdf(rng, cdf.data(), static_cast<int64_t>(cdf.size()))];
}
int32_t Generator::draw_popular_item(Rng& rng, int32_t category) {
  const Category& c = catalog_.categories[category];
  double fraction;
  const AliasSlot& slot =
      c.popularity_alias[rng.below_with_fraction(static_cast<int64_t>(c.items.size()), fraction)];
  return fraction < slot.threshold ? slot.item : slot.alias;
}
int32_t Generator::draw_successor(Rng& rng, int32_t item) {
  const int32_t k = catalog_.successors_per_item;
  int64_t slot = draw_from_cdf(rng, catalog_.successor_cdf.data(), k);
  return catalog_.successors[static_cast<size_t>(item) * k + slot];
}
void Generator::drift_taste(Rng& rng) {
  // Slow drift: now and then one liked category is swapped for a new one (weight kept).
  if (!rng.chance(kTasteDriftPerSession)) return;
  auto& tastes = user_.taste_categories;
  if (static_cast<int32_t>(tastes.size()) >= options_.categories) return;
  for (int attempt = 0; attempt < 4; ++attempt) {
    int32_t c = draw_category(rng);
    if (std::find(tastes.begin(), tastes.end(), c) != tastes.end()) continue;
    tastes[rng.below(static_cast<int64_t>(tastes.size()))] = c;
    return;
  }
}

int32_t Generator::tag_at(int64_t t) const {
  if (user_.activity < 0) return -1;
  const Activity& a = activities_[user_.activity];
  return t >= a.start && t < a.end ? user_.activity : -1;
}

void Generator::emit(int32_t item, int32_t tag, Behavior behavior, int64_t t, int64_t quantity) {
  behavior_.begin_row();
  behavior_.put(std::string_view(user_text_, user_text_len_));
  behavior_.put(',');
  behavior_.put_int(items_[item].public_id);
  behavior_.put(',');
  if (tag >= 0) {
    behavior_.put(activities_[tag].id);
    ++tallies_[tag].tagged_events;
    ++tagged_events_;
  }
  behavior_.put(',');
  behavior_.put(kBehaviorNames[behavior]);
  behavior_.put(',');
  behavior_.put_int(t);
  behavior_.put(',');
  behavior_.put_int(quantity);
  behavior_.put('\n');
  ++events_;
  ++counts_[behavior];
  last_event_repeat_ = seen(item);
  items_[item].seen_stamp = stamp_;
}

// One view and what may follow it (fav, cart, buy); returns the time of the last event.
int64_t Generator::view_with_funnel(Rng& rng, int32_t item, int64_t t, bool repurchase) {
  emit(item, tag_at(t), kView, t, 0);
  const UserState& u = user_;
  if (rng.chance(u.fav_prob)) {
    t += 2 + rng.below(20);
    emit(item, tag_at(t), kFav, t, 0);
  }
  double cart_prob =
      std::min(0.9, u.cart_prob * std::exp(-u.price_elasticity * items_[item].log_relative_price));
  if (repurchase) cart_prob = std::max(cart_prob, kRepurchaseCartProb);
  if (!rng.chance(cart_prob)) return t;
  t += 5 + rng.below(55);
  int32_t tag = tag_at(t);
  emit(item, tag, kCart, t, 0);
  const double prob_without = u.buy_prob;
  double prob = prob_without;
  if (tag >= 0) {
    // The response also depends on what is in the cart: coupons move deal-driven categories
    // more (the part of the effect a model sees at the decision itself).
    const double affinity =
        catalog_.categories[static_cast<size_t>(items_[item].category)].deal_affinity;
    double factor = 1.0 + (activities_[tag].factor - 1.0) * u.coupon_sensitivity * affinity;
    prob = std::min(kBuyProbCap, prob_without * factor);
  }
  bool buy = rng.chance(prob);
  if (tag >= 0) {
    ActivityTally& tally = tallies_[tag];
    ++tally.tagged_carts;
    tally.sum_prob_with += prob;
    tally.sum_prob_without += prob_without;
    tally.tagged_buys += buy ? 1 : 0;
  } else {
    ++untagged_carts_;
    untagged_prob_sum_ += prob;
    untagged_buys_ += buy ? 1 : 0;
  }
  if (!buy) return t;
  t += 15 + rng.below(300);
  const Category& category = catalog_.categories[items_[item].category];
  int64_t quantity = category.consumable ? 1 + rng.geometric(0.6) : (rng.chance(0.06) ? 2 : 1);
  emit(item, tag, kBuy, t, quantity);
  if (category.consumable) {
    int64_t cycle = static_cast<int64_t>(category.repurchase_days * quantity * kSecondsPerDay *
                                         rng.lognormal_unit_mean(0.3));
    if (user_.pending.size() >= kMaxPendingRepurchases) user_.pending.erase(user_.pending.begin());
    user_.pending.push_back({item, t + cycle});
  }
  return t;
}

void Generator::generate_session(Rng& rng, int64_t start, bool first_session) {
  if (!first_session) drift_taste(rng);
  int32_t primary = draw_taste(rng);
  int32_t secondary = -1;
  if (rng.chance(kExploreCategoryProbability))
    secondary = draw_category(rng);
  else if (rng.chance(kSecondCategoryProbability))
    secondary = draw_taste(rng);
  if (secondary == primary) secondary = -1;

  int64_t views = 1 + rng.geometric(options_.views_per_session_mean - 1.0);
  if (first_session) views = std::max<int64_t>(views, 3);

  // A consumable bought earlier and now due may open the session (a repeat purchase).
  int32_t item = -1;
  bool repurchase = false;
  for (size_t k = 0; k < user_.pending.size(); ++k) {
    if (user_.pending[k].due > start) continue;
    int32_t due_item = user_.pending[k].item;
    user_.pending.erase(user_.pending.begin() + static_cast<std::ptrdiff_t>(k));
    if (rng.chance(kRepurchaseTakeUp)) {
      item = due_item;
      repurchase = true;
    }
    break;
  }
  int32_t current_category = primary;
  if (item < 0) {
    for (int attempt = 0; attempt < kNextItemAttempts; ++attempt) {
      item = draw_popular_item(rng, primary);
      if (!seen(item) || !rng.chance(kRevisitAvoidance)) break;
    }
  } else {
    current_category = items_[item].category;
  }

  int64_t t = start;
  for (int64_t v = 0;; ++v) {
    t = view_with_funnel(rng, item, t, repurchase);
    repurchase = false;
    if (v + 1 >= views) break;
    t += view_gaps_[rng.next() >> 52];
    if (t - start > kSessionStopAfterSeconds) break;
    item = next_item(rng, item, current_category, primary, secondary);
    current_category = items_[item].category;
  }
}

// The next view: mostly a related item of the current one, otherwise a popular item of the
// session's category (or of its second category). Items seen before are usually skipped.
int32_t Generator::next_item(Rng& rng, int32_t current, int32_t current_category, int32_t primary,
                             int32_t secondary) {
  int32_t candidate = current;
  for (int attempt = 0; attempt < kNextItemAttempts; ++attempt) {
    double r = rng.uniform();
    if (r < options_.follow_probability) {
      candidate = draw_successor(rng, current);
    } else if (secondary >= 0 && r < options_.follow_probability + kCategorySwitchProbability) {
      int32_t other = current_category == secondary ? primary : secondary;
      candidate = draw_popular_item(rng, other);
    } else {
      candidate = draw_popular_item(rng, current_category);
    }
    if (!seen(candidate) || !rng.chance(kRevisitAvoidance)) return candidate;
  }
  return candidate;
}

}  // namespace cf::synth
