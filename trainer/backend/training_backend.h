// TrainingBackend: where a training step's numbers are computed — forward and backward over
// this rank's micro-batches, the gradient sum across ranks and the AdamW update — on the CPU
// (cpu_backend.cpp) or on a GPU (cuda_backend.cpp). The training loop only sequences steps.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "trainer/comm/communicator.h"
#include "trainer/config.h"
#include "trainer/device.h"
#include "trainer/model/model.h"
#include "trainer/optimizer.h"

namespace cf::trainer {

// How a backend trains, beyond the model and optimizer it is given.
struct BackendOptions {
  int micro_batches = 1;           // per rank per step (gradient accumulation)
  bool zero1 = false;              // ZeRO-1 optimizer shards (several ranks)
  int64_t bucket_elements = 1;     // gradient all-reduce bucket size
  float comm_timeout_s = 0;        // for the backend's own communicator (NCCL)
  std::string precision = "fp32";  // run.precision as written (auto | fp32 | bf16)
  CudaSection cuda;                // the CUDA backend's settings
  bool privacy = false;            // DP-SGD steps (forward_backward_private / update_private)
  std::string config_path;         // named in errors about these settings
};
BackendOptions backend_options(const Config& config, int micro_batches, int world_size);

// The weights and whole optimizer state as a checkpoint stores them.
struct CheckpointTensors {
  const Model& model;
  const std::vector<float>& adam_m;
  const std::vector<float>& adam_v;
};

class TrainingBackend {
 public:
  virtual ~TrainingBackend() = default;
  // One line for the log describing the backend, or "" when there is nothing to add.
  virtual std::string description() const = 0;
  // Forward and backward over the step's micro-batches (this rank's), accumulating their
  // gradients; with several ranks the sum across ranks starts during the last backward.
  // Returns this rank's loss sums.
  virtual LossSums forward_backward(const std::vector<data::Batch>& micro, const LossOptions& loss,
                                    uint64_t dropout_seed) = 0;
  // Completes the gradient sum across ranks, clips it to global norm `grad_clip` (0 = off) and
  // takes one AdamW step at `lr`. Returns the gradient norm before clipping.
  virtual double update(float lr, float grad_clip) = 0;
  // DP-SGD (privacy.enabled; trainer/privacy/dp_sgd.h). One forward and backward per user (a
  // row of the micro-batches; empty rows are skipped) under loss_for_user(its one-row batch),
  // each user's gradient clipped to norm clip_norm and the clipped gradients summed (in
  // double), each norm and sum over the user's gradient support (gradient_support.h).
  // Returns this rank's loss sums.
  virtual LossSums forward_backward_private(
      const std::vector<data::Batch>& micro,
      const std::function<LossOptions(const data::Batch&)>& loss_for_user, uint64_t dropout_seed,
      double clip_norm);
  // Sums the clipped gradients across ranks, adds N(0, noise_stddev^2) to every element (drawn
  // from (noise_seed, step): the same on every rank), divides by `divisor` (the expected users
  // per step) and takes one AdamW step at `lr`. Returns the norm of the noisy gradient.
  virtual double update_private(float lr, double noise_stddev, double divisor, uint64_t noise_seed,
                                int64_t step);
  // Loss sums of one batch without dropout (validation).
  virtual LossSums evaluate_loss(const data::Batch& batch, const LossOptions& loss) = 0;
  // Brings the host model and optimizer up to date (from the device, or the ZeRO-1 shards of
  // every rank) for a checkpoint. Collective: every rank calls it.
  virtual CheckpointTensors checkpoint_tensors() = 0;
  // Seconds this rank has spent blocked in collectives so far.
  virtual double comm_wait_seconds() const = 0;
};

// The backend for `device`, training `model` with `optimizer` (both set up: fresh, resumed or
// initialised; the backend takes them over for the run). UserError for settings the chosen
// backend lacks.
// Refuses settings the chosen backend cannot honour, naming the config and the keys, before
// anything is allocated: privacy.enabled with comm.zero1, and on CUDA run.precision: bf16
// without cuda.precision: bf16 (run.precision is the CPU's; on the GPU cuda.precision decides).
void check_backend_options(const BackendOptions& options, bool cuda);

std::unique_ptr<TrainingBackend> make_training_backend(const DeviceChoice& device,
                                                       const BackendOptions& options, Model& model,
                                                       AdamW& optimizer, comm::Communicator& comm);

}  // namespace cf::trainer
