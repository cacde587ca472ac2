#include "data/synth/synth.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/synth/behaviour_model.h"
#include "data/synth/catalog.h"
#include "data/synth/generator.h"
#include "data/synth/ground_truth.h"
#include "data/synth/writer.h"

namespace cf::synth {

void validate_synth_options(const SynthOptions& o) {
  auto fail = [](const std::string& key, const std::string& problem) {
    throw UserError(key + ": " + problem);
  };
  if (o.users <= 0) fail("users", "must be at least 1 (got " + std::to_string(o.users) + ")");
  if (o.users >= (int64_t{1} << 40))
    fail("users", "too large (got " + std::to_string(o.users) + ")");
  if (o.categories <= 0)
    fail("categories", "must be at least 1 (got " + std::to_string(o.categories) + ")");
  if (o.items < o.categories) {
    fail("items", "must be at least the number of categories (" + std::to_string(o.categories) +
                      "; got " + std::to_string(o.items) + ")");
  }
  if (o.items >= (int64_t{1} << 31))
    fail("items", "must be below 2^31 (got " + std::to_string(o.items) + ")");
  if (o.campaigns < 0 || o.campaigns > 100000) {
    fail("campaigns", "must be between 0 and 100000 (got " + std::to_string(o.campaigns) + ")");
  }
  if (!(o.events_per_user_mean >= 1.0 && o.events_per_user_mean <= 5000.0)) {
    fail("events-per-user-mean",
         "must be between 1 and 5000 (got " + std::to_string(o.events_per_user_mean) + ")");
  }
  if (o.window_days < 1 || o.window_days > 3650) {
    fail("window-days", "must be between 1 and 3650 (got " + std::to_string(o.window_days) + ")");
  }
  if (o.start_timestamp < 0) fail("start-timestamp", "must not be negative");
  if (o.successors_per_item < 1 || o.successors_per_item > 64) {
    fail("successors-per-item",
         "must be between 1 and 64 (got " + std::to_string(o.successors_per_item) + ")");
  }
  auto check_fraction = [&](const char* key, double value) {
    if (!(value >= 0.0 && value <= 1.0))
      fail(key, "must be between 0 and 1 (got " + std::to_string(value) + ")");
  };
  check_fraction("follow-probability", o.follow_probability);
  check_fraction("exposure-fraction", o.exposure_fraction);
  check_fraction("randomized-fraction", o.randomized_fraction);
  if (o.follow_probability + kCategorySwitchProbability > 1.0) {
    fail("follow-probability",
         "must be at most " + std::to_string(1.0 - kCategorySwitchProbability));
  }
  if (!(o.views_per_session_mean >= 1.0 && o.views_per_session_mean <= 1000.0)) {
    fail("views-per-session-mean", "must be between 1 and 1000");
  }
}

void apply_event_target(SynthOptions& options, int64_t target_events, bool keep_users) {
  if (target_events <= 0) {
    throw UserError("events: must be at least 1 (got " + std::to_string(target_events) + ")");
  }
  if (keep_users) {
    if (options.users <= 0)
      throw UserError("users: must be at least 1 (got " + std::to_string(options.users) + ")");
    options.events_per_user_mean =
        static_cast<double>(target_events) / static_cast<double>(options.users);
  } else {
    if (!(options.events_per_user_mean >= 1.0)) {
      throw UserError("events-per-user-mean: must be at least 1 (got " +
                      std::to_string(options.events_per_user_mean) + ")");
    }
    options.users = std::max<int64_t>(
        1, std::llround(static_cast<double>(target_events) / options.events_per_user_mean));
  }
}

SynthSummary generate_synthetic_logs(const SynthOptions& options, const std::string& output_dir,
                                     const SynthProgress& progress) {
  validate_synth_options(options);
  if (output_dir.empty()) throw UserError("out: output directory must not be empty");
  OutputDirectory out(output_dir);

  const Catalog catalog = build_catalog(options);
  const std::vector<Activity> activities = build_activities(options);
  write_items(catalog, out.path_of(kSynthItemFile));
  write_activities(activities, out.path_of(kSynthActivityFile));

  CsvFile behavior(out.path_of(kSynthBehaviorFile));
  UserTruthFile user_truth(out.path_of(kSynthUserTruthFile), activities);
  Generator generator(options, catalog, activities, behavior, user_truth);
  constexpr int64_t kProgressEveryUsers = 512;
  for (int64_t user = 0; user < options.users; ++user) {
    generator.generate_user(user);
    if (progress && (user + 1) % kProgressEveryUsers == 0) progress(user + 1, generator.events());
  }
  const int64_t behavior_bytes = behavior.bytes_written();
  behavior.close();
  user_truth.close();
  if (progress) progress(options.users, generator.events());

  write_ground_truth(out.path_of(kSynthGroundTruthFile), options, catalog, activities, generator);
  out.commit();

  SynthSummary summary;
  summary.output_dir = output_dir;
  summary.users = options.users;
  summary.items = options.items;
  summary.categories = options.categories;
  summary.activities = options.campaigns;
  summary.events = generator.events();
  summary.views = generator.count(kView);
  summary.favs = generator.count(kFav);
  summary.carts = generator.count(kCart);
  summary.buys = generator.count(kBuy);
  summary.exposed_users = generator.exposed_users();
  summary.tagged_events = generator.tagged_events();
  summary.behavior_bytes = behavior_bytes;
  return summary;
}

}  // namespace cf::synth
