// Run setup: everything before a run's first step — the shape of a step on this world, the
// model and optimizer (fresh, resumed from a checkpoint, or initialised from a pretrained one:
// rank 0 reads, every rank receives), and the check that all ranks built the same thing.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "data/corpus.h"
#include "trainer/checkpoint.h"
#include "trainer/comm/communicator.h"
#include "trainer/config.h"
#include "trainer/model/model.h"
#include "trainer/optimizer.h"

namespace cf::trainer {

// How one step's global batch is cut: micro_batch sequences x micro_batches per rank x ranks.
struct StepShape {
  int micro_batch = 0, max_len = 0;
  int micro_batches = 1;  // per rank per step
  int world_size = 1;
  int64_t global_batch = 0;
};
// From train.global_batch when set (UserError if it does not divide), else train.grad_accum.
StepShape step_shape(const Config& config, int world_size);

// How `--resume` asked to start: "" (fresh; refuses a run that has checkpoints), "auto" (the
// newest valid checkpoint, fresh when there is none; an error when every one is corrupt),
// "fresh" (start over: existing checkpoints are moved aside, never deleted), or a checkpoint
// directory.
inline constexpr const char* kResumeAuto = "auto";
inline constexpr const char* kResumeFresh = "fresh";

struct RunStart {
  Model model;
  AdamW optimizer;
  TrainState state;
  bool resumed = false;
};

// Builds the model and optimizer of `config` on every rank and loads what `resume` and
// task.init_from ask for; `say` gets rank 0's notices. Collective.
RunStart set_up_run(const Config& config, const std::string& resume, comm::Communicator& comm,
                    const data::CorpusReader& corpus, const StepShape& shape,
                    const std::function<void(const std::string&)>& say);

}  // namespace cf::trainer
