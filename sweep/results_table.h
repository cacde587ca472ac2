// The results table of a sweep: one row per trial of the plan, in plan order, the best done
// trial marked. sweep.csv for programs (exact values), sweep.md for people.
#pragma once
#include <string>
#include <vector>

#include "sweep/trial_plan.h"
#include "sweep/trial_result.h"

namespace cf::sweep {

// The index of the best done trial of `results` (higher or lower per its metric; the first in
// plan order among equal values), or -1 when none is done.
int best_trial_index(const std::vector<TrialResult>& results);

// CSV with a header row: id, one column per swept key (its value), the metric (column named by
// it, e.g. "ndcg@10"; shortest text that reads back as the same double), best_step, steps,
// stopped_early, wall_s, status (done | failed | pending) and best ("1" on the best trial).
// Not-done trials leave the metric and best_step empty. `results[i]` belongs to
// `plan.trials[i]`; `metric` names the column.
std::string results_csv(const TrialPlan& plan, const std::vector<TrialResult>& results,
                        const std::string& metric);

// The same rows as a Markdown table (metric to 4 decimals, the best row marked "**best**"),
// under a line saying how many trials are done, and followed by the errors of failed trials.
std::string results_markdown(const TrialPlan& plan, const std::vector<TrialResult>& results,
                             const std::string& metric);

}  // namespace cf::sweep
