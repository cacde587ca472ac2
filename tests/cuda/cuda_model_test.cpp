// The whole model on the GPU against the CPU model: one training step (loss and every gradient
// tensor) in fp32 and bf16, with dropout on (the masks must be the CPU's), and 20 AdamW steps
// whose loss trajectory must follow the CPU run.
#include "trainer/model/cuda_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda/device_buffer.h"
#include "kernels/cuda/cudnn_attention.h"
#include "trainer/model/model.h"
#include "trainer/optimizer.h"
#include "trainer/privacy/dp_sgd.h"
#include "unit/model/tiny_model_fixture.h"
#include "unit/trainer/cpu_clipped_sum.h"

namespace cf::trainer {
namespace {

using testing::all_losses;
using testing::ragged_batch;

data::VocabSizes step_vocab() {
  data::VocabSizes v = testing::tiny_vocab();
  v.items = 301;
  return v;
}

// Head dim 32 (d_model 64, 2 heads): a size the flash kernel takes. Every head and channel on,
// dropout on, untied item head so every tensor has its own gradient.
ModelConfig step_config() {
  ModelConfig c;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 64;
  c.d_ff = 128;
  c.max_len = 24;
  c.dropout = 0.1f;
  c.tied_item_head = false;
  c.action_head = true;
  c.propensity_head = true;
  return c;
}

// Ragged lengths, including a single-event row (no next-item target) and a full row.
data::Batch step_batch(uint64_t seed) {
  data::Batch batch =
      ragged_batch(step_vocab(), 24, {24, 1, 17, 9, 24, 3}, {1.f, 0.f, -1.f, 1.f, 0.f, 1.f}, seed);
  for (int b = 0; b < batch.B; ++b) batch.sequence_index[size_t(b)] = 1000 + 7 * b;
  return batch;
}

struct Tolerance {
  double loss;      // relative
  double gradient;  // relative L2 error of each gradient tensor: |g - c| / |c|
};
// fp32: the GPU sums in other orders (cuBLASLt tiles, warp reductions); 1e-5 relative per op
// compounds over ~40 ops of the step to a few 1e-6 in practice, so 1e-5 on the loss and 1e-4
// on a tensor's relative L2 error.
// bf16: activations and weight copies round to 8 mantissa bits (relative 4e-3 per rounding);
// after dozens of roundings 1e-2 on the loss and 5e-2 on a tensor's relative L2 error.
constexpr Tolerance kFp32{1e-5, 1e-4};
constexpr Tolerance kBf16{1e-2, 5e-2};

// A sampled item loss over step_vocab(): 40 shared uniform negatives (some equal to targets, so
// accidental hits are masked), 5 in-batch ones and a logQ table.
void use_step_sampled_loss(LossOptions& loss, ItemLoss kind) {
  loss.item_kind = kind;
  loss.negative_seed = 4242;
  loss.shared_negatives.clear();
  for (int k = 0; k < 40; ++k)
    loss.shared_negatives.push_back(uniform_item(77, uint64_t(k), step_vocab().items));
  loss.in_batch_negatives = 5;
  auto log_q = std::make_shared<std::vector<float>>();
  for (int v = 0; v < step_vocab().items; ++v) log_q->push_back(-3.0f + 0.01f * float(v % 50));
  loss.item_log_q = log_q;
  loss.gbce_beta = 0.8;
}

// Feature tokens for step_vocab()'s items: 11 features (+ padding); every fifth item has none,
// the others one to three, shared between items.
std::shared_ptr<const data::ItemFeatures> step_item_features() {
  auto f = std::make_shared<data::ItemFeatures>();
  f->vocab_size = 12;
  f->offsets.push_back(0);
  for (int v = 0; v < step_vocab().items; ++v) {
    if (v % 5 != 0)
      for (int k = 0; k <= v % 3; ++k) f->ids.push_back(1 + (v * 7 + k * 3) % 11);
    std::sort(f->ids.begin() + f->offsets.back(), f->ids.end());
    f->ids.erase(std::unique(f->ids.begin() + f->offsets.back(), f->ids.end()), f->ids.end());
    f->offsets.push_back(int64_t(f->ids.size()));
  }
  return f;
}

void expect_step_matches_cpu(bool bf16, CudaAttention attention, const Tolerance& tol,
                             ItemLoss item_kind = ItemLoss::kFullSoftmax,
                             ItemFeatureUse features = ItemFeatureUse::kNone,
                             BlockKind block = BlockKind::kGpt) {
  CF_SKIP_WITHOUT_GPU("CudaModel tests");
  data::VocabSizes vocab = step_vocab();
  ModelConfig config = step_config();
  config.item_features = features;
  config.block = block;
  std::shared_ptr<const data::ItemFeatures> table;
  if (features != ItemFeatureUse::kNone) {
    table = step_item_features();
    vocab.item_features = table->vocab_size;
  }
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  Model cpu(config, vocab, table);
  cpu.init_weights(seed);
  const data::Batch batch = step_batch(seed ^ 0x5eed);
  LossOptions loss = all_losses(batch);
  if (item_kind != ItemLoss::kFullSoftmax) use_step_sampled_loss(loss, item_kind);
  const uint64_t dropout_seed = seed * 31 + 7;

  std::fill(cpu.grads().begin(), cpu.grads().end(), 0.f);
  const LossSums cpu_sums = cpu.forward_backward(batch, loss, dropout_seed);

  CudaModelOptions options;
  options.bf16 = bf16;
  options.attention = attention;
  options.item_features = table;
  CudaModel gpu(config, vocab, options);
  gpu.upload_params(cpu.params());
  gpu.zero_grads();
  const LossSums gpu_sums = gpu.forward_backward(batch, loss, dropout_seed);

  auto near = [&](double g, double c, const char* what) {
    EXPECT_LE(std::abs(g - c), tol.loss * std::max(1.0, std::abs(c)))
        << what << ": gpu " << g << " cpu " << c;
  };
  near(gpu_sums.item, cpu_sums.item, "item loss");
  near(gpu_sums.action, cpu_sums.action, "action loss");
  near(gpu_sums.propensity, cpu_sums.propensity, "propensity loss");
  EXPECT_EQ(gpu_sums.item_count, cpu_sums.item_count);
  EXPECT_EQ(gpu_sums.action_count, cpu_sums.action_count);
  EXPECT_EQ(gpu_sums.propensity_count, cpu_sums.propensity_count);

  std::vector<float> gpu_grads;
  gpu.download_grads(gpu_grads);
  ASSERT_EQ(gpu_grads.size(), cpu.grads().size());
  auto whole_norm_squared = [&](const ParamTensor& t) {
    double sum = 0;
    for (int64_t i = t.offset; i < t.offset + t.numel(); ++i)
      sum += double(cpu.grads()[size_t(i)]) * cpu.grads()[size_t(i)];
    return sum;
  };
  for (const ParamTensor& t : cpu.tensors()) {
    // The q, k and v rows of a qkv projection are checked apart: near initialisation the
    // attention is almost uniform, so dq and dk are far smaller than dv, and an error in them
    // alone would hide inside the whole tensor's relative error.
    const bool qkv = t.name.find(".attn.qkv.") != std::string::npos;
    const int parts = qkv ? 3 : 1;
    const int64_t part_size = t.numel() / parts;
    for (int part = 0; part < parts; ++part) {
      const std::string name = qkv ? t.name + " (" + "qkv"[part] + " rows)" : t.name;
      double diff = 0, ref = 0;
      for (int64_t i = t.offset + part * part_size; i < t.offset + (part + 1) * part_size; ++i) {
        const double c = cpu.grads()[size_t(i)], g = gpu_grads[size_t(i)];
        ASSERT_TRUE(std::isfinite(g)) << name << "[" << i - t.offset << "] is " << g;
        diff += (g - c) * (g - c);
        ref += c * c;
      }
      // The k bias's true gradient is zero (adding b to every key adds q . b to all of a
      // query's scores, which the softmax ignores): both sides are rounding noise, held to the
      // bound relative to the whole bias's gradient instead.
      if (qkv && part == 1 && t.shape.size() == 1) ref = whole_norm_squared(t);
      // Tensors whose gradient is exactly zero on the CPU (unused embedding rows) must be zero
      // on the GPU too; the others within the relative L2 bound.
      if (ref == 0) {
        EXPECT_EQ(diff, 0) << name << ": CPU gradient is zero, GPU's is not";
      } else {
        EXPECT_LE(std::sqrt(diff / ref), tol.gradient) << name;
      }
    }
  }
}

TEST(CudaModelStep, Fp32FlashMatchesCpu) {
  expect_step_matches_cpu(false, CudaAttention::kFlash, kFp32);
}
TEST(CudaModelStep, Fp32ReferenceAttentionMatchesCpu) {
  expect_step_matches_cpu(false, CudaAttention::kReference, kFp32);
}
// bf16 flash runs on tensor cores where the device has them (the emulation reports 9.0).
TEST(CudaModelStep, Bf16FlashMatchesCpu) {
  expect_step_matches_cpu(true, CudaAttention::kFlash, kBf16);
}
TEST(CudaModelStep, Bf16FlashCudaCoresMatchesCpu) {
  expect_step_matches_cpu(true, CudaAttention::kFlashCudaCores, kBf16);
}
// Runs where the build has cuDNN attention and a GPU; the emulation has no cuDNN.
TEST(CudaModelStep, Bf16CudnnMatchesCpu) {
  if (!cf::cuda::cudnn_attention_built()) GTEST_SKIP() << "this build has no cuDNN attention";
  expect_step_matches_cpu(true, CudaAttention::kCudnn, kBf16);
}
TEST(CudaModelStep, Fp32SampledSoftmaxMatchesCpu) {
  expect_step_matches_cpu(false, CudaAttention::kFlash, kFp32, ItemLoss::kSampledSoftmax);
}
TEST(CudaModelStep, Fp32GbceMatchesCpu) {
  expect_step_matches_cpu(false, CudaAttention::kFlash, kFp32, ItemLoss::kGbce);
}
TEST(CudaModelStep, Bf16SampledSoftmaxMatchesCpu) {
  expect_step_matches_cpu(true, CudaAttention::kFlash, kBf16, ItemLoss::kSampledSoftmax);
}

// model.item_features on both sides (the untied head: the output side goes through
// item_head.weight), with the full and the sampled softmax.
TEST(CudaModelStep, Fp32ItemFeaturesMatchCpu) {
  expect_step_matches_cpu(false, CudaAttention::kFlash, kFp32, ItemLoss::kFullSoftmax,
                          ItemFeatureUse::kBoth);
}
TEST(CudaModelStep, Fp32ItemFeaturesWithSampledSoftmaxMatchCpu) {
  expect_step_matches_cpu(false, CudaAttention::kFlash, kFp32, ItemLoss::kSampledSoftmax,
                          ItemFeatureUse::kBoth);
}
TEST(CudaModelStep, Bf16ItemFeaturesMatchCpu) {
  expect_step_matches_cpu(true, CudaAttention::kFlash, kBf16, ItemLoss::kFullSoftmax,
                          ItemFeatureUse::kBoth);
}

// LiGR's gated layers (sigmoid gates, SwiGLU FFN) with dropout on both gated branches.
TEST(CudaModelStep, Fp32LigrMatchesCpu) {
  expect_step_matches_cpu(false, CudaAttention::kFlash, kFp32, ItemLoss::kFullSoftmax,
                          ItemFeatureUse::kNone, BlockKind::kLigr);
}
TEST(CudaModelStep, Bf16LigrWithSampledSoftmaxMatchesCpu) {
  expect_step_matches_cpu(true, CudaAttention::kFlash, kBf16, ItemLoss::kSampledSoftmax,
                          ItemFeatureUse::kNone, BlockKind::kLigr);
}

// HSTU: pointwise attention with the relative position bias, U gating, one dropout site.
TEST(CudaModelStep, Fp32HstuMatchesCpu) {
  expect_step_matches_cpu(false, CudaAttention::kFlash, kFp32, ItemLoss::kFullSoftmax,
                          ItemFeatureUse::kNone, BlockKind::kHstu);
}
TEST(CudaModelStep, Bf16HstuMatchesCpu) {
  expect_step_matches_cpu(true, CudaAttention::kFlash, kBf16, ItemLoss::kFullSoftmax,
                          ItemFeatureUse::kNone, BlockKind::kHstu);
}

// The validation loss of a sampled-loss run is the sampled loss on both backends.
TEST(CudaModelStep, SampledEvaluateLossMatchesCpu) {
  CF_SKIP_WITHOUT_GPU("CudaModel tests");
  const data::VocabSizes vocab = step_vocab();
  Model cpu(step_config(), vocab);
  cpu.init_weights(5);
  const data::Batch batch = step_batch(6);
  LossOptions loss = all_losses(batch);
  use_step_sampled_loss(loss, ItemLoss::kSampledSoftmax);
  const LossSums expected = cpu.evaluate_loss(batch, loss);
  CudaModelOptions options;
  options.bf16 = false;
  CudaModel gpu(step_config(), vocab, options);
  gpu.upload_params(cpu.params());
  const LossSums got = gpu.evaluate_loss(batch, loss);
  EXPECT_NEAR(got.item, expected.item, 1e-5 * std::abs(expected.item));
  EXPECT_EQ(got.item_count, expected.item_count);
}

// Deterministic mode: the same step twice gives the same gradient bits.
TEST(CudaModelStep, DeterministicBackwardRepeatsBitForBit) {
  CF_SKIP_WITHOUT_GPU("CudaModel tests");
  const data::VocabSizes vocab = step_vocab();
  Model cpu(step_config(), vocab);
  cpu.init_weights(3);
  const data::Batch batch = step_batch(11);
  const LossOptions loss = all_losses(batch);
  CudaModel gpu(step_config(), vocab, CudaModelOptions{});
  gpu.upload_params(cpu.params());
  std::vector<float> first, second;
  gpu.zero_grads();
  gpu.forward_backward(batch, loss, 5);
  gpu.download_grads(first);
  gpu.zero_grads();
  gpu.forward_backward(batch, loss, 5);
  gpu.download_grads(second);
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) ASSERT_EQ(first[i], second[i]) << "element " << i;
}

// 20 AdamW steps on fresh batches: the GPU's loss trajectory follows the CPU's. Per step the
// bound is the step tolerance above widened 10x: Adam's normalised update turns relative
// gradient noise into absolute weight noise, which the following steps carry on.
void expect_trajectory_matches_cpu(bool bf16, double per_step_relative) {
  CF_SKIP_WITHOUT_GPU("CudaModel tests");
  const data::VocabSizes vocab = step_vocab();
  const ModelConfig config = step_config();
  Model cpu(config, vocab);
  cpu.init_weights(17);
  AdamWHyperparams hyper;
  AdamW cpu_opt(cpu.tensors(), int64_t(cpu.params().size()), hyper);
  AdamW gpu_opt(cpu.tensors(), int64_t(cpu.params().size()), hyper);
  CudaModelOptions options;
  options.bf16 = bf16;
  CudaModel gpu(config, vocab, options);
  gpu.upload_params(cpu.params());
  for (int step = 0; step < 20; ++step) {
    const data::Batch batch = step_batch(1000 + uint64_t(step));
    const LossOptions loss = all_losses(batch);
    std::fill(cpu.grads().begin(), cpu.grads().end(), 0.f);
    const LossSums c = cpu.forward_backward(batch, loss, uint64_t(step));
    const float cpu_clip = clip_factor(cpu_opt.grad_norm(cpu.grads()), 1.0f);
    cpu_opt.step(cpu.params(), cpu.grads(), 3e-3f, cpu_clip);

    gpu.zero_grads();
    const LossSums g = gpu.forward_backward(batch, loss, uint64_t(step));
    const float gpu_clip = clip_factor(std::sqrt(gpu.grad_sum_of_squares(gpu_opt)), 1.0f);
    gpu.adamw_step(gpu_opt, 3e-3f, gpu_clip);

    const double cpu_loss = c.item / double(c.item_count);
    const double gpu_loss = g.item / double(g.item_count);
    EXPECT_LE(std::abs(gpu_loss - cpu_loss), per_step_relative * std::abs(cpu_loss))
        << "step " << step << ": gpu " << gpu_loss << " cpu " << cpu_loss;
  }
  EXPECT_EQ(gpu_opt.steps_taken(), cpu_opt.steps_taken());
}

TEST(CudaModelTraining, Fp32TwentyStepsFollowCpu) { expect_trajectory_matches_cpu(false, 1e-4); }
TEST(CudaModelTraining, Bf16TwentyStepsFollowCpu) { expect_trajectory_matches_cpu(true, 1e-1); }

// ZeRO-1's update (CudaModel::shard_optimizer), without NCCL: two "ranks", each keeping the
// optimizer state of its part of the parameters (split inside a tensor) and given the summed
// gradient of that part, update their parts exactly as one unsharded model updates the whole;
// their sums of squares add up to the whole one. The all-gather is done by hand.
TEST(CudaModelZero1, ShardedUpdatesEqualTheWholeUpdate) {
  CF_SKIP_WITHOUT_GPU("CudaModel tests");
  const data::VocabSizes vocab = step_vocab();
  const ModelConfig config = step_config();
  for (const bool bf16 : {false, true}) {
    SCOPED_TRACE(bf16 ? "bf16" : "fp32");
    Model cpu(config, vocab);
    cpu.init_weights(23);
    const int64_t P = int64_t(cpu.params().size());
    const int64_t split = P / 2 + 3;
    CudaModelOptions options;
    options.bf16 = bf16;
    CudaModel whole(config, vocab, options), first(config, vocab, options),
        second(config, vocab, options);
    for (CudaModel* m : {&whole, &first, &second}) m->upload_params(cpu.params());
    first.shard_optimizer(0, split);
    second.shard_optimizer(split, P);
    ASSERT_EQ(whole.device_grad_shard(), nullptr);
    AdamW whole_opt(cpu.tensors(), P, {}), first_opt(cpu.tensors(), P, {}),
        second_opt(cpu.tensors(), P, {});

    const data::Batch batch = step_batch(77);
    const LossOptions loss = all_losses(batch);
    for (int step = 0; step < 2; ++step) {  // the second step uses the moments
      whole.zero_grads();
      whole.forward_backward(batch, loss, uint64_t(step));
      std::vector<float> grads;
      whole.download_grads(grads);
      const double whole_sum = whole.grad_sum_of_squares(whole_opt);
      ASSERT_EQ(cudaMemcpy(first.device_grad_shard(), grads.data(), sizeof(float) * split,
                           cudaMemcpyHostToDevice),
                cudaSuccess);
      ASSERT_EQ(cudaMemcpy(second.device_grad_shard(), grads.data() + split,
                           sizeof(float) * (P - split), cudaMemcpyHostToDevice),
                cudaSuccess);
      const double shard_sum =
          first.grad_sum_of_squares(first_opt) + second.grad_sum_of_squares(second_opt);
      EXPECT_NEAR(shard_sum, whole_sum, 1e-9 * whole_sum) << "step " << step;

      const float clip = clip_factor(std::sqrt(whole_sum), 0.5f);
      whole.adamw_step(whole_opt, 3e-3f, clip);
      first.adamw_step(first_opt, 3e-3f, clip);
      second.adamw_step(second_opt, 3e-3f, clip);
      // The all-gather, as the backend does it: each rank's updated part written into the
      // other's fp32 master (device_params), then the weights the kernels read re-derived.
      std::vector<float> want, a, b;
      whole.download_params(want);
      first.download_params(a);
      second.download_params(b);
      for (int64_t i = 0; i < split; ++i)
        ASSERT_EQ(a[size_t(i)], want[size_t(i)]) << "step " << step << ", parameter " << i;
      for (int64_t i = split; i < P; ++i)
        ASSERT_EQ(b[size_t(i)], want[size_t(i)]) << "step " << step << ", parameter " << i;
      ASSERT_EQ(cudaMemcpy(first.device_params() + split, b.data() + split,
                           sizeof(float) * (P - split), cudaMemcpyHostToDevice),
                cudaSuccess);
      ASSERT_EQ(cudaMemcpy(second.device_params(), a.data(), sizeof(float) * split,
                           cudaMemcpyHostToDevice),
                cudaSuccess);
      first.refresh_compute_copy();
      second.refresh_compute_copy();
    }
    // The next forward reads the refreshed copy: the same loss as the whole model's.
    for (CudaModel* m : {&first, &second}) {
      const LossSums got = m->evaluate_loss(batch, loss);
      const LossSums expected = whole.evaluate_loss(batch, loss);
      EXPECT_EQ(got.item, expected.item);
    }
    std::vector<float> m, v, m0, v0, m1, v1;
    whole.download_optimizer_state(m, v);
    first.download_optimizer_state(m0, v0);
    second.download_optimizer_state(m1, v1);
    ASSERT_EQ(int64_t(m0.size()), split);
    ASSERT_EQ(int64_t(m1.size()), P - split);
    m0.insert(m0.end(), m1.begin(), m1.end());
    v0.insert(v0.end(), v1.begin(), v1.end());
    EXPECT_EQ(m0, m);
    EXPECT_EQ(v0, v);
  }
}

// Settings the GPU path refuses get a clear error instead of wrong numbers.
// DP-SGD on the GPU: each user's pass, clipped into the device sum over the user's gradient
// support (add_clipped_grads), against the CPU backend's private step on the same users, in
// fp32 with a sampled loss and dropout. A GPU write outside the support would stay in the
// buffer and join the next user's gradient, so the sums would differ. With a clip norm below every
// user's norm each user is scaled; with a large one none is.
TEST(CudaModelPrivacy, ClippedSumMatchesTheCpuBackend) {
  CF_SKIP_WITHOUT_GPU("CudaModel tests");
  const data::VocabSizes vocab = step_vocab();
  ModelConfig config = step_config();
  config.tied_item_head = true;
  // Three users (the emulation takes about a minute per gradient norm: keep the passes few).
  const data::Batch batch = ragged_batch(step_vocab(), 24, {24, 9, 3}, {-1.f, -1.f, -1.f}, 11);
  auto loss_for = [](const data::Batch& row) {
    LossOptions o;
    use_step_sampled_loss(o, ItemLoss::kSampledSoftmax);
    o.item_log_q = nullptr;
    const int64_t targets = row.num_targets();
    o.item_grad_scale = targets > 0 ? 1.0f / float(targets) : 0.0f;
    return o;
  };
  for (const double clip_norm : {1e-3, 1e6}) {
    SCOPED_TRACE("clip norm " + std::to_string(clip_norm));
    Model cpu(config, vocab);
    cpu.init_weights(21);
    const int64_t P = int64_t(cpu.params().size());
    CudaModelOptions options;
    options.bf16 = false;
    CudaModel gpu(config, vocab, options);
    gpu.upload_params(cpu.params());
    gpu.zero_grads();
    data::Batch row;
    int users = 0;
    Model layout_twin(config, vocab);  // gives the supports; its weights are not used
    privacy::for_each_user({batch}, row, [&](const data::Batch& user) {
      const LossOptions loss = loss_for(user);
      gpu.forward_backward(user, loss, 9);
      const double norm =
          gpu.add_clipped_grads(clip_norm, layout_twin.gradient_support(user, loss));
      if (clip_norm < 1) {
        EXPECT_GT(norm, clip_norm) << "a user would not be clipped";
      }
      ++users;
    });
    ASSERT_EQ(users, batch.B);
    std::vector<double> gpu_sum;
    gpu.take_clipped_sum(gpu_sum);
    std::vector<double> after;
    gpu.take_clipped_sum(after);
    EXPECT_EQ(std::count(after.begin(), after.end(), 0.0), P) << "the sum was not restarted";

    testing::cpu_clipped_sum(cpu, batch, loss_for, clip_norm, 9);
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < P; ++i) {
      const double c = cpu.grads()[size_t(i)], g = gpu_sum[size_t(i)];
      diff += (g - c) * (g - c);
      ref += c * c;
    }
    ASSERT_GT(ref, 0);
    EXPECT_LE(std::sqrt(diff / ref), kFp32.gradient);
    if (clip_norm < 1) {
      EXPECT_LE(std::sqrt(ref), users * clip_norm * (1 + 1e-5));
    }
  }
}

TEST(CudaModelErrors, FlashNeedsASupportedHeadDim) {
  CF_SKIP_WITHOUT_GPU("CudaModel tests");
  ModelConfig c = step_config();
  c.n_head = 4;  // head dim 16
  try {
    CudaModel gpu(c, step_vocab(), CudaModelOptions{});
    FAIL() << "no error for head dim 16";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("head dim"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cf::trainer
