#include "data/synth/ground_truth.h"

#include <cmath>

#include "core/json.h"
#include "data/synth/behaviour_model.h"

namespace cf::synth {
namespace {

double rounded(double value) { return std::round(value * 1e6) / 1e6; }
double ratio(double numerator, double denominator) {
  return denominator > 0 ? rounded(numerator / denominator) : 0.0;
}

Json ground_truth_json(const SynthOptions& options, const Catalog& catalog,
                       const std::vector<Activity>& activities, const Generator& gen) {
  Json j;
  j["generator"] = "cartformer synth";
  j["format_version"] = 1;
  j["seed"] = options.seed;
  j["options"] = {{"users", options.users},
                  {"items", options.items},
                  {"categories", options.categories},
                  {"campaigns", options.campaigns},
                  {"events_per_user_mean", options.events_per_user_mean},
                  {"start_timestamp", options.start_timestamp},
                  {"window_days", options.window_days},
                  {"successors_per_item", options.successors_per_item},
                  {"follow_probability", options.follow_probability},
                  {"views_per_session_mean", options.views_per_session_mean},
                  {"exposure_fraction", options.exposure_fraction},
                  {"randomized_fraction", options.randomized_fraction}};
  j["time_window"] = {
      {"start", options.start_timestamp},
      {"end", options.start_timestamp + int64_t{options.window_days} * kSecondsPerDay}};
  const int64_t views = gen.count(kView), carts = gen.count(kCart), buys = gen.count(kBuy);
  j["counts"] = {{"users", options.users},
                 {"items", options.items},
                 {"categories", options.categories},
                 {"activities", options.campaigns},
                 {"events", gen.events()},
                 {"view", views},
                 {"fav", gen.count(kFav)},
                 {"cart", carts},
                 {"buy", buys},
                 {"experiment_users", gen.experiment_users()},
                 {"exposed_users", gen.exposed_users()},
                 {"tagged_events", gen.tagged_events()}};
  j["funnel"] = {{"view_to_fav", ratio(gen.count(kFav), views)},
                 {"view_to_cart", ratio(carts, views)},
                 {"cart_to_buy", ratio(buys, carts)}};

  Json successor_weights = Json::array();
  const double total = catalog.successor_cdf.back();
  for (int32_t k = 0; k < catalog.successors_per_item; ++k) {
    successor_weights.push_back(rounded((catalog.successors_per_item - k) / total));
  }
  Json consumables = Json::array(), deal_categories = Json::array();
  for (size_t c = 0; c < catalog.categories.size(); ++c) {
    if (catalog.categories[c].deal_affinity == kDealAffinity)
      deal_categories.push_back("c" + std::to_string(c + 1));
    if (!catalog.categories[c].consumable) continue;
    consumables.push_back({{"category", "c" + std::to_string(c + 1)},
                           {"repurchase_days", catalog.categories[c].repurchase_days}});
  }
  j["behaviour_model"] = {
      {"item_zipf_exponent", kItemZipfExponent},
      {"category_zipf_exponent", kCategoryZipfExponent},
      {"successors_per_item", catalog.successors_per_item},
      {"successor_weights", successor_weights},
      {"follow_probability", options.follow_probability},
      {"category_switch_probability", kCategorySwitchProbability},
      {"revisit_avoidance", kRevisitAvoidance},
      {"taste_drift_per_session", kTasteDriftPerSession},
      {"consumable_categories", consumables},
      {"deal_categories", deal_categories},
      {"deal_affinity", {{"deal_categories", kDealAffinity}, {"other_categories", kOtherAffinity}}},
      {"last_event_item_seen_before_fraction",
       ratio(static_cast<double>(gen.repeat_last_users()), static_cast<double>(options.users))}};

  Json per_activity = Json::array();
  int64_t tagged_carts = 0;
  double sum_with = 0, sum_without = 0;
  for (size_t a = 0; a < activities.size(); ++a) {
    const Activity& act = activities[a];
    const ActivityTally& t = gen.tallies()[a];
    tagged_carts += t.tagged_carts;
    sum_with += t.sum_prob_with;
    sum_without += t.sum_prob_without;
    per_activity.push_back(
        {{"activity_id", act.id},
         {"type", act.coupon ? "coupon" : "campaign"},
         {"discount", act.discount_percent / 100.0},
         {"start", act.start},
         {"end", act.end},
         {"factor", act.factor},
         {"exposed_users", t.exposed_users},
         {"experiment_exposed_users", t.experiment_exposed_users},
         {"tagged_events", t.tagged_events},
         {"tagged_carts", t.tagged_carts},
         {"tagged_buys", t.tagged_buys},
         {"mean_purchase_prob_with", ratio(t.sum_prob_with, t.tagged_carts)},
         {"mean_purchase_prob_without", ratio(t.sum_prob_without, t.tagged_carts)}});
  }
  j["coupon_effect"] = {
      {"effect",
       "P(buy | cart) = min(cap, buy_prob * (1 + (factor - 1) * coupon_sensitivity * "
       "deal_affinity)) while the event lies in the user's activity window; buy_prob and "
       "coupon_sensitivity per user are in " +
           std::string(kSynthUserTruthFile) +
           ", deal_affinity of the carted item's category in behaviour_model"},
      {"buy_prob_cap", kBuyProbCap},
      {"exposure_fraction", options.exposure_fraction},
      {"randomized_fraction", options.randomized_fraction},
      {"targeting",
       "experiment users: exposed with probability exposure_fraction; other users: "
       "min(1, exposure_fraction * buy_prob / mean_buy_prob) (heavy buyers targeted)"},
      {"mean_buy_prob", kMeanBuyProb},
      {"tagged_carts", tagged_carts},
      {"mean_purchase_prob_with_coupon", ratio(sum_with, static_cast<double>(tagged_carts))},
      {"mean_purchase_prob_without_coupon", ratio(sum_without, static_cast<double>(tagged_carts))},
      {"untagged_carts", gen.untagged_carts()},
      {"mean_purchase_prob_untagged",
       ratio(gen.untagged_prob_sum(), static_cast<double>(gen.untagged_carts()))},
      {"activities", per_activity}};
  return j;
}

}  // namespace

UserTruthFile::UserTruthFile(const std::string& path, const std::vector<Activity>& activities)
    : file_(path), activities_(activities) {
  file_.begin_row();
  file_.put("user_id,experiment,activity_id,coupon_sensitivity,cart_prob,buy_prob\n");
}

void UserTruthFile::write(int64_t user, const UserState& state) {
  file_.begin_row();
  file_.put_int(user + 1);
  file_.put(state.experiment ? ",1," : ",0,");
  if (state.activity >= 0) file_.put(activities_[state.activity].id);
  file_.put(',');
  file_.put_fixed6(state.coupon_sensitivity);
  file_.put(',');
  file_.put_fixed6(state.cart_prob);
  file_.put(',');
  file_.put_fixed6(state.buy_prob);
  file_.put('\n');
}

void write_ground_truth(const std::string& path, const SynthOptions& options,
                        const Catalog& catalog, const std::vector<Activity>& activities,
                        const Generator& generator) {
  write_text_file(path, ground_truth_json(options, catalog, activities, generator).dump(2) + "\n");
}

}  // namespace cf::synth
