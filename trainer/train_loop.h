// Training loop: pretraining and fine-tuning on a corpus, with checkpoints, resume and metrics.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "trainer/config.h"

namespace cf::trainer {

// One logged step (also one metrics.jsonl row).
struct StepReport {
  int64_t step = 0, total_steps = 0;
  double loss = 0;        // mean training loss of the task over the global batch
  double val_loss = -1;   // validation loss when evaluated at this step, else < 0
  double lr = 0;
  double grad_norm = 0;
  double tokens_per_s = 0;  // real (non-padding) positions per second since the last report
  double eta_seconds = 0;
  double elapsed_seconds = 0;
  int64_t tokens_seen = 0;
};

struct TrainOutcome {
  std::string final_checkpoint;  // directory of the last checkpoint written
  int64_t steps = 0;
  double final_loss = 0;
  double final_val_loss = -1;
  double mean_tokens_per_s = 0;
  bool resumed = false;
  int64_t resumed_from_step = 0;
};

struct TrainHooks {
  std::function<void(const StepReport&)> on_progress;     // every train.log_every steps
  std::function<void(const std::string&)> on_message;     // one-off notices (resume, init)
  // > 0: stop after this many completed steps, writing a checkpoint there, as a preempted job
  // would (the schedule still follows train.steps, so a later --resume continues the same run).
  int64_t stop_at_step = 0;
};

// `resume`: "" (fresh run; refuses if the run already has checkpoints), "auto" (newest valid
// checkpoint under run.out_dir/checkpoints, or fresh if none), or a checkpoint directory.
TrainOutcome run_training(const Config& config, const std::string& resume,
                          const TrainHooks& hooks = {});

}  // namespace cf::trainer
