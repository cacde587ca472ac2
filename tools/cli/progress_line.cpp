#include "tools/cli/progress_line.h"

#include <cstdio>

#include "core/progress.h"

namespace cf::cli {

std::string step_progress_line(const trainer::StepReport& r) {
  std::string val = r.val_loss >= 0 ? " | val " + std::to_string(r.val_loss).substr(0, 6) : "";
  if (r.val_ndcg_at_10 >= 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " | val ndcg@10 %.4f hr@10 %.4f", r.val_ndcg_at_10,
                  r.val_hr_at_10);
    val += buf;
    if (r.val_prior_weight >= 0) {  // the metrics include the co-occurrence prior
      std::snprintf(buf, sizeof buf, " (prior w %g; model alone %.4f)", r.val_prior_weight,
                    r.val_model_ndcg_at_10);
      val += buf;
    }
  }
  std::string wait;
  if (r.world_size > 1) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " | comm wait %.1f ms (%.0f%%)", r.comm_wait_seconds * 1e3,
                  r.comm_share * 100);
    wait = buf;
  }
  if (r.epsilon >= 0) {  // privacy.enabled
    char buf[48];
    std::snprintf(buf, sizeof buf, " | epsilon %.3f", r.epsilon);
    wait += buf;
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "step %5lld/%lld | loss %.4f%s | lr %.2e | %s tok/s | norm %.2f%s | ETA %s",
                (long long)r.step, (long long)r.total_steps, r.loss, val.c_str(), r.lr,
                human_count(r.tokens_per_s).c_str(), r.grad_norm, wait.c_str(),
                human_duration(r.eta_seconds).c_str());
  return line;
}

}  // namespace cf::cli
