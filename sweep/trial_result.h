// Trial result: what one finished trial of a sweep scored on validation, as its trial.json
// records it. A trial is done (it trained and has a best validation value), failed (training
// refused or diverged: its message is kept, and rerunning the sweep does not retry it), or
// still pending.
#pragma once
#include <cstdint>
#include <limits>
#include <string>

#include "core/json.h"

namespace cf::sweep {

enum class TrialStatus { kPending, kDone, kFailed };
const char* trial_status_name(TrialStatus status);  // "pending", "done", "failed"

struct TrialResult {
  std::string id;
  TrialStatus status = TrialStatus::kPending;
  std::string metric;  // validation.metric: "ndcg@10", "hr@10" or "loss"
  // The best validation value over the trial's run and the step it came from (TrainOutcome's
  // best_validation_value and best_step).
  double value = std::numeric_limits<double>::quiet_NaN();
  int64_t best_step = -1;
  int64_t steps = 0;  // steps trained (fewer than the run length when it stopped early)
  bool stopped_early = false;
  // Wall time of the trial: set-up and training, plus the training time of earlier sessions
  // when it was resumed (as its checkpoint recorded it).
  double wall_seconds = 0;
  std::string best_checkpoint;  // where the best step's checkpoint was kept ("" without keep_best)
  std::string error;            // kFailed: why
};

// Higher is better for the ranking metrics (ndcg@10, hr@10), lower for the loss.
bool higher_is_better(const std::string& metric);
// Whether done result `a` beats done result `b` on their (shared) metric; ties do not.
bool scores_better(const TrialResult& a, const TrialResult& b);

Json trial_result_to_json(const TrialResult& result);
// UserError naming `origin` (the file) when a field is missing or has the wrong type.
TrialResult trial_result_from_json(const Json& json, const std::string& origin);

}  // namespace cf::sweep
