#include "trainer/backend/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/cpu/matmul_precision.h"
#include "kernels/ops.h"
#include "trainer/backend/grad_sync.h"
#include "trainer/privacy/dp_sgd.h"
#include "trainer/task_rows.h"

namespace cf::trainer {
namespace {

class CpuBackend final : public TrainingBackend {
 public:
  CpuBackend(const BackendOptions& options, Model& model, AdamW& optimizer,
             comm::Communicator& comm)
      : model_(model),
        optimizer_(optimizer),
        comm_(comm),
        num_params_(int64_t(model.params().size())),
        accum_(options.micro_batches),
        zero1_(options.zero1),
        overlap_(comm.world_size() > 1 && !zero1_ && !options.privacy),
        shard_counts_(comm::even_shard_counts(num_params_, zero1_ ? comm.world_size() : 1)),
        grad_sync_(comm, num_params_, options.bucket_elements),
        products_(options.precision == "bf16" ||
                          (options.precision == "auto" && ops::cpu::cpu_has_bf16_units())
                      ? ops::cpu::MatmulPrecision::kBf16
                      : ops::cpu::MatmulPrecision::kFp32) {
    if (zero1_) {
      // This rank keeps (and updates) only its shard of the optimizer state: the full state it
      // was given (fresh or from a checkpoint) is cut down to that shard.
      std::vector<float> m = optimizer_.m(), v = optimizer_.v();
      const int64_t steps = optimizer_.steps_taken();
      const int64_t begin = comm::shard_begin(shard_counts_, comm.rank());
      optimizer_.set_shard(begin, begin + shard_counts_[size_t(comm.rank())]);
      optimizer_.load_state(std::move(m), std::move(v), steps);
      grad_shard_.resize(size_t(optimizer_.shard_end() - optimizer_.shard_begin()));
    }
    if (overlap_) {
      model_.set_grads_ready_hook(
          [this](int64_t first_final) { grad_sync_.grads_ready(first_final); });
    }
    // The running sum of a step's earlier micro-batches (see add_gradients).
    if (accum_ > 1) earlier_.resize(size_t(num_params_));
  }

  std::string description() const override {
    if (products_ == ops::cpu::MatmulPrecision::kFp32) return "";
    return "cpu: bf16 matrix products (" + ops::cpu::bf16_gemm_engine() +
           "), fp32 weights, optimizer and other ops";
  }

  LossSums forward_backward(const std::vector<data::Batch>& micro, const LossOptions& loss,
                            uint64_t dropout_seed) override {
    // Only the training step's products run in the chosen precision: validation ranks items
    // in fp32, as eval does.
    const ops::cpu::ScopedMatmulPrecision precision(products_);
    LossSums sums;
    for (int m = 0; m < accum_; ++m) {
      // Each micro-batch's gradients start from zero and are then added to the earlier ones
      // (add_gradients says why); `earlier_` holds that running sum.
      if (m > 0) earlier_.swap(model_.grads());
      ops::fill_zero(model_.grads().data(), int64_t(model_.grads().size()));
      const float* prior = m > 0 ? earlier_.data() : nullptr;
      const bool last = m == accum_ - 1;
      if (overlap_ && last) grad_sync_.arm(model_.grads().data(), prior);
      add_sums(sums, model_.forward_backward(micro[size_t(m)], loss, dropout_seed));
      if (prior && !(overlap_ && last)) add_gradients(model_.grads().data(), prior, num_params_);
    }
    return sums;
  }

  double update(float lr, float grad_clip) override {
    if (zero1_) {
      // Reduce-scatter: each rank gets the summed gradient of its shard, updates that part of
      // the parameters, and the ranks all-gather the result.
      comm_.reduce_scatter_sum(model_.grads().data(), grad_shard_.data(), shard_counts_);
      double sum_sq = optimizer_.grad_sum_of_squares(grad_shard_.data());
      comm_.all_reduce_sum(&sum_sq, 1);
      const double norm = std::sqrt(sum_sq);
      optimizer_.step_shard(model_.params().data(), grad_shard_.data(), lr,
                            clip_factor(norm, grad_clip));
      comm_.all_gather(model_.params().data() + optimizer_.shard_begin(), model_.params().data(),
                       shard_counts_);
      return norm;
    }
    if (comm_.world_size() > 1) grad_sync_.finish();
    const double norm = optimizer_.grad_norm(model_.grads());
    optimizer_.step(model_.params(), model_.grads(), lr, clip_factor(norm, grad_clip));
    return norm;
  }

  LossSums forward_backward_private(
      const std::vector<data::Batch>& micro,
      const std::function<LossOptions(const data::Batch&)>& loss_for_user, uint64_t dropout_seed,
      double clip_norm) override {
    const ops::cpu::ScopedMatmulPrecision precision(products_);
    LossSums sums;
    clipped_sum_.assign(size_t(num_params_), 0.0);
    std::vector<float>& grads = model_.grads();
    // Each user's pass starts from a zero buffer; only its support (the rows it can write:
    // trainer/model/gradient_support.h) is then read, summed and zeroed again, so the cost per
    // user follows what the user touched, not the size of the item table.
    ops::fill_zero(grads.data(), num_params_);
    privacy::for_each_user(micro, user_row_, [&](const data::Batch& user) {
      const LossOptions loss = loss_for_user(user);
      add_sums(sums, model_.forward_backward(user, loss, dropout_seed));
      add_clipped_user_gradient(model_.gradient_support(user, loss), clip_norm);
    });
    return sums;
  }

  double update_private(float lr, double noise_stddev, double divisor, uint64_t noise_seed,
                        int64_t step) override {
    std::vector<float>& grads = model_.grads();
    privacy::noisy_mean_gradient(clipped_sum_, comm_, noise_stddev, divisor, noise_seed, step,
                                 grads);
    const double norm = optimizer_.grad_norm(grads);
    optimizer_.step(model_.params(), grads, lr, 1.0f);  // the clipping was per user
    return norm;
  }

  LossSums evaluate_loss(const data::Batch& batch, const LossOptions& loss) override {
    const ops::cpu::ScopedMatmulPrecision precision(products_);
    return model_.evaluate_loss(batch, loss);
  }

  // clipped_sum_ += min(1, clip_norm / |g|) g over the user's support, which is zeroed after.
  // The norm's partial sums are per range and added in range order: the same at any thread
  // count.
  void add_clipped_user_gradient(const std::vector<GradientRange>& support, double clip_norm) {
    float* g = model_.grads().data();
    double* sum = clipped_sum_.data();
    const int64_t ranges = int64_t(support.size());
    range_sum_sq_.assign(size_t(ranges), 0.0);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < ranges; ++r) {
      double s = 0;
      for (int64_t i = support[size_t(r)].begin; i < support[size_t(r)].end; ++i)
        s += double(g[i]) * double(g[i]);
      range_sum_sq_[size_t(r)] = s;
    }
    double sum_sq = 0;
    for (double s : range_sum_sq_) sum_sq += s;
    const double scale = privacy::clip_scale(std::sqrt(sum_sq), clip_norm);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < ranges; ++r)
      for (int64_t i = support[size_t(r)].begin; i < support[size_t(r)].end; ++i) {
        sum[i] += scale * double(g[i]);
        g[i] = 0.f;
      }
  }

  CheckpointTensors checkpoint_tensors() override {
    if (!zero1_) return {model_, optimizer_.m(), optimizer_.v()};
    // Reassemble the whole optimizer state, so the checkpoint is the same at any world size
    // (and resumes with or without sharding).
    gathered_m_.resize(size_t(num_params_));
    gathered_v_.resize(size_t(num_params_));
    comm_.all_gather(optimizer_.m().data(), gathered_m_.data(), shard_counts_);
    comm_.all_gather(optimizer_.v().data(), gathered_v_.data(), shard_counts_);
    return {model_, gathered_m_, gathered_v_};
  }

  double comm_wait_seconds() const override { return comm_.timers().wait_seconds; }

 private:
  Model& model_;
  AdamW& optimizer_;
  comm::Communicator& comm_;
  const int64_t num_params_;
  const int accum_;
  const bool zero1_, overlap_;
  const std::vector<int64_t> shard_counts_;
  GradientSync grad_sync_;
  const ops::cpu::MatmulPrecision products_;
  std::vector<float> earlier_, grad_shard_, gathered_m_, gathered_v_;
  std::vector<double> clipped_sum_;   // DP-SGD: this rank's sum of clipped user gradients
  std::vector<double> range_sum_sq_;  // DP-SGD: a user's squared norm per support range
  data::Batch user_row_;              // DP-SGD: the user of the current pass
};

}  // namespace

std::unique_ptr<TrainingBackend> make_cpu_backend(const BackendOptions& options, Model& model,
                                                  AdamW& optimizer, comm::Communicator& comm) {
  return std::make_unique<CpuBackend>(options, model, optimizer, comm);
}

}  // namespace cf::trainer
