// Trial configs: each trial's full training config (the base config file, then the --set flags
// every trial shares, then the trial's own values; run.out_dir = <out-dir>/trials/<id>), built
// and checked before any trial trains, so a mistake anywhere in a sweep is one error line at
// its start rather than a failure hours into it.
#pragma once
#include <string>
#include <vector>

#include "sweep/trial_plan.h"
#include "trainer/config.h"

namespace cf::sweep {

struct SweepBase {
  std::string config_path;        // --config
  std::vector<std::string> sets;  // --set flags, "key=value", applied to every trial
  std::string out_dir;            // --out-dir
};

// The config of every trial of `plan`, in plan order. UserError, each one line:
// - a --set or --grid key that is no config key ("x.yaml: --grid train.stpes=1,2: unknown key
//   'train.stpes' (did you mean 'train.steps'?)"), or a value of the wrong type for its key
//   (every value of every axis is read, drawn into the plan or not);
// - a value out of range for its key, tried with the first value of every other axis ("...
//   (value 1.5 of --grid model.dropout=0.1,1.5)"), and any trial whose combination breaks a
//   rule between keys ("... (trial t003: model.d_model=48 model.n_head=5)");
// - trials scored by different validation metrics (they could not be compared);
// - a corpus without validation targets: validation is always on in a config, but only users
//   with at least 3 events have a validation event, and without one no trial gets a score.
std::vector<trainer::Config> trial_configs(const SweepBase& base, const TrialPlan& plan);

// sha256 of the config as to_yaml writes it, run.out_dir aside (the same sweep may be named
// by a relative or an absolute --out-dir).
std::string config_digest(const trainer::Config& config);

}  // namespace cf::sweep
