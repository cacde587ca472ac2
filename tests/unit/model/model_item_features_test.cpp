// model.item_features against a straightforward reference: a model with features on the input
// (output) side must compute exactly what a model without features computes when each row of
// its item table (head table) is replaced by the row plus the mean of the item's feature
// embeddings. Also the decoder path, and the errors for a corpus without features.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "tiny_model_fixture.h"
#include "trainer/model/model.h"

namespace cf::trainer {
namespace {

using testing::ragged_batch;
using testing::tiny_config;
using testing::tiny_item_features;
using testing::tiny_vocab;
using testing::tiny_vocab_with_item_features;

ModelConfig config_with(ItemFeatureUse use) {
  ModelConfig c = tiny_config();
  c.tied_item_head = false;
  c.item_features = use;
  return c;
}

// Random weights of order one, so every feature moves the result.
void randomize(Model& model, uint64_t seed) {
  model.init_weights(seed);
  SplitMix64 rng(seed);
  for (float& w : model.params()) w += static_cast<float>(0.3 * rng.normal());
}

// `table` rows += mean of the feature rows of each item, computed here by hand.
void add_mean_features(float* table, const float* features, int C) {
  const auto f = tiny_item_features();
  for (int v = 0; v + 1 < static_cast<int>(f->offsets.size()); ++v) {
    const int64_t begin = f->offsets[v], end = f->offsets[v + 1];
    for (int64_t k = begin; k < end; ++k)
      for (int c = 0; c < C; ++c)
        table[int64_t(v) * C + c] += features[int64_t(f->ids[k]) * C + c] / float(end - begin);
  }
}

// A feature-less model holding the same weights as `with_features`, with the item (input) or
// head (output) table augmented by hand.
Model reference_for(const Model& with_features, ItemFeatureUse use) {
  Model reference(config_with(ItemFeatureUse::kNone), tiny_vocab());
  for (const ParamTensor& t : reference.tensors()) {
    const ParamTensor& source = with_features.tensor(t.name);
    std::copy_n(with_features.params().begin() + source.offset, t.numel(),
                reference.params().begin() + t.offset);
  }
  const float* features =
      with_features.params().data() + with_features.tensor("item_feature_emb.weight").offset;
  const int C = reference.config().d_model;
  float* params = reference.params().data();
  if (features_on_input(use))
    add_mean_features(params + reference.tensor("item_emb.weight").offset, features, C);
  if (features_on_output(use))
    add_mean_features(params + reference.tensor("item_head.weight").offset, features, C);
  return reference;
}

void expect_same_outputs(ItemFeatureUse use) {
  Model model(config_with(use), tiny_vocab_with_item_features(), tiny_item_features());
  randomize(model, 17);
  Model reference = reference_for(model, use);
  const data::Batch batch = ragged_batch(tiny_vocab(), 6, {6, 2, 4}, {-1.f, -1.f, -1.f}, 5);

  std::vector<float> hidden, expected_hidden;
  model.last_hidden(batch, hidden);
  reference.last_hidden(batch, expected_hidden);
  ASSERT_EQ(hidden.size(), expected_hidden.size());
  for (size_t i = 0; i < hidden.size(); ++i) ASSERT_NEAR(hidden[i], expected_hidden[i], 1e-5);

  const int V = tiny_vocab().items;
  std::vector<float> scores(size_t(batch.B) * V), expected_scores(size_t(batch.B) * V);
  model.item_scores(hidden.data(), batch.B, scores.data());
  reference.item_scores(hidden.data(), batch.B, expected_scores.data());
  double largest_change = 0;  // the features must matter, or the comparison proves nothing
  Model plain = reference_for(model, ItemFeatureUse::kNone);
  std::vector<float> plain_scores(size_t(batch.B) * V);
  plain.item_scores(hidden.data(), batch.B, plain_scores.data());
  for (size_t i = 0; i < scores.size(); ++i) {
    if (std::isinf(expected_scores[i])) {
      EXPECT_TRUE(std::isinf(scores[i]));  // the padding column
      continue;
    }
    ASSERT_NEAR(scores[i], expected_scores[i], 1e-5) << "score " << i;
    largest_change = std::max(largest_change, double(std::abs(scores[i] - plain_scores[i])));
  }
  if (features_on_output(use)) {
    EXPECT_GT(largest_change, 1e-2);
  }

  // The training path sees the same model: its loss matches the reference's.
  LossOptions loss = testing::all_losses(batch);
  loss.action_loss = loss.propensity_loss = false;
  EXPECT_NEAR(model.evaluate_loss(batch, loss).item, reference.evaluate_loss(batch, loss).item,
              1e-4);
}

TEST(ItemFeatures, InputSideEqualsItemTablePlusMeanFeatureEmbedding) {
  expect_same_outputs(ItemFeatureUse::kInput);
}

TEST(ItemFeatures, OutputSideEqualsHeadTablePlusMeanFeatureEmbedding) {
  expect_same_outputs(ItemFeatureUse::kOutput);
}

TEST(ItemFeatures, BothSidesEqualBothTablesAugmented) { expect_same_outputs(ItemFeatureUse::kBoth); }

TEST(ItemFeatures, InputFeaturesChangeTheHiddenStates) {
  Model model(config_with(ItemFeatureUse::kInput), tiny_vocab_with_item_features(),
              tiny_item_features());
  randomize(model, 3);
  Model plain = reference_for(model, ItemFeatureUse::kNone);
  const data::Batch batch = ragged_batch(tiny_vocab(), 6, {6}, {-1.f}, 9);
  std::vector<float> a, b;
  model.last_hidden(batch, a);
  plain.last_hidden(batch, b);
  double difference = 0;
  for (size_t i = 0; i < a.size(); ++i) difference += std::abs(a[i] - b[i]);
  EXPECT_GT(difference, 1e-2);
}

TEST(ItemFeatures, DecoderMatchesFullForward) {
  Model model(config_with(ItemFeatureUse::kBoth), tiny_vocab_with_item_features(),
              tiny_item_features());
  randomize(model, 23);
  testing::expect_decoder_matches_full_forward(model, 4);
}

TEST(ItemFeatures, FeatureTableIsAnEmbeddingRightAfterTheItemTable) {
  Model model(config_with(ItemFeatureUse::kInput), tiny_vocab_with_item_features(),
              tiny_item_features());
  EXPECT_EQ(model.tensors()[1].name, "item_feature_emb.weight");
  EXPECT_EQ(model.tensors()[1].shape, (std::vector<int64_t>{6, tiny_config().d_model}));
  EXPECT_TRUE(model.tensors()[1].is_matrix_weight);
  // Without features the layout is the one checkpoints from before the option hold.
  Model plain(config_with(ItemFeatureUse::kNone), tiny_vocab_with_item_features());
  for (const ParamTensor& t : plain.tensors()) EXPECT_NE(t.name, "item_feature_emb.weight");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(ItemFeatures, CorpusWithoutFeaturesIsAClearError) {
  const std::string message =
      error_of([] { Model model(config_with(ItemFeatureUse::kBoth), tiny_vocab()); });
  EXPECT_NE(message.find("model.item_features is 'both' but the corpus has no item features"),
            std::string::npos)
      << message;
}

TEST(ItemFeatures, MissingOrMismatchedFeatureTableIsAnError) {
  EXPECT_NE(error_of([] {
              Model model(config_with(ItemFeatureUse::kInput), tiny_vocab_with_item_features());
            }).find("needs the item features"),
            std::string::npos);
  data::VocabSizes other = tiny_vocab_with_item_features();
  other.item_features = 9;
  EXPECT_NE(error_of([&] {
              Model model(config_with(ItemFeatureUse::kInput), other, tiny_item_features());
            }).find("needs the item features"),
            std::string::npos);
}

}  // namespace
}  // namespace cf::trainer
