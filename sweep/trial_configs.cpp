#include "sweep/trial_configs.h"

#include <filesystem>
#include <functional>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"
#include "data/corpus.h"
#include "sweep/sweep_store.h"
#include "trainer/validation_ranking.h"

namespace cf::sweep {
namespace {

std::string error_of(const std::function<void()>& work) {
  try {
    work();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> joined(std::vector<std::string> first,
                                const std::vector<std::string>& then) {
  first.insert(first.end(), then.begin(), then.end());
  return first;
}

// The validation targets are the second-to-last events of users with at least 3 events (an
// input, the validation event, the test event): the trainer's own rule (ValidationRanking,
// which ValidationSet shares), asked once per corpus.
void require_validation_targets(const std::vector<trainer::Config>& configs,
                                const TrialPlan& plan) {
  std::set<std::string> checked;
  for (size_t i = 0; i < configs.size(); ++i) {
    const trainer::Config& c = configs[i];
    if (!checked.insert(c.data.corpus).second) continue;
    auto corpus = data::CorpusReader::open(c.data.corpus);
    if (trainer::ValidationRanking(*corpus, 0).empty()) {
      throw UserError(c.data.corpus + ": no user has a validation target (it takes 3 events: " +
                      "history, validation, test), so trial " + plan.trials[i].id +
                      " could not be scored on validation " +
                      trainer::validation_metric_name(c.validation.metric) +
                      ", which the sweep ranks trials by");
    }
  }
}

}  // namespace

std::vector<trainer::Config> trial_configs(const SweepBase& base, const TrialPlan& plan) {
  const std::string& path = base.config_path;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw UserError(path + ": config file not found");
  const std::string text = read_text_file(path);

  // 1. Keys and value types, flag by flag, every value of every axis.
  for (const std::string& set : base.sets) trainer::check_override(set, path + ": --set " + set);
  for (const SweepAxis& axis : plan.axes) {
    for (const std::string& value : axis.values) {
      trainer::check_override(axis.key + "=" + value, path + ": " + axis.flag_text());
    }
  }
  auto parse = [&](const std::vector<std::string>& values, const std::string& id) {
    trainer::Config c = trainer::parse_config(text, path, joined(base.sets, values));
    c.run.out_dir = trial_dir(base.out_dir, id);
    // Every trial would spend privacy on the same users, and picking the best by validation
    // spends more; the accountant counts one run. Tune on public data, then train once.
    if (c.privacy.enabled)
      throw UserError(path +
                      ": privacy.enabled in a sweep: each trial spends privacy on the "
                      "same users and choosing among them spends more, which no "
                      "accountant here counts; tune on public data, then train once");
    return c;
  };

  // 2. Ranges, value by value: each with the first value of every other axis. An error the
  //    base config (and --set flags) has alone is its own, not the value's.
  const std::string base_error = error_of([&] { parse({}, "base"); });
  std::vector<std::string> firsts;
  for (const SweepAxis& axis : plan.axes) firsts.push_back(axis.key + "=" + axis.values[0]);
  for (size_t a = 0; a < plan.axes.size(); ++a) {
    for (const std::string& value : plan.axes[a].values) {
      std::vector<std::string> values = firsts;
      values[a] = plan.axes[a].key + "=" + value;
      const std::string error = error_of([&] { parse(values, "check"); });
      if (error.empty()) continue;
      if (error == base_error) throw UserError(error);
      throw UserError(error + " (value " + value + " of " + plan.axes[a].flag_text() + ")");
    }
  }

  // 3. Every trial's combination.
  std::vector<trainer::Config> configs;
  for (const Trial& trial : plan.trials) {
    try {
      configs.push_back(parse(plan.assignments(trial), trial.id));
    } catch (const UserError& e) {
      throw UserError(std::string(e.what()) + " (trial " + trial.id + ": " + plan.describe(trial) +
                      ")");
    }
  }

  // 4. One metric to compare the trials by, and something to compute it on.
  for (size_t i = 1; i < configs.size(); ++i) {
    if (configs[i].validation.metric != configs[0].validation.metric) {
      throw UserError("trials " + plan.trials[0].id + " and " + plan.trials[i].id +
                      " are scored by different validation metrics (" +
                      trainer::validation_metric_name(configs[0].validation.metric) + ", " +
                      trainer::validation_metric_name(configs[i].validation.metric) +
                      "); a sweep compares its trials on one: give it with --set "
                      "validation.metric=...");
    }
  }
  require_validation_targets(configs, plan);
  return configs;
}

std::string config_digest(const trainer::Config& config) {
  trainer::Config shared = config;
  shared.run.out_dir.clear();
  return sha256_hex(trainer::to_yaml(shared));
}

}  // namespace cf::sweep
