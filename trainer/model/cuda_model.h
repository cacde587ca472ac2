// CudaModel: the decoder of trainer/model/model_core.cpp on an NVIDIA GPU — the same parameter
// layout, packing, dropout masks and losses, computed by kernels/cuda/ in bf16 (or fp32) with fp32
// master weights, gradients and AdamW state on the device.
//
// The host Model stays the owner of record (initialisation, checkpoints, inference tools): the
// training loop uploads its parameters once, trains here, and downloads parameters and
// optimizer state whenever it writes a checkpoint.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "data/batch.h"
#include "data/corpus.h"
#include "trainer/model/gradient_support.h"
#include "trainer/model/model_types.h"
#include "trainer/optimizer.h"

namespace cf::trainer {

// The attention kernels the GPU model runs (cuda.attention).
enum class CudaAttention {
  kFlash,           // the custom flash kernel: on tensor cores in bf16 (compute capability 8+),
                    // on CUDA cores in fp32
  kFlashCudaCores,  // the custom flash kernel on CUDA cores only (for comparison)
  kCudnn,           // cuDNN's fused attention (bf16; builds with cuDNN 9 and cudnn_frontend)
  kReference,       // the plain kernels that materialise the T x T probabilities
};

struct CudaModelOptions {
  bool bf16 = true;  // false: fp32 compute (for checking against the CPU)
  CudaAttention attention = CudaAttention::kFlash;
  bool deterministic = true;  // attention backward in a fixed summation order
  // The corpus's item features: needed when config.item_features is not none (Model's).
  std::shared_ptr<const data::ItemFeatures> item_features;
};

class CudaModel {
 public:
  // Builds the layout and allocates parameters, gradients and optimizer state on the current
  // CUDA device (see trainer/device.h). Throws UserError for settings the GPU path lacks.
  CudaModel(const ModelConfig& config, const data::VocabSizes& vocab,
            const CudaModelOptions& options);
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  int64_t num_params() const;
  void upload_params(const std::vector<float>& host);
  void download_params(std::vector<float>& host) const;
  void zero_grads();
  void download_grads(std::vector<float>& host) const;
  void upload_grads(const std::vector<float>& host);
  // The fp32 gradient buffer on the device (for NCCL), valid after forward_backward returns.
  float* device_grads();
  // The stream every kernel of this model runs on (NCCL orders its collectives after it).
  cudaStream_t stream() const;
  // As Model::set_grads_ready_hook: during backward, hook(first) once the kernels that finish
  // every gradient at offset >= first have been enqueued on stream(), so a data-parallel job
  // can start reducing them (ordered after those kernels) while backward goes on.
  void set_grads_ready_hook(std::function<void(int64_t first_final_offset)> hook);

  // As Model::forward_backward: gradients ACCUMULATE into the device gradient buffer.
  LossSums forward_backward(const data::Batch& batch, const LossOptions& loss,
                            uint64_t dropout_seed);
  LossSums evaluate_loss(const data::Batch& batch, const LossOptions& loss);

  // AdamW on the device, applying `optimizer`'s per-tensor rules and hyperparameters; the host
  // optimizer's step counter advances (its m/v are refreshed by download_optimizer_state).
  // upload takes the whole state; download gives this rank's shard (the whole state unless
  // shard_optimizer was called).
  void upload_optimizer_state(const std::vector<float>& m, const std::vector<float>& v);
  void download_optimizer_state(std::vector<float>& m, std::vector<float>& v) const;
  double grad_sum_of_squares(const AdamW& optimizer);
  void adamw_step(AdamW& optimizer, float lr, float grad_scale);

  // DP-SGD (trainer/privacy/dp_sgd.h), one user at a time: over `support` (the elements the
  // user's pass could write: Model::gradient_support on the host, the same layout), adds the
  // gradient, scaled by min(1, clip_norm / its norm), to the step's device sum of clipped
  // gradients (double) and zeroes it for the next user; returns the norm. take_clipped_sum
  // downloads that sum (all zeros when no user was added) and starts the next step's from zero.
  double add_clipped_grads(double clip_norm, const std::vector<GradientRange>& support);
  void take_clipped_sum(std::vector<double>& host);

  // ZeRO-1: this rank keeps AdamW's m and v for the parameters [begin, end) only, and
  // grad_sum_of_squares / adamw_step read the summed gradients of that range from
  // device_grad_shard() (end - begin floats, filled by the caller's reduce-scatter) and update
  // the master weights of that range; the caller all-gathers device_params() and then calls
  // refresh_compute_copy(). Call before upload_optimizer_state.
  void shard_optimizer(int64_t begin, int64_t end);
  float* device_params();      // the fp32 master weights
  float* device_grad_shard();  // null unless sharded
  // Re-derives the weights the kernels read (the bf16 copy) from the fp32 master.
  void refresh_compute_copy();

  struct Impl;  // defined in cuda_model.cpp, one implementation per compute type

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf::trainer
