// Training loop: pretraining and fine-tuning on a corpus, with checkpoints, resume and metrics.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "trainer/comm/communicator.h"
#include "trainer/config.h"

namespace cf::trainer {

// One logged step (also one metrics.jsonl row).
struct StepReport {
  int64_t step = 0, total_steps = 0;
  double loss = 0;       // mean training loss of the task over the global batch
  double val_loss = -1;  // validation loss when evaluated at this step, else < 0
  // Full-rank HR@10 / NDCG@10 of the validation targets when ranked at this step, else < 0.
  double val_hr_at_10 = -1, val_ndcg_at_10 = -1;
  // With model.cooccurrence_prior: the chosen weight (the metrics above include the prior) and
  // the model's own metrics; -1 without.
  double val_prior_weight = -1, val_model_hr_at_10 = -1, val_model_ndcg_at_10 = -1;
  double lr = 0;
  double grad_norm = 0;
  double tokens_per_s = 0;  // real (non-padding) positions per second since the last report
  double eta_seconds = 0;
  double elapsed_seconds = 0;
  int64_t tokens_seen = 0;
  int world_size = 1;
  double comm_wait_seconds = 0;  // per step, blocked in collectives (mean over the window)
  double comm_share = 0;         // that wait as a share of the wall time of the window
  double epsilon = -1;           // privacy.enabled: epsilon spent so far (at privacy delta)
};

struct TrainOutcome {
  std::string final_checkpoint;  // directory of the last checkpoint written
  int64_t steps = 0;
  double final_loss = 0;
  double final_val_loss = -1;
  double mean_tokens_per_s = 0;
  bool resumed = false;
  int64_t resumed_from_step = 0;
  bool preempted = false;  // stopped early on hooks.stop_requested, with a checkpoint
  int world_size = 1;
  double comm_wait_seconds = 0;  // total time blocked in collectives
  // Wall time the sessions before this one spent training, as the checkpoint it resumed from
  // recorded it (0 for a fresh run).
  double elapsed_before_resume_seconds = 0;
  // Validation (config.validation): the metric followed, its best value and step over the whole
  // run (resumed parts included), the checkpoint kept for it (empty without keep_best or when
  // nothing was validated) and whether patience ran out.
  std::string validation_metric;
  double best_validation_value = std::numeric_limits<double>::quiet_NaN();
  int64_t best_step = -1;
  std::string best_checkpoint;
  bool stopped_early = false;
};

struct TrainHooks {
  std::function<void(const StepReport&)> on_progress;  // every train.log_every steps
  std::function<void(const std::string&)> on_message;  // one-off notices (resume, init)
  // > 0: stop after this many completed steps, writing a checkpoint there, as a preempted job
  // would (the schedule still follows the run length, so a later --resume continues the same
  // run).
  int64_t stop_at_step = 0;
  // Polled once per step on every rank (e.g. "SIGTERM arrived"); if it returns true on any
  // rank, all ranks write a checkpoint at that step boundary and return with preempted set.
  std::function<bool()> stop_requested;
};

// `resume`: "" (fresh run; refuses if the run already has checkpoints), "auto" (newest valid
// checkpoint under run.out_dir/checkpoints, or fresh if none), or a checkpoint directory.
// `comm`: the ranks of a data-parallel job (nullptr: one local rank). Each rank trains its
// slice of every global batch; only rank 0 reports progress and writes files.
TrainOutcome run_training(const Config& config, const std::string& resume,
                          const TrainHooks& hooks = {}, comm::Communicator* comm = nullptr);

}  // namespace cf::trainer
