#include "trainer/backend/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/cpu/blas_gemm.h"
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

  // The users run in kPrivateLanes lanes (user k in lane k mod kPrivateLanes), on up to that
  // many threads: a single user's pass is too small to spread over threads. Each lane has its
  // own model replica and clipped sum; the sums are added in lane order, so the step is the
  // same at any thread count.
  LossSums forward_backward_private(
      const std::vector<data::Batch>& micro,
      const std::function<LossOptions(const data::Batch&)>& loss_for_user, uint64_t dropout_seed,
      double clip_norm) override {
    const ops::cpu::ScopedMatmulPrecision precision(products_);
    set_up_private_lanes();
    const std::vector<privacy::UserRow> users = privacy::step_users(micro);
    // Threads only pay for steps with some work: a few short users are faster on one thread
    // than through a team's barriers. (The lanes, and so the result, stay the same.)
    int64_t events = 0;
    for (const privacy::UserRow& user : users) events += user.batch->length[size_t(user.row)];
    const int threads =
        events >= kMinEventsForLaneThreads ? std::min(kPrivateLanes, omp_get_max_threads()) : 1;
    // An exception may not leave an OpenMP region: each lane keeps its own, rethrown after.
    std::vector<std::exception_ptr> failures(static_cast<size_t>(kPrivateLanes));
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int l = 0; l < kPrivateLanes; ++l) {
      ops::cpu::run_blas_serially_in_this_task();
      PrivateLane& lane = lanes_[size_t(l)];
      lane.sums = {};
      try {
        for (size_t k = size_t(l); k < users.size(); k += kPrivateLanes) {
          data::copy_row(*users[k].batch, users[k].row, lane.user_row);
          const LossOptions loss = loss_for_user(lane.user_row);
          add_sums(lane.sums, lane.model->forward_backward(lane.user_row, loss, dropout_seed));
          add_clipped_user_gradient(lane, lane.model->gradient_support(lane.user_row, loss),
                                    clip_norm);
        }
      } catch (...) {
        failures[size_t(l)] = std::current_exception();
      }
    }
    for (const std::exception_ptr& failure : failures)
      if (failure) std::rethrow_exception(failure);
        // clipped_sum_ (lane 0's) += the other lanes' sums, in lane order; those restart at zero.
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < num_params_; ++i) {
      double total = clipped_sum_[size_t(i)];
      for (size_t l = 1; l < lanes_.size(); ++l) {
        total += lanes_[l].sum[i];
        lanes_[l].sum[i] = 0.0;
      }
      clipped_sum_[size_t(i)] = total;
    }
    LossSums sums;
    for (const PrivateLane& lane : lanes_) add_sums(sums, lane.sums);
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

  // DP-SGD: one lane of users (see forward_backward_private).
  struct PrivateLane {
    Model* model = nullptr;          // lane 0: the model itself; the others: their replica
    std::unique_ptr<Model> replica;  // the model's config and item features, its weights
    double* sum = nullptr;           // this lane's sum of clipped user gradients
    std::vector<double> own_sum;     // its storage (lane 0 sums into clipped_sum_)
    std::vector<double> range_sum_sq;
    data::Batch user_row;
    LossSums sums;
  };

  // Lanes (created at the first private step) start each step with the model's weights, zero
  // gradients and zero sums.
  void set_up_private_lanes() {
    if (lanes_.empty()) {
      lanes_.resize(size_t(kPrivateLanes));
      for (int l = 1; l < kPrivateLanes; ++l) {
        PrivateLane& lane = lanes_[size_t(l)];
        lane.replica =
            std::make_unique<Model>(model_.config(), model_.vocab(), model_.item_features());
        lane.model = lane.replica.get();
        lane.own_sum.assign(size_t(num_params_), 0.0);
        lane.sum = lane.own_sum.data();
      }
      lanes_[0].model = &model_;
    }
    clipped_sum_.assign(size_t(num_params_), 0.0);
    lanes_[0].sum = clipped_sum_.data();
    // The model's gradient buffer held the last update's gradient; the replicas' are zero
    // (each user's support is zeroed after its pass).
    ops::fill_zero(model_.grads().data(), num_params_);
    for (size_t l = 1; l < lanes_.size(); ++l)
      std::copy(model_.params().begin(), model_.params().end(), lanes_[l].model->params().begin());
  }

  // lane.sum += min(1, clip_norm / |g|) g over the user's support, which is zeroed after. The
  // norm's partial sums are per range and added in range order.
  static void add_clipped_user_gradient(PrivateLane& lane,
                                        const std::vector<GradientRange>& support,
                                        double clip_norm) {
    float* g = lane.model->grads().data();
    double* sum = lane.sum;
    lane.range_sum_sq.assign(support.size(), 0.0);
    for (size_t r = 0; r < support.size(); ++r) {
      double s = 0;
      for (int64_t i = support[r].begin; i < support[r].end; ++i) s += double(g[i]) * double(g[i]);
      lane.range_sum_sq[r] = s;
    }
    double sum_sq = 0;
    for (const double s : lane.range_sum_sq) sum_sq += s;
    const double scale = privacy::clip_scale(std::sqrt(sum_sq), clip_norm);
    for (const GradientRange& r : support)
      for (int64_t i = r.begin; i < r.end; ++i) {
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
  // DP-SGD: lanes of users computed side by side. 4 lanes use up to 4 threads and hold 3 model
  // replicas and 3 more double sums (for the 3.65M-parameter Beauty model about 130 MB).
  static constexpr int kPrivateLanes = 4;
  static constexpr int64_t kMinEventsForLaneThreads = 2048;
  std::vector<PrivateLane> lanes_;
  std::vector<double> clipped_sum_;  // DP-SGD: this rank's sum of clipped user gradients
};

}  // namespace

std::unique_ptr<TrainingBackend> make_cpu_backend(const BackendOptions& options, Model& model,
                                                  AdamW& optimizer, comm::Communicator& comm) {
  return std::make_unique<CpuBackend>(options, model, optimizer, comm);
}

}  // namespace cf::trainer
