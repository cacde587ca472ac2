// The best-checkpoint mark: best.json in a run's checkpoints root names the step_N checkpoint
// whose validation metric was the best of the run. Written atomically after that checkpoint is
// complete, so it only ever names a finished checkpoint; pruning keeps what it names, and
// resolve_checkpoint_dir (checkpoint.h) takes it for a run directory.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace cf::trainer {

struct BestCheckpointMark {
  int64_t step = 0;    // the checkpoint is <checkpoints_root>/step_<step>
  std::string metric;  // validation metric name ("ndcg@10", "hr@10", "loss")
  double value = 0;    // its value at that step
  bool operator==(const BestCheckpointMark&) const = default;
};

std::string best_mark_path(const std::string& checkpoints_root);
// Replaces best.json atomically (written under a temporary name, fsynced, renamed).
void write_best_mark(const std::string& checkpoints_root, const BestCheckpointMark& mark);
// nullopt when there is no best.json; UserError naming the file when it is malformed.
std::optional<BestCheckpointMark> read_best_mark(const std::string& checkpoints_root);

}  // namespace cf::trainer
