// Behaviour of the float Model: padding invariance, causality, KV-cache decoding, determinism,
// accumulation, losses against hand-computed values, scores against a naive reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "tiny_model_fixture.h"
#include "trainer/model/model.h"

namespace cf::trainer {
namespace {

using testing::all_losses;
using testing::empty_batch;
using testing::ragged_batch;
using testing::tiny_batch;
using testing::tiny_config;
using testing::tiny_vocab;

// Larger-than-init weights so that differences are not hidden by near-zero activations.
Model make_model(ModelConfig config = tiny_config(), uint64_t seed = 11) {
  Model model(config, tiny_vocab());
  model.init_weights(seed);
  SplitMix64 rng(seed);
  for (float& w : model.params()) w += static_cast<float>(0.2 * rng.normal());
  return model;
}

void zero_grads(Model& model) { std::fill(model.grads().begin(), model.grads().end(), 0.f); }

TEST(ModelBehaviour, PaddedPositionsChangeNothing) {
  ModelConfig config = tiny_config();
  config.dropout = 0.f;
  Model model = make_model(config);
  const data::VocabSizes v = tiny_vocab();
  const data::Batch batch = tiny_batch(v);
  data::Batch scribbled = batch;
  SplitMix64 rng(5);
  int changed = 0;
  for (int b = 0; b < batch.B; ++b)
    for (int t = batch.length[b]; t < batch.T; ++t) {
      const size_t n = size_t(b) * batch.T + t;
      scribbled.item[n] = 1 + rng.next() % (v.items - 1);
      scribbled.action[n] = 1 + rng.next() % (v.actions - 1);
      scribbled.category[n] = 1 + rng.next() % (v.categories - 1);
      scribbled.time_gap[n] = 1 + rng.next() % (v.time_gaps - 1);
      scribbled.activity[n] = 1 + rng.next() % (v.activities - 1);
      ++changed;
    }
  ASSERT_GT(changed, 0);
  const LossOptions loss = all_losses(batch, 0);

  zero_grads(model);
  const LossSums a = model.forward_backward(batch, loss, 1);
  const std::vector<float> grads_a = model.grads();
  std::vector<float> hidden_a, hidden_b;
  model.hidden_states(batch, hidden_a);
  zero_grads(model);
  const LossSums b = model.forward_backward(scribbled, loss, 1);
  model.hidden_states(scribbled, hidden_b);

  EXPECT_EQ(a.item, b.item);
  EXPECT_EQ(a.action, b.action);
  EXPECT_EQ(a.propensity, b.propensity);
  for (size_t i = 0; i < grads_a.size(); ++i) ASSERT_EQ(grads_a[i], model.grads()[i]) << i;
  const int C = config.d_model;
  int nonzero_real = 0;
  for (int bi = 0; bi < batch.B; ++bi)
    for (int t = 0; t < batch.T; ++t)
      for (int c = 0; c < C; ++c) {
        const size_t i = (size_t(bi) * batch.T + t) * C + c;
        ASSERT_EQ(hidden_a[i], hidden_b[i]) << "row " << bi << " position " << t;
        if (t >= batch.length[bi])
          ASSERT_EQ(hidden_a[i], 0.f) << "padding position " << t << " of row " << bi;
        else
          nonzero_real += hidden_a[i] != 0.f;
      }
  EXPECT_GT(nonzero_real, 0);
}

TEST(ModelBehaviour, EarlierPositionsIgnoreLaterEvents) {
  Model model = make_model();
  const data::VocabSizes v = tiny_vocab();
  const data::Batch batch = ragged_batch(v, 6, {6, 6}, {-1.f, -1.f}, 3);
  const int C = model.config().d_model;
  std::vector<float> before, after;
  model.hidden_states(batch, before);
  for (int changed_t = 0; changed_t < batch.T; ++changed_t) {
    data::Batch edited = batch;
    const size_t n = size_t(0) * batch.T + changed_t;
    edited.item[n] = edited.item[n] % (v.items - 1) + 1;  // another real item id
    edited.action[n] = edited.action[n] % (v.actions - 1) + 1;
    model.hidden_states(edited, after);
    for (int t = 0; t < batch.T; ++t) {
      bool same = true;
      for (int c = 0; c < C; ++c) same &= before[size_t(t) * C + c] == after[size_t(t) * C + c];
      if (t < changed_t)
        EXPECT_TRUE(same) << "position " << t << " saw a change at " << changed_t;
      else
        EXPECT_FALSE(same) << "position " << t << " did not see a change at " << changed_t;
    }
    // Row 1 is a different sequence: untouched entirely.
    for (size_t i = size_t(batch.T) * C; i < size_t(2 * batch.T) * C; ++i)
      ASSERT_EQ(before[i], after[i]);
  }
}

TEST(ModelBehaviour, DecoderMatchesFullForward) {
  for (bool tied : {true, false}) {
    ModelConfig config = tiny_config();
    config.tied_item_head = tied;
    Model model = make_model(config, tied ? 21 : 22);
    const data::VocabSizes v = tiny_vocab();
    const int T = config.max_len;
    const data::Batch batch = ragged_batch(v, T, {T}, {-1.f}, 8);
    std::vector<float> full;
    model.hidden_states(batch, full);
    const int C = config.d_model;
    auto decoder = model.make_decoder();
    for (int pass = 0; pass < 2; ++pass) {  // the second pass checks reset()
      decoder->reset();
      EXPECT_EQ(decoder->length(), 0);
      for (int t = 0; t < T; ++t) {
        const std::vector<float>& h =
            decoder->append(batch.item[t], batch.action[t], batch.category[t], batch.time_gap[t],
                            batch.activity[t]);
        ASSERT_EQ(h.size(), size_t(C));
        EXPECT_EQ(decoder->length(), t + 1);
        for (int c = 0; c < C; ++c)
          ASSERT_NEAR(h[c], full[size_t(t) * C + c], 1e-5) << "position " << t << " dim " << c;
      }
      EXPECT_THROW(decoder->append(1, 1, 1, 1, 1), UserError);
    }
  }
}

TEST(ModelBehaviour, DecoderTruncateForgetsTheLaterEventsExactly) {
  // For each block: feed 5 events, keep 3, feed two others; the hidden states are bit-identical
  // to a fresh decoder fed the same 5 (copy's n drafts share one prompt this way).
  for (BlockKind block : {BlockKind::kGpt, BlockKind::kLigr, BlockKind::kHstu}) {
    ModelConfig config = tiny_config();
    config.block = block;
    Model model = make_model(config, 23);
    auto reused = model.make_decoder();
    for (int32_t item : {1, 2, 3, 4, 5}) reused->append(item, 1, 1, 1, 1);
    reused->truncate(3);
    EXPECT_EQ(reused->length(), 3);
    auto fresh = model.make_decoder();
    for (int32_t item : {1, 2, 3}) fresh->append(item, 1, 1, 1, 1);
    for (int32_t item : {6, 2}) {
      const std::vector<float> a = reused->append(item, 2, 1, 1, 1);
      const std::vector<float>& b = fresh->append(item, 2, 1, 1, 1);
      ASSERT_EQ(a, b) << "block " << int(block) << " item " << item;
    }
    EXPECT_EQ(reused->length(), 5);
    EXPECT_DEATH(reused->truncate(6), "truncate beyond the events fed");
  }
}

TEST(ModelBehaviour, DecoderLanesEachEqualAOneLaneDecoder) {
  // Three lanes share a prompt fed once (copied from lane 0), step together with different
  // events on every channel, lose a lane (the last one's events copied over the finished one,
  // as copy's drafts do) and go on; every row equals a one-lane decoder fed that lane's events
  // (the products run over several rows, so within float rounding).
  struct Event {
    int32_t item, action, category, time_gap, activity;
  };
  for (BlockKind block : {BlockKind::kGpt, BlockKind::kLigr, BlockKind::kHstu}) {
    ModelConfig config = tiny_config();
    config.block = block;
    Model model = make_model(config, 24);
    const int C = config.d_model;
    auto lanes = model.make_decoder(3);
    EXPECT_EQ(lanes->lanes(), 3);
    const std::vector<Event> prompt = {{3, 1, 1, 1, 1}, {1, 2, 3, 4, 2}, {4, 3, 2, 5, 1}};
    for (const Event& e : prompt)
      lanes->append(e.item, e.action, e.category, e.time_gap, e.activity);
    for (int lane : {1, 2}) lanes->copy_lane(0, lane);
    std::vector<std::vector<Event>> events(3, prompt);
    auto expect_rows_match = [&](const std::vector<float>& rows, int n) {
      for (int b = 0; b < n; ++b) {
        auto single = model.make_decoder();
        const std::vector<float>* h = nullptr;
        for (const Event& e : events[size_t(b)])
          h = &single->append(e.item, e.action, e.category, e.time_gap, e.activity);
        for (int c = 0; c < C; ++c)
          ASSERT_NEAR(rows[size_t(b) * C + c], (*h)[size_t(c)], 1e-5)
              << "block " << int(block) << " lane " << b << " dim " << c;
      }
    };
    // Feeds step[b] to lane b for the first step.size() lanes and checks every row.
    auto feed = [&](const std::vector<Event>& step) {
      std::vector<int32_t> item, action, category, time_gap, activity;
      for (size_t b = 0; b < step.size(); ++b) {
        const Event& e = step[b];
        item.push_back(e.item);
        action.push_back(e.action);
        category.push_back(e.category);
        time_gap.push_back(e.time_gap);
        activity.push_back(e.activity);
        events[b].push_back(e);
      }
      expect_rows_match(lanes->append_lanes(int(step.size()), item.data(), action.data(),
                                            category.data(), time_gap.data(), activity.data()),
                        int(step.size()));
    };
    feed({{5, 1, 2, 3, 1}, {6, 2, 4, 1, 2}, {7, 3, 1, 5, 1}});
    feed({{2, 3, 3, 2, 2}, {8, 1, 1, 4, 1}, {9, 2, 4, 1, 2}});
    // Lane 0's draft ends: lane 2 moves into it; two lanes go on.
    lanes->copy_lane(2, 0);
    events[0] = events[2];
    events.pop_back();
    feed({{1, 2, 2, 2, 2}, {7, 3, 4, 5, 1}});
    EXPECT_EQ(lanes->length(), int(prompt.size()) + 3);
    // Back to the prompt: a new round starts where the first did.
    lanes->truncate(int(prompt.size()));
    events.assign(2, prompt);
    feed({{1, 1, 1, 1, 1}, {10, 3, 4, 5, 2}});
    const std::vector<int32_t> ones(4, 1);
    EXPECT_DEATH(
        lanes->append_lanes(4, ones.data(), ones.data(), ones.data(), ones.data(), ones.data()),
        "lanes fed must be between 1 and lanes");
    EXPECT_DEATH(lanes->copy_lane(0, 3), "no such lane");
  }
}

TEST(ModelBehaviour, DecoderRejectsOutOfVocabularyTokens) {
  Model model = make_model();
  auto decoder = model.make_decoder();
  EXPECT_THROW(decoder->append(tiny_vocab().items, 1, 1, 1, 1), UserError);
  EXPECT_THROW(decoder->append(1, -1, 1, 1, 1), UserError);
  EXPECT_EQ(decoder->length(), 0);
}

TEST(ModelBehaviour, SameSeedsGiveBitwiseIdenticalGradients) {
  ModelConfig config = tiny_config();
  config.dropout = 0.2f;
  Model model = make_model(config);
  const data::Batch batch = tiny_batch(tiny_vocab());
  const LossOptions loss = all_losses(batch, 5);
  zero_grads(model);
  const LossSums a = model.forward_backward(batch, loss, 77);
  const std::vector<float> first = model.grads();
  zero_grads(model);
  const LossSums b = model.forward_backward(batch, loss, 77);
  EXPECT_EQ(std::memcmp(first.data(), model.grads().data(), first.size() * sizeof(float)), 0);
  EXPECT_EQ(a.item, b.item);
  EXPECT_EQ(a.action, b.action);

  // Another dropout seed or another negative seed changes the result.
  zero_grads(model);
  const LossSums c = model.forward_backward(batch, loss, 78);
  EXPECT_NE(a.item, c.item);
  LossOptions other_negatives = loss;
  testing::use_sampled_loss(other_negatives, 5, loss.negative_seed + 1);
  zero_grads(model);
  const LossSums d = model.forward_backward(batch, other_negatives, 77);
  EXPECT_NE(a.item, d.item);
  EXPECT_EQ(a.action, d.action);
}

// Dropout masks and negatives belong to (sequence id, position), so one batch of four
// sequences trains exactly like two micro-batches of two (up to float summation order).
TEST(ModelBehaviour, MicroBatchCutDoesNotChangeTheStep) {
  ModelConfig config = tiny_config();
  config.dropout = 0.3f;
  Model model = make_model(config);
  const data::VocabSizes v = tiny_vocab();
  data::Batch whole = ragged_batch(v, 5, {5, 2, 4, 3}, {1.f, 0.f, 0.f, 1.f}, 17);
  whole.sequence_index = {40, 41, 42, 43};
  auto half = [&whole](int first) {
    data::Batch h = empty_batch(2, whole.T);
    for (int b = 0; b < 2; ++b) {
      const int src = first + b;
      for (int t = 0; t < whole.T; ++t) {
        const size_t from = size_t(src) * whole.T + t, to = size_t(b) * whole.T + t;
        h.item[to] = whole.item[from];
        h.action[to] = whole.action[from];
        h.category[to] = whole.category[from];
        h.time_gap[to] = whole.time_gap[from];
        h.activity[to] = whole.activity[from];
        h.target_item[to] = whole.target_item[from];
        h.target_action[to] = whole.target_action[from];
      }
      h.length[b] = whole.length[src];
      h.label[b] = whole.label[src];
      h.sequence_index[b] = whole.sequence_index[src];
    }
    return h;
  };
  const LossOptions loss = all_losses(whole, 3);  // global scales, sampled negatives
  zero_grads(model);
  const LossSums all = model.forward_backward(whole, loss, 5);
  const std::vector<float> expected = model.grads();
  zero_grads(model);
  const LossSums first = model.forward_backward(half(0), loss, 5);
  const LossSums second = model.forward_backward(half(2), loss, 5);
  EXPECT_NEAR(first.item + second.item, all.item, 1e-5 * all.item);
  EXPECT_NEAR(first.action + second.action, all.action, 1e-5 * all.action);
  EXPECT_NEAR(first.propensity + second.propensity, all.propensity, 1e-5 * all.propensity);
  EXPECT_EQ(first.item_count + second.item_count, all.item_count);
  float largest = 0;
  for (float g : expected) largest = std::max(largest, std::abs(g));
  for (size_t i = 0; i < expected.size(); ++i)
    ASSERT_NEAR(model.grads()[i], expected[i], 1e-5f * largest) << i;
}

TEST(ModelBehaviour, ChangingBatchShapesReusesTheArenaCorrectly) {
  Model model = make_model();
  const data::VocabSizes v = tiny_vocab();
  const data::Batch small = tiny_batch(v);
  const data::Batch other = ragged_batch(v, 6, {6, 2, 5, 6, 1}, {1, 0, 1, 0, 1}, 2);
  const LossOptions loss = all_losses(small);
  const LossSums before = model.evaluate_loss(small, loss);
  model.evaluate_loss(other, all_losses(other));
  const LossSums after = model.evaluate_loss(small, loss);
  Model fresh = make_model();
  const LossSums reference = fresh.evaluate_loss(small, loss);
  EXPECT_EQ(before.item, after.item);
  EXPECT_EQ(before.action, after.action);
  EXPECT_EQ(before.propensity, after.propensity);
  EXPECT_EQ(before.item, reference.item);
}

TEST(ModelBehaviour, ForwardBackwardAccumulatesIntoGrads) {
  Model model = make_model();
  const data::Batch batch = tiny_batch(tiny_vocab());
  const LossOptions loss = all_losses(batch);
  zero_grads(model);
  model.forward_backward(batch, loss, 0);
  const std::vector<float> once = model.grads();
  model.forward_backward(batch, loss, 0);
  // Not bitwise 2x: the second pass adds its pieces one by one onto the first pass's sums.
  float largest = 0;
  for (float g : once) largest = std::max(largest, std::abs(g));
  ASSERT_GT(largest, 0.f);
  for (size_t i = 0; i < once.size(); ++i)
    ASSERT_NEAR(model.grads()[i], 2.f * once[i], 1e-6f * largest) << i;
}

TEST(ModelBehaviour, EvaluateLossMatchesTrainingLossWithoutTouchingGrads) {
  Model model = make_model();  // dropout 0 in the tiny config
  const data::Batch batch = tiny_batch(tiny_vocab());
  const LossOptions loss = all_losses(batch);
  zero_grads(model);
  const LossSums trained = model.forward_backward(batch, loss, 0);
  const std::vector<float> grads = model.grads();
  const LossSums evaluated = model.evaluate_loss(batch, loss);
  EXPECT_EQ(trained.item, evaluated.item);
  EXPECT_EQ(trained.action, evaluated.action);
  EXPECT_EQ(trained.propensity, evaluated.propensity);
  EXPECT_EQ(trained.item_count, evaluated.item_count);
  EXPECT_EQ(grads, model.grads());
}

// With every parameter zero except LayerNorm gains, the hidden state is 0, so every logit is
// zero: item loss = log(V) per target, action loss = log(A), BCE = log(2) per label.
TEST(ModelBehaviour, UniformLogitsGiveLogVocabularyLosses) {
  Model model(tiny_config(), tiny_vocab());
  model.init_weights(1);
  for (const auto& t : model.tensors())
    if (t.is_matrix_weight) std::fill_n(model.params().begin() + t.offset, t.numel(), 0.f);
  const data::Batch batch = tiny_batch(tiny_vocab());
  const LossOptions loss = all_losses(batch);
  const LossSums s = model.evaluate_loss(batch, loss);
  EXPECT_EQ(s.item_count, 6);
  EXPECT_EQ(s.action_count, 6);
  EXPECT_EQ(s.propensity_count, 2);
  EXPECT_NEAR(s.item, 6 * std::log(11.0), 1e-4);
  EXPECT_NEAR(s.action, 6 * std::log(4.0), 1e-4);
  EXPECT_NEAR(s.propensity, 2 * std::log(2.0), 1e-5);
}

TEST(ModelBehaviour, LastHiddenIsTheHiddenStateOfTheLastEvent) {
  Model model = make_model();
  data::Batch batch = ragged_batch(tiny_vocab(), 5, {5, 1, 0, 3}, {-1, -1, -1, -1}, 9);
  std::vector<float> all, last;
  model.hidden_states(batch, all);
  model.last_hidden(batch, last);
  const int C = model.config().d_model;
  ASSERT_EQ(last.size(), size_t(4 * C));
  for (int b = 0; b < 4; ++b)
    for (int c = 0; c < C; ++c) {
      const float expected =
          batch.length[b] == 0 ? 0.f : all[(size_t(b) * 5 + batch.length[b] - 1) * C + c];
      EXPECT_EQ(last[size_t(b) * C + c], expected) << "row " << b;
    }
}

TEST(ModelBehaviour, ItemScoresAndPropensityMatchNaiveDotProducts) {
  for (bool tied : {true, false}) {
    ModelConfig config = tiny_config();
    config.tied_item_head = tied;
    Model model = make_model(config);
    const int C = config.d_model, V = tiny_vocab().items, B = 3;
    std::vector<float> hidden(size_t(B) * C);
    SplitMix64 rng(4);
    for (float& h : hidden) h = static_cast<float>(rng.normal());
    std::vector<float> scores(size_t(B) * V), logits(B);
    model.item_scores(hidden.data(), B, scores.data());
    model.propensity_logits(hidden.data(), B, logits.data());
    const float* E =
        model.params().data() + model.tensor(tied ? "item_emb.weight" : "item_head.weight").offset;
    const float* bias = model.params().data() + model.tensor("item_head.bias").offset;
    const float* pw = model.params().data() + model.tensor("propensity_head.weight").offset;
    const float pb = model.params()[model.tensor("propensity_head.bias").offset];
    for (int b = 0; b < B; ++b) {
      EXPECT_EQ(scores[size_t(b) * V], -std::numeric_limits<float>::infinity());
      for (int i = 1; i < V; ++i) {
        double dot = bias[i];
        for (int c = 0; c < C; ++c) dot += double(hidden[b * C + c]) * E[size_t(i) * C + c];
        EXPECT_NEAR(scores[size_t(b) * V + i], dot, 1e-5);
      }
      double p = pb;
      for (int c = 0; c < C; ++c) p += double(hidden[b * C + c]) * pw[c];
      EXPECT_NEAR(logits[b], p, 1e-5);
    }
  }
}

TEST(ModelBehaviour, PropensityLogitsNeedTheHead) {
  ModelConfig config = tiny_config();
  config.propensity_head = false;
  Model model(config, tiny_vocab());
  std::vector<float> hidden(config.d_model), out(1);
  EXPECT_THROW(model.propensity_logits(hidden.data(), 1, out.data()), UserError);
}

TEST(ModelBehaviour, BadBatchesAreUserErrors) {
  ModelConfig config = tiny_config();
  config.action_head = false;
  Model model(config, tiny_vocab());
  model.init_weights(1);
  LossOptions loss;
  loss.item_grad_scale = 1;

  data::Batch too_long = ragged_batch(tiny_vocab(), config.max_len + 1, {2}, {-1}, 1);
  EXPECT_THROW(model.evaluate_loss(too_long, loss), UserError);

  data::Batch bad_item = tiny_batch(tiny_vocab());
  bad_item.item[0] = tiny_vocab().items;
  try {
    model.evaluate_loss(bad_item, loss);
    FAIL() << "out-of-vocabulary item accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("item token 11"), std::string::npos) << e.what();
  }

  LossOptions action = loss;
  action.action_loss = true;
  EXPECT_THROW(model.evaluate_loss(tiny_batch(tiny_vocab()), action), UserError);
}

TEST(ModelBehaviour, BadConfigsAreUserErrors) {
  ModelConfig config = tiny_config();
  config.d_model = 9;  // not a multiple of n_head = 2
  EXPECT_THROW(Model(config, tiny_vocab()), UserError);
  data::VocabSizes no_items = tiny_vocab();
  no_items.items = 1;
  EXPECT_THROW(Model(tiny_config(), no_items), UserError);
}

TEST(ModelBehaviour, FlopsPerTokenFollowsTheDocumentedFormula) {
  const ModelConfig config = tiny_config();  // C=8, F=16, L=2, action head on
  Model model(config, tiny_vocab());
  const double C = 8, F = 16, T = 5, V = 11, A = 4;
  const double forward =
      2 * (2 * (4 * C * C + 2 * C * F) + 2 * 2 * C * (T + 1) / 2) + 2 * V * C + 2 * A * C;
  EXPECT_DOUBLE_EQ(model.flops_per_token(5), 3 * forward);
}

}  // namespace
}  // namespace cf::trainer
