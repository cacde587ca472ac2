#include "trainer/step_reporter.h"

#include <algorithm>

namespace cf::trainer {

StepReporter::StepReporter(int64_t start_step, int64_t total_steps, double elapsed_before,
                           int world_size)
    : start_step_(start_step),
      total_steps_(total_steps),
      elapsed_before_(elapsed_before),
      world_size_(world_size) {}

void StepReporter::add_step(double loss, int64_t tokens) {
  window_loss_ += loss;
  window_tokens_ += tokens;
  window_steps_ += 1;
  tokens_total_ += double(tokens);
}

StepReport StepReporter::report(int64_t step, int64_t tokens_seen, double lr, double grad_norm,
                                double val_loss, double comm_wait_total) {
  const auto now = Clock::now();
  const double window = std::chrono::duration<double>(now - window_start_).count();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  StepReport r;
  r.step = step;
  r.total_steps = total_steps_;
  r.loss = window_loss_ / std::max(1, window_steps_);
  r.val_loss = val_loss;
  r.lr = lr;
  r.grad_norm = grad_norm;
  r.tokens_per_s = window > 0 ? double(window_tokens_) / window : 0;
  const double steps_done = double(step - start_step_);
  r.eta_seconds = steps_done > 0 ? elapsed / steps_done * double(total_steps_ - step) : 0;
  r.elapsed_seconds = elapsed_before_ + elapsed;
  r.tokens_seen = tokens_seen;
  r.world_size = world_size_;
  r.comm_wait_seconds = (comm_wait_total - comm_wait_at_window_start_) / std::max(1, window_steps_);
  r.comm_share = window > 0 ? (comm_wait_total - comm_wait_at_window_start_) / window : 0;
  comm_wait_at_window_start_ = comm_wait_total;
  window_start_ = now;
  window_tokens_ = 0;
  window_loss_ = 0;
  window_steps_ = 0;
  return r;
}

double StepReporter::elapsed_seconds() const {
  return elapsed_before_ + std::chrono::duration<double>(Clock::now() - start_).count();
}

double StepReporter::mean_tokens_per_s() const {
  const double run = std::chrono::duration<double>(Clock::now() - start_).count();
  return run > 0 ? tokens_total_ / run : 0;
}

Json metrics_row(const StepReport& r, TaskKind task) {
  Json row = {{"step", r.step},
              {"loss", r.loss},
              {"lr", r.lr},
              {"grad_norm", r.grad_norm},
              {"tokens_per_s", r.tokens_per_s},
              {"tokens_seen", r.tokens_seen},
              {"elapsed_s", r.elapsed_seconds},
              {"world_size", r.world_size},
              {"comm_wait_s", r.comm_wait_seconds},
              {"comm_share", r.comm_share}};
  if (r.val_loss >= 0) row["val_loss"] = r.val_loss;
  if (r.val_hr_at_10 >= 0) row["val_hr@10"] = r.val_hr_at_10;
  if (r.val_ndcg_at_10 >= 0) row["val_ndcg@10"] = r.val_ndcg_at_10;
  if (r.val_prior_weight >= 0) {
    row["val_prior_weight"] = r.val_prior_weight;
    row["val_model_hr@10"] = r.val_model_hr_at_10;
    row["val_model_ndcg@10"] = r.val_model_ndcg_at_10;
  }
  if (r.epsilon >= 0) row["epsilon"] = r.epsilon;
  row["task"] = task_kind_name(task);
  return row;
}

}  // namespace cf::trainer
