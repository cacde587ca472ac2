#include "sweep/sweep_store.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"

namespace cf::sweep {
namespace fs = std::filesystem;

namespace {

constexpr const char* kPlanFormat = "cartformer-sweep-plan/1";

std::string plan_path(const std::string& out_dir) {
  return (fs::path(out_dir) / "plan.json").string();
}

std::string result_path(const std::string& out_dir, const std::string& id) {
  return (fs::path(trial_dir(out_dir, id)) / "trial.json").string();
}

// The flags a plan.json was made from, as the command line would give them.
std::string grid_text(const Json& plan) {
  std::string text;
  for (const Json& axis : plan.at("grid")) {
    std::string values;
    for (const Json& v : axis.at("values")) {
      values += (values.empty() ? "" : ",") + v.get<std::string>();
    }
    text +=
        (text.empty() ? "" : " ") + ("--grid " + axis.at("key").get<std::string>() + "=" + values);
  }
  return text;
}

std::string random_text(const Json& plan) {
  const Json& r = plan.at("random");
  if (r.is_null()) return "the whole grid";
  return "--random " + std::to_string(r.at("trials").get<int64_t>()) + " --seed " +
         std::to_string(r.at("seed").get<uint64_t>());
}

// The first --set flag where two plans part, "" where they do not: "(there: --set a=1; here:
// none)" names it without repeating the flags they share.
std::string first_set_difference(const Json& there, const Json& here) {
  const Json& a = there.at("set");
  const Json& b = here.at("set");
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  if (i == a.size() && i == b.size()) return "";
  auto flag = [&](const Json& list) {
    return i < list.size() ? "--set " + list[i].get<std::string>() : std::string("none");
  };
  return "(there: " + flag(a) + "; here: " + flag(b) + ")";
}

// The first way `there` (plan.json) and `here` (this command) differ, or "" when they are the
// same sweep. The base config path may differ (another working directory); what it resolves
// to may not, which the trials' config digests catch.
std::string first_difference(const Json& there, const Json& here) {
  auto differ = [](const std::string& what, const std::string& a, const std::string& b) {
    return what + " differ (there: " + a + "; here: " + b + ")";
  };
  if (grid_text(there) != grid_text(here))
    return differ("--grid flags", grid_text(there), grid_text(here));
  if (random_text(there) != random_text(here)) {
    return differ("trial draws", random_text(there), random_text(here));
  }
  if (const std::string set = first_set_difference(there, here); !set.empty()) {
    return "--set flags differ " + set;
  }

  const Json& a = there.at("trials");
  const Json& b = here.at("trials");
  if (a.size() != b.size()) {
    return "the plans have " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
           " trials";
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].at("id") != b[i].at("id") || a[i].at("values") != b[i].at("values")) {
      return "trial " + a[i].at("id").get<std::string>() + " has other values";
    }
    if (a[i].at("config_sha256") != b[i].at("config_sha256")) {
      return "trial " + a[i].at("id").get<std::string>() +
             "'s resolved config differs (the base config file, or a file it names, changed?)";
    }
  }
  if (there.at("metric") != here.at("metric")) return "the validation metrics differ";
  return "";
}

}  // namespace

std::string trial_dir(const std::string& out_dir, const std::string& trial_id) {
  return (fs::path(out_dir) / "trials" / trial_id).string();
}

Json plan_json(const TrialPlan& plan, const PlanRecord& record) {
  CF_CHECK(record.config_digests.size() == plan.trials.size(), "one digest per trial");
  Json grid = Json::array();
  for (const SweepAxis& axis : plan.axes)
    grid.push_back({{"key", axis.key}, {"values", axis.values}});
  Json random = nullptr;
  if (plan.kind == PlanKind::kRandom) {
    random = {{"trials", plan.random_trials}, {"seed", plan.random_seed}};
  }
  Json trials = Json::array();
  for (size_t i = 0; i < plan.trials.size(); ++i) {
    const Trial& trial = plan.trials[i];
    Json values = Json::object();
    for (size_t a = 0; a < plan.axes.size(); ++a) values[plan.axes[a].key] = trial.values[a];
    trials.push_back(
        {{"id", trial.id}, {"values", values}, {"config_sha256", record.config_digests[i]}});
  }
  return {
      {"format", kPlanFormat}, {"config", record.config_path}, {"set", record.sets}, {"grid", grid},
      {"random", random},      {"metric", record.metric},      {"trials", trials}};
}

void open_sweep_dir(const std::string& out_dir, const Json& plan) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw UserError(out_dir + ": cannot create the sweep directory: " + ec.message());
  const std::string path = plan_path(out_dir);
  if (!fs::exists(path, ec)) {
    write_file_atomically(path, plan.dump(2) + "\n");
    return;
  }
  Json there;
  std::string difference;
  try {
    there = Json::parse(read_text_file(path));
    if (there.value("format", "") != kPlanFormat) throw UserError("not a sweep plan");
    difference = first_difference(there, plan);
  } catch (const std::exception& e) {  // unreadable, or written by something else
    throw UserError(path + ": not a sweep plan this version reads (" + e.what() +
                    "); choose another --out-dir");
  }
  if (!difference.empty()) {
    throw UserError(path + ": planned for another sweep (" + difference +
                    "); rerun with the same flags to resume it, or choose another --out-dir");
  }
}

std::optional<TrialResult> read_trial_result(const std::string& out_dir, const std::string& id) {
  const std::string path = result_path(out_dir, id);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  Json json;
  try {
    json = Json::parse(read_text_file(path));
  } catch (const Json::exception& e) {
    throw UserError(path + ": not a trial result (" + e.what() +
                    "); delete it to train the trial again");
  }
  TrialResult result = trial_result_from_json(json, path);
  if (result.id != id) {
    throw UserError(path + ": the result of trial " + result.id + ", not " + id +
                    "; delete it to train the trial again");
  }
  return result;
}

void write_trial_result(const std::string& out_dir, const TrialPlan& plan, const Trial& trial,
                        const TrialResult& result) {
  Json json = trial_result_to_json(result);
  Json values = Json::object();
  for (size_t a = 0; a < plan.axes.size(); ++a) values[plan.axes[a].key] = trial.values[a];
  json["values"] = values;
  std::error_code ec;
  fs::create_directories(trial_dir(out_dir, trial.id), ec);
  if (ec) throw UserError(trial_dir(out_dir, trial.id) + ": cannot create: " + ec.message());
  write_file_atomically(result_path(out_dir, trial.id), json.dump(2) + "\n");
}

void write_sweep_outputs(const std::string& out_dir, const std::string& csv,
                         const std::string& markdown, const std::optional<std::string>& best_yaml) {
  std::vector<std::pair<std::string, std::string>> files = {
      {(fs::path(out_dir) / "sweep.csv").string(), csv},
      {(fs::path(out_dir) / "sweep.md").string(), markdown}};
  const std::string best_path = (fs::path(out_dir) / "best.yaml").string();
  if (best_yaml) files.emplace_back(best_path, *best_yaml);
  write_files_atomically(files);
  // An unfinished sweep has no best yet: a best.yaml from before a trial's result was deleted
  // would name a winner the table no longer shows.
  std::error_code ec;
  if (!best_yaml) fs::remove(best_path, ec);
}

}  // namespace cf::sweep
