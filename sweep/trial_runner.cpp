#include "sweep/trial_runner.h"

#include <chrono>
#include <filesystem>

#include "core/error.h"
#include "trainer/checkpoint.h"
#include "trainer/comm/communicator.h"
#include "trainer/run_setup.h"

namespace cf::sweep {
namespace {

// run_training's `resume` for the trial's run directory as an earlier sweep left it.
std::string resume_mode(const trainer::Config& config) {
  const std::string root = (std::filesystem::path(config.run.out_dir) / "checkpoints").string();
  if (trainer::find_latest_valid_checkpoint(root)) return trainer::kResumeAuto;
  if (trainer::count_checkpoint_directories(root) > 0) return trainer::kResumeFresh;
  return "";
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TrialRun run_trial(const trainer::Config& config, const Trial& trial,
                   const trainer::TrainHooks& hooks, int local_rank) {
  TrialRun run;
  TrialResult& r = run.result;
  r.id = trial.id;
  r.metric = trainer::validation_metric_name(config.validation.metric);
  const auto start = std::chrono::steady_clock::now();
  trainer::comm::LocalComm alone(local_rank);
  try {
    const trainer::TrainOutcome out =
        trainer::run_training(config, resume_mode(config), hooks, &alone);
    run.resumed = out.resumed;
    if (out.preempted) {
      run.preempted = true;
      return run;
    }
    r.steps = out.steps;
    r.stopped_early = out.stopped_early;
    r.wall_seconds = seconds_since(start) + out.elapsed_before_resume_seconds;
    if (out.best_step < 0) {
      r.status = TrialStatus::kFailed;
      r.error = "training recorded no validation " + r.metric;
      return run;
    }
    r.status = TrialStatus::kDone;
    r.value = out.best_validation_value;
    r.best_step = out.best_step;
    r.best_checkpoint = out.best_checkpoint;
  } catch (const UserError& e) {
    r.status = TrialStatus::kFailed;
    r.error = single_line(e.what());
    r.wall_seconds = seconds_since(start);
  }
  return run;
}

}  // namespace cf::sweep
