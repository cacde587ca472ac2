// CpuBackend: training on the host — Model's forward and backward, host gradient buckets summed
// across ranks by the Communicator (MPI) while backward runs, AdamW whole or in ZeRO-1 shards.
#pragma once
#include <memory>

#include "trainer/backend/training_backend.h"

namespace cf::trainer {

std::unique_ptr<TrainingBackend> make_cpu_backend(const BackendOptions& options, Model& model,
                                                  AdamW& optimizer, comm::Communicator& comm);

}  // namespace cf::trainer
