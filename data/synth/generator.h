// The synthetic user generator: tastes, sessions, funnel, repeat purchases, coupon exposure.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "data/synth/catalog.h"
#include "data/synth/random.h"
#include "data/synth/synth.h"
#include "data/synth/writer.h"

namespace cf::synth {

class UserTruthFile;  // ground_truth.h

struct Repurchase {
  int32_t item;
  int64_t due;
};

// The hidden parameters of the user being generated.
struct UserState {
  std::vector<int32_t> taste_categories;
  std::vector<double> taste_cdf;
  double cart_prob = 0, buy_prob = 0, fav_prob = 0;
  double coupon_sensitivity = 1, price_elasticity = 0;
  bool experiment = false;
  int32_t activity = -1;
  std::vector<Repurchase> pending;
};

// Ground-truth tallies of the coupon effect: expected purchase probabilities with and without the
// activity on the same carts (an exact counterfactual), next to what was realised.
struct ActivityTally {
  int64_t exposed_users = 0, experiment_exposed_users = 0;
  int64_t tagged_events = 0, tagged_carts = 0, tagged_buys = 0;
  double sum_prob_with = 0, sum_prob_without = 0;
};

enum Behavior { kView = 0, kFav = 1, kCart = 2, kBuy = 3 };
inline constexpr std::string_view kBehaviorNames[] = {"view", "fav", "cart", "buy"};

// What the generator reads and writes for every event, packed so one cache line serves an item.
struct ItemState {
  int32_t category;
  float log_relative_price;
  int32_t public_id;
  uint32_t seen_stamp;  // equals the current user's stamp once that user has touched the item
};

// Writes the header of `behavior` on construction, then each generate_user() call appends that
// user's rows to `behavior` and the user's row to `user_truth`, and adds to the counts below.
class Generator {
 public:
  Generator(const SynthOptions& options, const Catalog& catalog,
            const std::vector<Activity>& activities, CsvFile& behavior, UserTruthFile& user_truth);

  void generate_user(int64_t user);

  int64_t events() const { return events_; }
  int64_t count(Behavior b) const { return counts_[b]; }
  int64_t exposed_users() const { return exposed_users_; }
  int64_t experiment_users() const { return experiment_users_; }
  int64_t tagged_events() const { return tagged_events_; }
  int64_t repeat_last_users() const { return repeat_last_users_; }
  const std::vector<ActivityTally>& tallies() const { return tallies_; }
  int64_t untagged_carts() const { return untagged_carts_; }
  int64_t untagged_buys() const { return untagged_buys_; }
  double untagged_prob_sum() const { return untagged_prob_sum_; }

 private:
  void init_user(Rng& rng);
  int32_t draw_category(Rng& rng);
  int32_t draw_taste(Rng& rng);
  int32_t draw_popular_item(Rng& rng, int32_t category);
  int32_t draw_successor(Rng& rng, int32_t item);
  bool seen(int32_t item) const { return items_[item].seen_stamp == stamp_; }
  void drift_taste(Rng& rng);
  int32_t tag_at(int64_t t) const;
  void emit(int32_t item, int32_t tag, Behavior behavior, int64_t t, int64_t quantity);
  int64_t view_with_funnel(Rng& rng, int32_t item, int64_t t, bool repurchase);
  void generate_session(Rng& rng, int64_t start, bool first_session);
  int32_t next_item(Rng& rng, int32_t current, int32_t current_category, int32_t primary,
                    int32_t secondary);

  const SynthOptions& options_;
  const Catalog& catalog_;
  const std::vector<Activity>& activities_;
  CsvFile& behavior_;
  UserTruthFile& user_truth_;
  std::vector<ItemState> items_;
  std::vector<int32_t> view_gaps_;
  uint32_t stamp_ = 0;  // one per user, so "seen by this user" needs no clearing between users
  double mean_sessions_ = 1;
  UserState user_;
  std::vector<int64_t> starts_;
  char user_text_[24] = {};
  size_t user_text_len_ = 0;
  bool last_event_repeat_ = false;

  int64_t events_ = 0;
  int64_t counts_[4] = {0, 0, 0, 0};
  int64_t exposed_users_ = 0, experiment_users_ = 0, tagged_events_ = 0, repeat_last_users_ = 0;
  std::vector<ActivityTally> tallies_;
  int64_t untagged_carts_ = 0, untagged_buys_ = 0;
  double untagged_prob_sum_ = 0;
};

}  // namespace cf::synth
