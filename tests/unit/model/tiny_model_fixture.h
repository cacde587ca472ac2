// Tiny model configurations and hand-built ragged batches shared by the model tests.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "data/batch.h"
#include "data/corpus.h"
#include "trainer/model/model.h"
#include "trainer/model/model_random.h"

namespace cf::trainer::testing {

inline data::VocabSizes tiny_vocab() {
  data::VocabSizes v;
  v.items = 11;
  v.actions = 4;
  v.categories = 5;
  v.time_gaps = 6;
  v.activities = 3;
  return v;
}

// Feature tokens of the tiny item vocabulary: 5 features (+ padding); items with none, one and
// several features, some shared, so every path of the mean pooling is exercised.
inline std::shared_ptr<const data::ItemFeatures> tiny_item_features() {
  auto f = std::make_shared<data::ItemFeatures>();
  f->vocab_size = 6;
  const std::vector<std::vector<int32_t>> per_item = {
      {}, {1}, {1, 2}, {3}, {}, {2, 4, 5}, {5}, {1, 3}, {}, {4}, {2, 3, 4}};
  f->offsets.push_back(0);
  for (const auto& ids : per_item) {
    f->ids.insert(f->ids.end(), ids.begin(), ids.end());
    f->offsets.push_back(static_cast<int64_t>(f->ids.size()));
  }
  return f;
}
inline data::VocabSizes tiny_vocab_with_item_features() {
  data::VocabSizes v = tiny_vocab();
  v.item_features = tiny_item_features()->vocab_size;
  return v;
}

// 2 layers, 2 heads, d=8, d_ff=16, every head on, dropout off.
inline ModelConfig tiny_config() {
  ModelConfig c;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 8;
  c.d_ff = 16;
  c.max_len = 6;
  c.dropout = 0.f;
  c.tied_item_head = false;
  c.action_head = true;
  c.propensity_head = true;
  return c;
}

// Allocates a zero-filled (all-padding) batch without relying on Batch::resize.
inline data::Batch empty_batch(int B, int T) {
  data::Batch batch;
  batch.B = B;
  batch.T = T;
  const size_t n = size_t(B) * T;
  for (auto* channel : {&batch.item, &batch.action, &batch.category, &batch.time_gap,
                        &batch.activity, &batch.target_item, &batch.target_action})
    channel->assign(n, 0);
  batch.length.assign(B, 0);
  batch.label.assign(B, -1.f);
  batch.sequence_index.assign(B, 0);
  return batch;
}

// Ragged right-padded batch with random real events (ids >= 1), next-event targets at every
// position but the last, and the given per-row lengths and labels.
inline data::Batch ragged_batch(const data::VocabSizes& v, int T, const std::vector<int>& lengths,
                                const std::vector<float>& labels, uint64_t seed) {
  const int B = static_cast<int>(lengths.size());
  data::Batch batch = empty_batch(B, T);
  SplitMix64 rng(seed);
  auto draw = [&rng](int32_t vocab) { return static_cast<int32_t>(1 + rng.next() % (vocab - 1)); };
  for (int b = 0; b < B; ++b) {
    batch.length[b] = lengths[b];
    batch.label[b] = labels[b];
    for (int t = 0; t < lengths[b]; ++t) {
      const size_t n = size_t(b) * T + t;
      batch.item[n] = draw(v.items);
      batch.action[n] = draw(v.actions);
      batch.category[n] = draw(v.categories);
      batch.time_gap[n] = draw(v.time_gaps);
      batch.activity[n] = draw(v.activities);
    }
    for (int t = 0; t + 1 < lengths[b]; ++t) {
      const size_t n = size_t(b) * T + t;
      batch.target_item[n] = batch.item[n + 1];
      batch.target_action[n] = batch.action[n + 1];
    }
  }
  return batch;
}

// The gradient-check batch: B=3, T=5, lengths 5, 1, 3 (one row has a single event and so no
// next-item target, but still a propensity label).
inline data::Batch tiny_batch(const data::VocabSizes& v, uint64_t seed = 7) {
  return ragged_batch(v, 5, {5, 1, 3}, {1.f, 0.f, -1.f}, seed);
}

// Draws `negatives` shared negatives of the tiny vocabulary from `seed` into `o` (a sampled
// loss of kind `kind`, with `in_batch` more candidates from the batch's own targets).
inline void use_sampled_loss(LossOptions& o, int negatives, uint64_t seed,
                             ItemLoss kind = ItemLoss::kSampledSoftmax, int in_batch = 0) {
  o.item_kind = kind;
  o.negative_seed = seed;
  o.shared_negatives.clear();
  for (int k = 0; k < negatives; ++k)
    o.shared_negatives.push_back(uniform_item(seed, uint64_t(k), tiny_vocab().items));
  o.in_batch_negatives = in_batch;
}

// Every loss on, with global gradient scales; `sampled_negatives` > 0 makes the item loss a
// sampled softmax over that many shared negatives.
inline LossOptions all_losses(const data::Batch& batch, int sampled_negatives = 0) {
  LossOptions o;
  o.item_loss = true;
  o.action_loss = true;
  o.propensity_loss = true;
  o.negative_seed = 99;
  if (sampled_negatives > 0) use_sampled_loss(o, sampled_negatives, 99);
  int64_t items = 0, actions = 0, labels = 0;
  for (int32_t t : batch.target_item) items += t > 0;
  for (int32_t t : batch.target_action) actions += t > 0;
  for (int b = 0; b < batch.B; ++b) labels += batch.length[b] > 0 && batch.label[b] >= 0;
  o.item_grad_scale = 1.f / static_cast<float>(items);
  o.action_grad_scale = 1.f / static_cast<float>(actions);
  o.propensity_grad_scale = 1.f / static_cast<float>(labels);
  return o;
}

// The KV-cached decoder, fed one full-length sequence event by event, returns the hidden states
// the full forward computes for it (within float rounding).
inline void expect_decoder_matches_full_forward(Model& model, uint64_t seed) {
  const int T = model.config().max_len, C = model.config().d_model;
  const data::Batch batch = ragged_batch(tiny_vocab(), T, {T}, {-1.f}, seed);
  std::vector<float> full;
  model.hidden_states(batch, full);
  auto decoder = model.make_decoder();
  for (int t = 0; t < T; ++t) {
    const std::vector<float>& h = decoder->append(batch.item[t], batch.action[t],
                                                  batch.category[t], batch.time_gap[t],
                                                  batch.activity[t]);
    for (int i = 0; i < C; ++i)
      ASSERT_NEAR(h[i], full[size_t(t) * C + i], 1e-5) << "position " << t << " dim " << i;
  }
}

}  // namespace cf::trainer::testing
