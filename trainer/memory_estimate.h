// Memory estimate: what a training run will allocate on the host (parameters, gradients,
// optimizer state, activations, the corpus in memory), checked against what the machine has
// before anything is allocated, so an impossible config is refused naming its key instead of
// ending in std::bad_alloc or the OOM killer.
#pragma once
#include <cstdint>
#include <string>

#include "data/corpus.h"
#include "trainer/config.h"
#include "trainer/run_setup.h"

namespace cf::trainer {

struct TrainingMemory {
  double parameters = 0;   // parameters and gradients (+ the accumulation buffer)
  double optimizer = 0;    // AdamW m and v
  double activations = 0;  // the activation arena and the item-softmax chunk (0 on a GPU)
  double corpus = 0;       // event channels held in memory
  double total() const { return parameters + optimizer + activations + corpus; }
};

// Parameters of `model` on `vocab` (validated as the model validates them), in double so that
// absurd sizes are measured, not overflowed.
double parameter_count(const ModelConfig& model, const data::VocabSizes& vocab);
TrainingMemory estimate_training_memory(const Config& config, const data::VocabSizes& vocab,
                                        const StepShape& shape, int64_t events_in_memory,
                                        bool activations_on_host);
// Bytes this process may still allocate: MemAvailable, lowered by a cgroup memory limit.
double available_memory_bytes();
// UserError naming config.source_path, the key behind the largest part, and both sizes when
// the estimate exceeds available_memory_bytes().
void require_training_memory(const Config& config, const data::VocabSizes& vocab,
                             const StepShape& shape, int64_t events_in_memory,
                             bool activations_on_host);

}  // namespace cf::trainer
