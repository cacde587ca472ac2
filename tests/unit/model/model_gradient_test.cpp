// Whole-model gradient checks: analytic gradients of ModelCore<double> against central finite
// differences of the weighted loss, for every entry of every parameter tensor.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "tiny_model_fixture.h"
#include "trainer/model/model_core.h"

namespace cf::trainer {
namespace {

using testing::all_losses;
using testing::tiny_batch;
using testing::tiny_config;
using testing::tiny_vocab;

// The scalar whose gradient forward_backward accumulates: each loss sum times its grad scale.
double weighted_loss(const LossSums& s, const LossOptions& o) {
  return s.item * double(o.item_grad_scale) * o.item_loss +
         s.action * double(o.action_grad_scale) * o.action_loss +
         s.propensity * double(o.propensity_grad_scale) * o.propensity_loss;
}

// Weights far from the tiny GPT-2 init (LN gains != 1, biases != 0), so every term of every
// backward formula is exercised with values of order one.
template <class T>
void randomize(ModelCore<T>& model, uint64_t seed) {
  model.init_weights(seed);
  SplitMix64 rng(seed * 31 + 5);
  for (const auto& t : model.layout().tensors) {
    const bool layer_norm_gain = !t.is_matrix_weight && !t.name.ends_with(".bias");
    T* w = model.params().data() + t.offset;
    for (int64_t i = 0; i < t.numel(); ++i)
      w[i] = static_cast<T>((layer_norm_gain ? 1.0 : 0.0) + 0.3 * rng.normal());
  }
}

struct GradientCase {
  ModelConfig config;
  int sampled_negatives;
  float dropout;
  ItemLoss kind = ItemLoss::kSampledSoftmax;  // with sampled_negatives > 0
  int in_batch_negatives = 0;
  bool log_q = false;  // a logQ table over the tiny vocabulary
  // 0: tiny_batch; else a batch padded to this many positions (with max_len raised to it), so
  // that attention runs in its tiled form (ops::attention_is_tiled).
  int long_batch_T = 0;
};

void check_whole_model_gradient(const GradientCase& gc) {
  // Thousands of tiny forwards: OpenMP wake-ups would dominate (and crawl on a loaded machine),
  // while the arithmetic checked here is the same on one thread.
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  struct RestoreThreads {
    int n;
    ~RestoreThreads() { omp_set_num_threads(n); }
  } restore{saved_threads};
  ModelConfig config = gc.config;
  config.dropout = gc.dropout;
  if (gc.long_batch_T > 0) config.max_len = gc.long_batch_T;
  const bool features = config.item_features != ItemFeatureUse::kNone;
  const data::VocabSizes vocab = features ? testing::tiny_vocab_with_item_features() : tiny_vocab();
  ModelCore<double> model(config, vocab, features ? testing::tiny_item_features() : nullptr);
  randomize(model, 42);
  const int T = gc.long_batch_T;
  const data::Batch batch = T > 0 ? testing::ragged_batch(vocab, T, {T, T - 9, 1}, {1.f, 0.f, -1.f}, 7)
                                  : tiny_batch(vocab);
  LossOptions loss = all_losses(batch, gc.sampled_negatives);
  if (gc.sampled_negatives > 0)
    testing::use_sampled_loss(loss, gc.sampled_negatives, 99, gc.kind, gc.in_batch_negatives);
  if (gc.log_q) {
    auto table = std::make_shared<std::vector<float>>();
    for (int v = 0; v < vocab.items; ++v) table->push_back(-0.5f + 0.1f * float(v % 7));
    loss.item_log_q = table;
  }
  const uint64_t dropout_seed = 1234;

  std::fill(model.grads().begin(), model.grads().end(), 0.0);
  const LossSums sums = model.forward_backward(batch, loss, dropout_seed);
  if (T == 0) {
    EXPECT_EQ(sums.item_count, 4 + 0 + 2);
    EXPECT_EQ(sums.action_count, 6);
    EXPECT_EQ(sums.propensity_count, 2);
  }
  const std::vector<double> analytic = model.grads();

  // With dropout on, the masks are a pure function of the seed, so the loss is still a smooth
  // deterministic function of the parameters; forward_backward reproduces it (its gradient
  // accumulation into grads() is irrelevant here).
  auto objective = [&]() {
    const LossSums s = gc.dropout > 0 ? model.forward_backward(batch, loss, dropout_seed)
                                      : model.evaluate_loss(batch, loss);
    return weighted_loss(s, loss);
  };
  const double h = 1e-5;
  std::vector<double>& params = model.params();
  for (const auto& t : model.layout().tensors) {
    double max_error = 0, max_magnitude = 0, worst_numeric = 0;
    int64_t worst = -1;
    for (int64_t i = t.offset; i < t.offset + t.numel(); ++i) {
      const double saved = params[i];
      params[i] = saved + h;
      const double up = objective();
      params[i] = saved - h;
      const double down = objective();
      params[i] = saved;
      const double numeric = (up - down) / (2 * h);
      const double error = std::abs(numeric - analytic[i]) /
                           (1e-7 + 1e-5 * std::max(std::abs(numeric), std::abs(analytic[i])));
      max_magnitude = std::max(max_magnitude, std::abs(analytic[i]));
      if (error > max_error) {
        max_error = error;
        worst = i;
        worst_numeric = numeric;
      }
    }
    EXPECT_LE(max_error, 1.0) << t.name << " entry " << (worst - t.offset) << ": analytic "
                              << analytic[worst] << " vs numeric " << worst_numeric;
    EXPECT_GT(max_magnitude, 0.0) << t.name << " received no gradient at all";
  }
}

TEST(ModelGradient, FullSoftmaxUntiedAllHeads) {
  check_whole_model_gradient({tiny_config(), 0, 0.f});
}

// Past one query tile of attention the model keeps softmax statistics, not probabilities, and
// backward recomputes them: the gradient must still be the loss's.
TEST(ModelGradient, LongBatchThroughTiledAttention) {
  const int T = ops::kAttentionQueryTile + 6;
  ASSERT_TRUE(ops::attention_is_tiled(T));
  GradientCase gc{tiny_config(), 0, 0.f};
  gc.long_batch_T = T;
  check_whole_model_gradient(gc);
}

TEST(ModelGradient, SampledSoftmaxTiedHead) {
  ModelConfig c = tiny_config();
  c.tied_item_head = true;
  check_whole_model_gradient({c, 4, 0.f});
}

TEST(ModelGradient, SampledSoftmaxWithInBatchNegativesAndLogQ) {
  check_whole_model_gradient({tiny_config(), 4, 0.f, ItemLoss::kSampledSoftmax, 3, true});
}

TEST(ModelGradient, GeneralisedBinaryCrossEntropy) {
  ModelConfig c = tiny_config();
  c.tied_item_head = true;
  check_whole_model_gradient({c, 5, 0.f, ItemLoss::kGbce, 2});
}

TEST(ModelGradient, WithDropoutMasksFixedBySeed) {
  check_whole_model_gradient({tiny_config(), 0, 0.3f});
}

TEST(ModelGradient, WithoutOptionalChannels) {
  ModelConfig c = tiny_config();
  c.use_category = false;
  c.use_activity = false;
  c.tied_item_head = true;
  check_whole_model_gradient({c, 0, 0.f});
}

// The ligr and hstu blocks: every one of their tensors (gates, SwiGLU, uvqk, position bias,
// av_norm, f2) and, through the embedding tables that are summed into it, the blocks' input.
ModelConfig with_block(BlockKind block) {
  ModelConfig c = tiny_config();
  c.block = block;
  return c;
}

TEST(ModelGradient, LigrBlock) { check_whole_model_gradient({with_block(BlockKind::kLigr), 0, 0.f}); }

TEST(ModelGradient, LigrBlockWithDropoutAndSampledSoftmax) {
  check_whole_model_gradient({with_block(BlockKind::kLigr), 4, 0.3f});
}

TEST(ModelGradient, HstuBlock) { check_whole_model_gradient({with_block(BlockKind::kHstu), 0, 0.f}); }

TEST(ModelGradient, HstuBlockWithDropoutAndSampledSoftmax) {
  check_whole_model_gradient({with_block(BlockKind::kHstu), 4, 0.3f});
}

// Item features (model.item_features): the feature table's gradient arrives through the mean
// pooling on the input side, on the output side (scattered from the effective head table), or
// both; with a tied head both sides also meet in item_emb.
ModelConfig with_item_features(ItemFeatureUse use, bool tied) {
  ModelConfig c = tiny_config();
  c.item_features = use;
  c.tied_item_head = tied;
  return c;
}

TEST(ModelGradient, ItemFeaturesOnInput) {
  check_whole_model_gradient({with_item_features(ItemFeatureUse::kInput, false), 0, 0.f});
}

TEST(ModelGradient, ItemFeaturesOnOutput) {
  check_whole_model_gradient({with_item_features(ItemFeatureUse::kOutput, false), 0, 0.f});
}

TEST(ModelGradient, ItemFeaturesOnBothTiedFullSoftmax) {
  check_whole_model_gradient({with_item_features(ItemFeatureUse::kBoth, true), 0, 0.f});
}

TEST(ModelGradient, ItemFeaturesOnBothTiedSampledSoftmaxWithDropout) {
  check_whole_model_gradient(
      {with_item_features(ItemFeatureUse::kBoth, true), 4, 0.3f, ItemLoss::kSampledSoftmax, 2});
}

// The float instantiation (what trains) computes the same losses and gradients as the double
// one that was just finite-difference checked, up to float rounding.
void check_float_matches_double(const ModelConfig& config) {
  const bool features = config.item_features != ItemFeatureUse::kNone;
  const data::VocabSizes vocab = features ? testing::tiny_vocab_with_item_features() : tiny_vocab();
  auto table = features ? testing::tiny_item_features() : nullptr;
  ModelCore<double> reference(config, vocab, table);
  ModelCore<float> model(config, vocab, table);
  randomize(reference, 3);
  for (size_t i = 0; i < reference.params().size(); ++i)
    model.params()[i] = static_cast<float>(reference.params()[i]);
  const data::Batch batch = tiny_batch(vocab);
  const LossOptions loss = all_losses(batch);
  const LossSums expected = reference.forward_backward(batch, loss, 0);
  const LossSums got = model.forward_backward(batch, loss, 0);
  EXPECT_NEAR(got.item, expected.item, 1e-4 * std::abs(expected.item));
  EXPECT_NEAR(got.action, expected.action, 1e-4 * std::abs(expected.action));
  EXPECT_NEAR(got.propensity, expected.propensity, 1e-4 * std::abs(expected.propensity));
  double max_grad = 0;
  for (double g : reference.grads()) max_grad = std::max(max_grad, std::abs(g));
  for (size_t i = 0; i < reference.grads().size(); ++i)
    ASSERT_NEAR(model.grads()[i], reference.grads()[i], 1e-4 * max_grad) << "entry " << i;
}

TEST(ModelGradient, FloatMatchesDouble) { check_float_matches_double(tiny_config()); }
TEST(ModelGradient, FloatMatchesDoubleLigr) {
  check_float_matches_double(with_block(BlockKind::kLigr));
}
TEST(ModelGradient, FloatMatchesDoubleItemFeatures) {
  check_float_matches_double(with_item_features(ItemFeatureUse::kBoth, true));
}
TEST(ModelGradient, FloatMatchesDoubleHstu) {
  check_float_matches_double(with_block(BlockKind::kHstu));
}

}  // namespace
}  // namespace cf::trainer
