// Run files: what a training run keeps beside its checkpoints — config.resolved.yaml, run.json
// (where it ran) and metrics.jsonl (one row per logged step) — and their upkeep: the metrics
// log never holds a step the run's checkpoints do not reach, and a failed run that wrote no
// checkpoint leaves nothing behind. Rank 0 only.
#pragma once
#include <cstdint>
#include <string>

#include "core/json.h"
#include "trainer/config.h"

namespace cf::trainer {

class RunFiles {
 public:
  explicit RunFiles(std::string out_dir);
  const std::string& out_dir() const { return out_dir_; }
  std::string checkpoints_root() const;

  // Creates the run directory (remembering whether it existed) and writes config.resolved.yaml
  // and run.json. `start_step`: the step the run starts at (0 fresh, else the checkpoint's);
  // metrics.jsonl rows after it (from a run that went on past its last checkpoint) are
  // dropped, so a resumed run never logs a step twice.
  void start(const Config& config, const Json& run_info, int64_t start_step);
  void append_metrics(const Json& row);
  // After a failure: drops metrics rows after `last_checkpoint_step` (< 0: no checkpoint was
  // ever written to this run directory, and the files start() wrote are removed, with the
  // directory when start() created it and it is left empty). Never throws.
  void abandon(int64_t last_checkpoint_step) noexcept;

 private:
  std::string out_dir_, metrics_path_;
  bool created_dir_ = false;
};

// Cuts the JSON-lines file at `path` before its first row whose "step" exceeds `step` (or that
// does not parse, as a row cut short by a full disk). In place (no space needed); a missing
// file is left missing. UserError naming the file when it cannot be read or truncated.
void truncate_metrics_after(const std::string& path, int64_t step);

// "AMD EPYC 7B13 (2 logical CPUs)" from /proc/cpuinfo; "unknown" where it is not readable.
std::string host_cpu_model();
// OpenMP threads of this process (1 without OpenMP).
int threads_per_rank();

}  // namespace cf::trainer
