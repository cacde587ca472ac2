#include "trainer/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace cf::trainer {
namespace {

ParamTensor tensor(const std::string& name, int64_t offset, std::vector<int64_t> shape, bool matrix,
                   int block = -1) {
  ParamTensor t;
  t.name = name;
  t.offset = offset;
  t.shape = std::move(shape);
  t.is_matrix_weight = matrix;
  t.block = block;
  return t;
}

// A miniature model laid out as build_model_layout does: embeddings, blocks, ln_f, heads.
std::vector<ParamTensor> toy_tensors() {
  return {tensor("item_emb.weight", 0, {3, 2}, true),               // [0, 6)
          tensor("pos_emb.weight", 6, {2, 2}, true),                // [6, 10)
          tensor("blocks.0.ln1.weight", 10, {2}, false, 0),         // [10, 12)
          tensor("blocks.0.attn.qkv.weight", 12, {3, 2}, true, 0),  // [12, 18)
          tensor("blocks.0.attn.qkv.bias", 18, {3}, false, 0),      // [18, 21)
          tensor("blocks.1.mlp.fc1.weight", 21, {2, 2}, true, 1),   // [21, 25)
          tensor("ln_f.bias", 25, {2}, false),                      // [25, 27)
          tensor("item_head.bias", 27, {3}, false),                 // [27, 30)
          tensor("propensity_head.weight", 30, {1, 2}, true)};      // [30, 32)
}
constexpr int64_t kToyParams = 32;

// Textbook AdamW on one scalar, in double (Loshchilov & Hutter, decoupled decay).
struct ScalarAdamW {
  double p, m = 0, v = 0;
  void step(double g, double lr, double b1, double b2, double eps, double wd, int t) {
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    double mhat = m / (1 - std::pow(b1, t)), vhat = v / (1 - std::pow(b2, t));
    p -= lr * (mhat / (std::sqrt(vhat) + eps) + wd * p);
  }
};

std::vector<float> initial_params() {
  std::vector<float> p(kToyParams);
  for (int i = 0; i < kToyParams; ++i) p[i] = 0.5f + 0.03f * static_cast<float>(i);
  return p;
}
std::vector<float> grads_at(int step) {
  std::vector<float> g(kToyParams);
  for (int i = 0; i < kToyParams; ++i) {
    g[i] = std::sin(0.7f * static_cast<float>(i) + static_cast<float>(step)) * 0.2f;
  }
  return g;
}

TEST(Optimizer, ClassifiesTensorsByLayoutNames) {
  auto t = toy_tensors();
  EXPECT_TRUE(is_embedding_tensor(t[0]));
  EXPECT_TRUE(is_embedding_tensor(t[1]));
  EXPECT_FALSE(is_embedding_tensor(t[3]));
  EXPECT_FALSE(is_embedding_tensor(t[8]));
  EXPECT_TRUE(is_task_head_tensor(t[7], TaskKind::kNextItem));
  EXPECT_TRUE(is_task_head_tensor(t[7], TaskKind::kPretrain));
  EXPECT_FALSE(is_task_head_tensor(t[7], TaskKind::kPropensity));
  EXPECT_TRUE(is_task_head_tensor(t[8], TaskKind::kPropensity));
  EXPECT_FALSE(is_task_head_tensor(t[6], TaskKind::kPropensity));
}

TEST(Optimizer, DecayGroupsMatchScalarReference) {
  for (bool decay_embeddings : {false, true}) {
    AdamWHyperparams h;
    h.beta1 = 0.8f;
    h.beta2 = 0.95f;
    h.eps = 1e-6f;
    h.weight_decay = 0.3f;
    h.decay_embeddings = decay_embeddings;
    AdamW opt(toy_tensors(), kToyParams, h);
    EXPECT_EQ(opt.rule("blocks.0.attn.qkv.weight").weight_decay, 0.3f);
    EXPECT_EQ(opt.rule("propensity_head.weight").weight_decay, 0.3f);
    EXPECT_EQ(opt.rule("blocks.0.attn.qkv.bias").weight_decay, 0.0f);
    EXPECT_EQ(opt.rule("blocks.0.ln1.weight").weight_decay, 0.0f);
    EXPECT_EQ(opt.rule("item_emb.weight").weight_decay, decay_embeddings ? 0.3f : 0.0f);

    std::vector<float> params = initial_params();
    std::vector<ScalarAdamW> ref;
    for (float p : params) ref.push_back({p});
    const float lrs[] = {0.01f, 0.02f, 0.005f};
    for (int s = 0; s < 3; ++s) {
      std::vector<float> g = grads_at(s);
      opt.step(params, g, lrs[s], 0.5f);
      for (const auto& t : toy_tensors()) {
        bool decays =
            t.is_matrix_weight && (decay_embeddings || t.name.find("_emb.") == std::string::npos);
        for (int64_t i = t.offset; i < t.offset + t.numel(); ++i) {
          ref[i].step(0.5 * g[i], lrs[s], h.beta1, h.beta2, h.eps, decays ? 0.3 : 0.0, s + 1);
        }
      }
    }
    EXPECT_EQ(opt.steps_taken(), 3);
    for (int i = 0; i < kToyParams; ++i) {
      EXPECT_NEAR(params[i], ref[i].p, 2e-6) << "param " << i;
      EXPECT_NEAR(opt.m()[i], ref[i].m, 1e-6) << "m " << i;
      EXPECT_NEAR(opt.v()[i], ref[i].v, 1e-7) << "v " << i;
    }
  }
}

TEST(Optimizer, TaskPolicyFreezesBlocksAndScalesBody) {
  AdamWHyperparams h;
  h.weight_decay = 0.0f;
  AdamW opt(toy_tensors(), kToyParams, h);
  TaskSection task;
  task.kind = TaskKind::kPropensity;
  task.freeze_blocks = 1;
  task.body_lr_scale = 0.1f;
  opt.apply_task_policy(task);
  EXPECT_TRUE(opt.rule("item_emb.weight").frozen);
  EXPECT_TRUE(opt.rule("pos_emb.weight").frozen);
  EXPECT_TRUE(opt.rule("blocks.0.attn.qkv.weight").frozen);
  EXPECT_FALSE(opt.rule("blocks.1.mlp.fc1.weight").frozen);
  EXPECT_EQ(opt.rule("blocks.1.mlp.fc1.weight").lr_scale, 0.1f);
  EXPECT_EQ(opt.rule("ln_f.bias").lr_scale, 0.1f);
  EXPECT_EQ(opt.rule("item_head.bias").lr_scale, 0.1f);  // not this task's head
  EXPECT_EQ(opt.rule("propensity_head.weight").lr_scale, 1.0f);

  std::vector<float> params = initial_params();
  const std::vector<float> before = params;
  std::vector<ScalarAdamW> ref;
  for (float p : params) ref.push_back({p});
  std::vector<float> g = grads_at(0);
  opt.step(params, g, 0.01f);
  for (const auto& t : toy_tensors()) {
    bool frozen = t.block == 0 || t.name.find("_emb.") != std::string::npos;
    double lr = t.name.rfind("propensity_head", 0) == 0 ? 0.01 : 0.001;
    for (int64_t i = t.offset; i < t.offset + t.numel(); ++i) {
      if (frozen) {
        EXPECT_EQ(params[i], before[i]) << t.name;  // untouched, state stays zero
        EXPECT_EQ(opt.m()[i], 0.0f) << t.name;
        continue;
      }
      ref[i].step(g[i], lr, h.beta1, h.beta2, h.eps, 0.0, 1);
      EXPECT_NEAR(params[i], ref[i].p, 1e-6) << t.name;
    }
  }
  // Freezing no blocks keeps the embeddings trainable.
  task.freeze_blocks = 0;
  opt.apply_task_policy(task);
  EXPECT_FALSE(opt.rule("item_emb.weight").frozen);
  EXPECT_FALSE(opt.rule("blocks.0.attn.qkv.weight").frozen);
}

TEST(Optimizer, GradNormSkipsFrozenAndClipFactorScalesDown) {
  AdamW opt(toy_tensors(), kToyParams, AdamWHyperparams{});
  std::vector<float> g(kToyParams, 0.0f);
  g[0] = 3.0f;    // item_emb
  g[13] = 4.0f;   // blocks.0 qkv
  g[31] = 12.0f;  // propensity head
  EXPECT_DOUBLE_EQ(opt.grad_norm(g), 13.0);
  opt.set_frozen("item_emb.weight", true);
  EXPECT_DOUBLE_EQ(opt.grad_norm(g), std::sqrt(16.0 + 144.0));
  EXPECT_FLOAT_EQ(clip_factor(13.0, 1.0f), 1.0f / 13.0f);
  EXPECT_EQ(clip_factor(0.5, 1.0f), 1.0f);
  EXPECT_EQ(clip_factor(100.0, 0.0f), 1.0f);  // clipping off
}

TEST(Optimizer, LoadStateContinuesBiasCorrection) {
  AdamWHyperparams h;
  AdamW a(toy_tensors(), kToyParams, h), b(toy_tensors(), kToyParams, h);
  std::vector<float> pa = initial_params();
  for (int s = 0; s < 2; ++s) a.step(pa, grads_at(s), 0.01f);
  std::vector<float> pb = pa;
  b.load_state(a.m(), a.v(), a.steps_taken());
  a.step(pa, grads_at(2), 0.01f);
  b.step(pb, grads_at(2), 0.01f);
  EXPECT_EQ(pa, pb);  // bit for bit
  EXPECT_EQ(a.m(), b.m());
  EXPECT_EQ(b.steps_taken(), 3);
}

}  // namespace
}  // namespace cf::trainer

namespace cf::trainer {
namespace {

// ZeRO-1: three optimizers, each owning one uneven shard (cutting through tensors and rule
// ranges), step to exactly the parameters and state of one unsharded optimizer.
TEST(AdamWShard, ShardsTogetherEqualTheWholeBufferBitForBit) {
  AdamWHyperparams h;
  h.weight_decay = 0.1f;
  AdamW whole(toy_tensors(), kToyParams, h);
  TaskSection task;
  task.kind = TaskKind::kPropensity;
  task.freeze_blocks = 1;
  task.body_lr_scale = 0.5f;
  whole.apply_task_policy(task);
  const int64_t bounds[] = {0, 11, 19, kToyParams};
  std::vector<AdamW> shards;
  for (int s = 0; s < 3; ++s) {
    shards.emplace_back(toy_tensors(), kToyParams, h);
    shards.back().apply_task_policy(task);
    shards.back().set_shard(bounds[s], bounds[s + 1]);
  }
  std::vector<float> p_whole = initial_params(), p_sharded = initial_params();
  for (int step = 1; step <= 5; ++step) {
    std::vector<float> g = grads_at(step);
    double sum_sq = 0;
    for (auto& s : shards) sum_sq += s.grad_sum_of_squares(g.data() + s.shard_begin());
    EXPECT_NEAR(std::sqrt(sum_sq), whole.grad_norm(g), 1e-12);
    whole.step(p_whole, g, 0.01f, 0.8f);
    for (auto& s : shards) s.step_shard(p_sharded.data(), g.data() + s.shard_begin(), 0.01f, 0.8f);
  }
  EXPECT_EQ(p_whole, p_sharded);
  for (int s = 0; s < 3; ++s) {
    for (int64_t i = bounds[s]; i < bounds[s + 1]; ++i) {
      EXPECT_EQ(shards[s].m()[i - bounds[s]], whole.m()[i]) << i;
      EXPECT_EQ(shards[s].v()[i - bounds[s]], whole.v()[i]) << i;
    }
  }
}

TEST(AdamWShard, LoadStateTakesTheShardOfAWholeBuffer) {
  AdamW opt(toy_tensors(), kToyParams, AdamWHyperparams{});
  opt.set_shard(10, 20);
  std::vector<float> m(kToyParams), v(kToyParams);
  for (int i = 0; i < kToyParams; ++i) m[i] = float(i), v[i] = float(100 + i);
  opt.load_state(m, v, 7);
  ASSERT_EQ(opt.m().size(), 10u);
  EXPECT_EQ(opt.m().front(), 10.f);
  EXPECT_EQ(opt.v().back(), 119.f);
  EXPECT_EQ(opt.steps_taken(), 7);
}

}  // namespace
}  // namespace cf::trainer
