// StepReporter: the progress numbers of a run, averaged over the window since the last report
// (loss, tokens/s, time blocked in collectives), into the StepReport that becomes a progress
// line and a metrics.jsonl row.
#pragma once
#include <chrono>
#include <cstdint>

#include "core/json.h"
#include "trainer/train_loop.h"

namespace cf::trainer {

class StepReporter {
 public:
  // `start_step`: where the run starts (ETA counts from there); `elapsed_before`: wall time of
  // the run before this process (a resumed run's checkpoint).
  StepReporter(int64_t start_step, int64_t total_steps, double elapsed_before, int world_size);
  void add_step(double loss, int64_t tokens);
  // Closes the window at `step`. `comm_wait_total`: seconds blocked in collectives so far.
  StepReport report(int64_t step, int64_t tokens_seen, double lr, double grad_norm, double val_loss,
                    double comm_wait_total);
  // Wall time of the whole run so far, this process's part included.
  double elapsed_seconds() const;
  // Mean real tokens per second over this process's steps.
  double mean_tokens_per_s() const;

 private:
  using Clock = std::chrono::steady_clock;
  int64_t start_step_, total_steps_;
  double elapsed_before_;
  int world_size_;
  Clock::time_point start_ = Clock::now(), window_start_ = start_;
  int64_t window_tokens_ = 0;
  double window_loss_ = 0, comm_wait_at_window_start_ = 0, tokens_total_ = 0;
  int window_steps_ = 0;
};

// The metrics.jsonl row of a report.
Json metrics_row(const StepReport& report, TaskKind task);

}  // namespace cf::trainer
