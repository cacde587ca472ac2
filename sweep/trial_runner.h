// Trial runner: trains one trial of a sweep with the ordinary training loop (run_training, as
// `cartformer train` does) alone on this process, and turns its outcome into the trial's
// result. A trial an earlier sweep was interrupted in continues from its newest valid
// checkpoint (bit for bit the run it would have been); one whose checkpoints are all corrupt
// starts over, its checkpoints moved aside.
#pragma once
#include "sweep/trial_plan.h"
#include "sweep/trial_result.h"
#include "trainer/config.h"
#include "trainer/train_loop.h"

namespace cf::sweep {

struct TrialRun {
  TrialResult result;      // done or failed; pending when preempted
  bool preempted = false;  // hooks.stop_requested stopped it after a checkpoint
  bool resumed = false;    // continued from a checkpoint of an earlier sweep
};

// `local_rank`: this process's index among the processes of its host (the GPU it takes).
// A UserError in training (a refused config, a diverged run) makes a failed result with its
// message, so one bad combination does not end the sweep; anything else propagates.
TrialRun run_trial(const trainer::Config& config, const Trial& trial,
                   const trainer::TrainHooks& hooks, int local_rank);

}  // namespace cf::sweep
