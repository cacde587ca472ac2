#include "trainer/backend/cuda_backend.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "trainer/backend/grad_sync.h"
#include "trainer/comm/nccl_comm.h"
#include "trainer/model/cuda_model.h"
#include "trainer/privacy/dp_sgd.h"
#include "trainer/task_rows.h"

namespace cf::trainer {
namespace {

// cuda.attention (validated by config.cpp) -> the GPU model's kernel.
CudaAttention attention_kernel(const std::string& value) {
  if (value == "flash_cuda_cores") return CudaAttention::kFlashCudaCores;
  if (value == "cudnn") return CudaAttention::kCudnn;
  if (value == "reference") return CudaAttention::kReference;
  return CudaAttention::kFlash;
}

// The GPU trains a device copy of the model; the host Model and AdamW are brought up to date
// whenever a checkpoint is written. Gradients are summed across ranks by NCCL, bucket by bucket
// as the device backward finishes them; micro-batches accumulate in place on the device.
class CudaBackend final : public TrainingBackend {
 public:
  CudaBackend(const DeviceChoice& device, const BackendOptions& options, Model& model,
              AdamW& optimizer, comm::Communicator& comm)
      : model_(model), optimizer_(optimizer), comm_(comm), options_(options) {
    check_backend_options(options, /*cuda=*/true);  // make_training_backend did; direct use too
    CudaModelOptions gpu_options;
    gpu_options.bf16 = options.cuda.precision == "bf16";
    gpu_options.attention = attention_kernel(options.cuda.attention);
    gpu_options.deterministic = options.cuda.deterministic;
    gpu_options.item_features = model.item_features();
    gpu_ = std::make_unique<CudaModel>(model.config(), model.vocab(), gpu_options);
    gpu_->upload_params(model.params());
    const int64_t num_params = int64_t(model.params().size());
    if (options.zero1) {
      // This rank keeps (and updates) only its shard of the optimizer state, as on the CPU.
      shard_counts_ = comm::even_shard_counts(num_params, comm.world_size());
      shard_begin_ = comm::shard_begin(shard_counts_, comm.rank());
      gpu_->shard_optimizer(shard_begin_, shard_begin_ + shard_counts_[size_t(comm.rank())]);
    }
    if (optimizer.steps_taken() > 0) gpu_->upload_optimizer_state(optimizer.m(), optimizer.v());
    if (comm.world_size() > 1) {
      nccl_ = std::make_unique<comm::NcclComm>(comm, device.gpu);
      nccl_->set_timeout(options.comm_timeout_s);
      nccl_->set_compute_stream(gpu_->stream());
      // ZeRO-1 reduce-scatters once the step's backward is done instead of all-reducing
      // buckets during it; DP-SGD sums its clipped gradients on the host once per step.
      if (!options.zero1 && !options.privacy) {
        sync_ = std::make_unique<GradientSync>(*nccl_, num_params, options.bucket_elements);
        gpu_->set_grads_ready_hook(
            [this](int64_t first_final) { sync_->grads_ready(first_final); });
      }
    }
  }

  std::string description() const override {
    const CudaSection& c = options_.cuda;
    return "cuda: " + c.precision + ", " + c.attention + " attention" +
           (c.deterministic ? ", deterministic" : "") +
           (sync_ ? ", gradients all-reduced with NCCL during backward" : "") +
           (options_.zero1 ? ", ZeRO-1 (optimizer state sharded over " +
                                 std::to_string(comm_.world_size()) + " GPUs, NCCL)"
                           : "") +
           (options_.privacy ? ", DP-SGD (a pass per user, clipped sums added on the host)" : "");
  }

  LossSums forward_backward(const std::vector<data::Batch>& micro, const LossOptions& loss,
                            uint64_t dropout_seed) override {
    LossSums sums;
    gpu_->zero_grads();
    for (size_t m = 0; m < micro.size(); ++m) {
      if (sync_ && m + 1 == micro.size()) sync_->arm(gpu_->device_grads(), nullptr);
      add_sums(sums, gpu_->forward_backward(micro[m], loss, dropout_seed));
    }
    return sums;
  }

  double update(float lr, float grad_clip) override {
    if (options_.zero1) {
      // Each GPU gets the summed gradient of its shard, updates that part of the weights, and
      // the GPUs all-gather the result.
      nccl_->reduce_scatter_sum(gpu_->device_grads(), gpu_->device_grad_shard(), shard_counts_);
      double sum_sq = gpu_->grad_sum_of_squares(optimizer_);
      comm_.all_reduce_sum(&sum_sq, 1);
      const double norm = std::sqrt(sum_sq);
      gpu_->adamw_step(optimizer_, lr, clip_factor(norm, grad_clip));
      float* params = gpu_->device_params();
      nccl_->all_gather(params + shard_begin_, params, shard_counts_);
      gpu_->refresh_compute_copy();
      return norm;
    }
    if (sync_) sync_->finish();
    const double norm = std::sqrt(gpu_->grad_sum_of_squares(optimizer_));
    gpu_->adamw_step(optimizer_, lr, clip_factor(norm, grad_clip));
    return norm;
  }

  // DP-SGD: one pass per user on the device, each user's gradient clipped into a device sum
  // over its gradient support (CudaModel::add_clipped_grads, the support from the host model,
  // which has the same layout); the noise and the update's arithmetic are the CPU's
  // (privacy::noisy_mean_gradient on the host), so both backends add the same noise.
  LossSums forward_backward_private(
      const std::vector<data::Batch>& micro,
      const std::function<LossOptions(const data::Batch&)>& loss_for_user, uint64_t dropout_seed,
      double clip_norm) override {
    LossSums sums;
    gpu_->zero_grads();
    privacy::for_each_user(micro, user_row_, [&](const data::Batch& user) {
      const LossOptions loss = loss_for_user(user);
      add_sums(sums, gpu_->forward_backward(user, loss, dropout_seed));
      gpu_->add_clipped_grads(clip_norm, model_.gradient_support(user, loss));
    });
    return sums;
  }

  double update_private(float lr, double noise_stddev, double divisor, uint64_t noise_seed,
                        int64_t step) override {
    gpu_->take_clipped_sum(clipped_sum_);
    privacy::noisy_mean_gradient(clipped_sum_, comm_, noise_stddev, divisor, noise_seed, step,
                                 private_grads_);
    gpu_->upload_grads(private_grads_);
    const double norm = std::sqrt(gpu_->grad_sum_of_squares(optimizer_));
    gpu_->adamw_step(optimizer_, lr, 1.0f);  // the clipping was per user
    return norm;
  }

  LossSums evaluate_loss(const data::Batch& batch, const LossOptions& loss) override {
    return gpu_->evaluate_loss(batch, loss);
  }

  CheckpointTensors checkpoint_tensors() override {
    gpu_->download_params(model_.params());
    std::vector<float> m, v;
    gpu_->download_optimizer_state(m, v);
    if (options_.zero1) {
      // Reassemble the whole state (over the host communicator), so the checkpoint is the same
      // at any world size and resumes with or without sharding.
      std::vector<float> whole_m(model_.params().size()), whole_v(model_.params().size());
      comm_.all_gather(m.data(), whole_m.data(), shard_counts_);
      comm_.all_gather(v.data(), whole_v.data(), shard_counts_);
      m.swap(whole_m);
      v.swap(whole_v);
    }
    optimizer_.load_state(std::move(m), std::move(v), optimizer_.steps_taken());
    return {model_, optimizer_.m(), optimizer_.v()};
  }

  double comm_wait_seconds() const override {
    return comm_.timers().wait_seconds + (nccl_ ? nccl_->timers().wait_seconds : 0.0);
  }

 private:
  Model& model_;
  AdamW& optimizer_;
  comm::Communicator& comm_;
  BackendOptions options_;
  std::unique_ptr<CudaModel> gpu_;
  std::unique_ptr<comm::NcclComm> nccl_;
  std::unique_ptr<GradientSync> sync_;
  std::vector<int64_t> shard_counts_;  // ZeRO-1: parameters per rank
  int64_t shard_begin_ = 0;            // ZeRO-1: this rank's first parameter
  data::Batch user_row_;               // DP-SGD: the user of the current pass
  std::vector<double> clipped_sum_;    // DP-SGD: the step's clipped sum, on the host
  std::vector<float> private_grads_;   // DP-SGD: the noisy mean gradient, on the host
};

}  // namespace

std::unique_ptr<TrainingBackend> make_cuda_backend(const DeviceChoice& device,
                                                   const BackendOptions& options, Model& model,
                                                   AdamW& optimizer, comm::Communicator& comm) {
  return std::make_unique<CudaBackend>(device, options, model, optimizer, comm);
}

}  // namespace cf::trainer
