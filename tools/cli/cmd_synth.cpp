// cartformer synth: writes a seeded synthetic behaviour log (trio CSVs + ground truth) to a folder.
#include <algorithm>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "core/progress.h"
#include "data/synth/synth.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"

namespace cf::cli {

int run_synth(int argc, char** argv) {
  const synth::SynthOptions defaults;
  ArgParser args(
      "synth",
      "Generate a seeded synthetic e-commerce behaviour log in the trio format\n"
      "(behavior_data.csv, item_data.csv, activity_data.csv) plus ground_truth.json and\n"
      "ground_truth_users.csv. Same options and seed -> identical files.\n"
      "What is modelled: docs/synthetic-data.md.");
  args.option("out", "DIR",
              "output directory (created; an existing one is replaced only if it is empty or an "
              "earlier synth output)");
  args.option("users", "N", "number of users", std::to_string(defaults.users));
  args.option("items", "N", "number of items in the catalog", std::to_string(defaults.items));
  args.option("categories", "N", "number of item categories", std::to_string(defaults.categories));
  args.option("campaigns", "N", "number of activities (coupons and campaigns); 0 = none",
              std::to_string(defaults.campaigns));
  args.option("events-per-user-mean", "X", "mean events per user", "60");
  args.option("events", "N",
              "target total events: sets --users from the mean (with --users, sets the mean)");
  args.option("seed", "S", "random seed", std::to_string(defaults.seed));
  if (!args.parse(argc, argv)) return 0;

  synth::SynthOptions options;
  const std::string out = args.require("out");
  options.users = args.get_int("users");
  options.items = args.get_int("items");
  int64_t categories = args.get_int("categories");
  int64_t campaigns = args.get_int("campaigns");
  if (categories <= 0 || categories > 1000000) {
    throw UserError("--categories: must be between 1 and 1000000 (got " +
                    std::to_string(categories) + ")");
  }
  if (campaigns < 0 || campaigns > 100000) {
    throw UserError("--campaigns: must be between 0 and 100000 (got " + std::to_string(campaigns) +
                    ")");
  }
  options.categories = static_cast<int32_t>(categories);
  options.campaigns = static_cast<int32_t>(campaigns);
  options.events_per_user_mean = args.get_double("events-per-user-mean");
  const int64_t seed = args.get_int("seed");
  if (seed < 0) throw UserError("--seed: must not be negative (got " + std::to_string(seed) + ")");
  options.seed = static_cast<uint64_t>(seed);
  const bool events_given = args.has("events");
  const int64_t target_events = events_given ? args.get_int("events") : 0;
  try {
    if (events_given) {
      synth::apply_event_target(options, target_events,
                                /*keep_users=*/!args.get_all("users").empty());
    }
    synth::validate_synth_options(options);
  } catch (const UserError& e) {
    throw UserError(std::string("--") + e.what());  // the library names the option without dashes
  }

  const double expected_events = static_cast<double>(options.users) * options.events_per_user_mean;
  ProgressMeter meter("synth", expected_events, "events");
  synth::SynthSummary summary = synth::generate_synthetic_logs(
      options, out, [&](int64_t, int64_t events) { meter.update(static_cast<double>(events)); });
  meter.finish(static_cast<double>(summary.events));

  std::printf("wrote %s: %lld users, %lld items, %d categories, %d activities\n",
              summary.output_dir.c_str(), static_cast<long long>(summary.users),
              static_cast<long long>(summary.items), summary.categories, summary.activities);
  std::printf(
      "events: %lld (view %lld, fav %lld, cart %lld, buy %lld); %lld tagged with an activity, "
      "%lld users exposed\n",
      static_cast<long long>(summary.events), static_cast<long long>(summary.views),
      static_cast<long long>(summary.favs), static_cast<long long>(summary.carts),
      static_cast<long long>(summary.buys), static_cast<long long>(summary.tagged_events),
      static_cast<long long>(summary.exposed_users));
  std::printf("time: %.1fs (%.2fM events/s)\n", meter.elapsed_seconds(),
              summary.events / std::max(1e-9, meter.elapsed_seconds()) / 1e6);
  return 0;
}

}  // namespace cf::cli
