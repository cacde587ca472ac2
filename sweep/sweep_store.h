// Sweep directory: what a sweep keeps under --out-dir, so that rerunning the same command
// resumes it.
//
//   plan.json               the plan: flags, trials, each trial's resolved config digest
//   trials/<id>/            the trial's run directory (checkpoints/, metrics.jsonl, ...)
//   trials/<id>/trial.json  the trial's result, written once it finished
//   sweep.csv, sweep.md     the results table
//   best.yaml               the best trial's resolved config (once every trial finished)
//
// Every file is written under a temporary name and renamed into place.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "sweep/trial_plan.h"
#include "sweep/trial_result.h"

namespace cf::sweep {

std::string trial_dir(const std::string& out_dir, const std::string& trial_id);

// What plan.json records: the inputs that make the sweep what it is.
struct PlanRecord {
  std::string config_path;        // as given (informative: the digests below are compared)
  std::vector<std::string> sets;  // --set flags, in order
  std::string metric;             // the validation metric every trial is scored by
  std::vector<std::string> config_digests;  // per trial: sha256 of its resolved config
};
Json plan_json(const TrialPlan& plan, const PlanRecord& record);

// Creates `out_dir` and writes plan.json, or, when plan.json is already there, checks it is
// the same sweep: UserError "<out_dir>/plan.json: planned for another sweep (<the first
// difference>); ..." otherwise.
void open_sweep_dir(const std::string& out_dir, const Json& plan);

// The trial's recorded result, or nothing when it has no trial.json yet. UserError naming the
// file when it does not read as a result of this trial.
std::optional<TrialResult> read_trial_result(const std::string& out_dir, const std::string& id);
// Writes trials/<id>/trial.json: the result and the trial's values (key -> value).
void write_trial_result(const std::string& out_dir, const TrialPlan& plan, const Trial& trial,
                        const TrialResult& result);

// Writes sweep.csv and sweep.md, and best.yaml when `best_yaml` is given (else removes an
// older one), all renamed into place only once every one of them is written.
void write_sweep_outputs(const std::string& out_dir, const std::string& csv,
                         const std::string& markdown, const std::optional<std::string>& best_yaml);

}  // namespace cf::sweep
