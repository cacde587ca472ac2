// gradient_support (trainer/model/gradient_support.h) against the model's real backward: after
// one forward_backward on a zeroed buffer every non-zero gradient element lies inside the
// support, for every block, head tying, item-feature use and item loss. DP-SGD takes a user's
// norm over the support alone, so an element written outside it would escape the clipping.
#include "trainer/model/gradient_support.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "tiny_model_fixture.h"
#include "trainer/model/model.h"

namespace cf::trainer {
namespace {

enum class LossKind { kFull, kSampledSoftmax, kGbceWithInBatch };

struct Case {
  BlockKind block;
  bool tied;
  ItemFeatureUse features;
  LossKind loss;
  std::string name() const {
    const char* losses[] = {"full", "sampled", "gbce+in-batch"};
    return std::string(block_kind_name(block)) + (tied ? " tied " : " untied ") +
           item_feature_use_name(features) + " " + losses[int(loss)];
  }
};

bool inside(const std::vector<GradientRange>& support, int64_t i) {
  for (const GradientRange& r : support)
    if (i >= r.begin && i < r.end) return true;
  return false;
}

void expect_support_covers_the_backward(const Case& c) {
  SCOPED_TRACE(c.name());
  ModelConfig config = testing::tiny_config();
  config.block = c.block;
  config.tied_item_head = c.tied;
  config.item_features = c.features;
  const bool features = c.features != ItemFeatureUse::kNone;
  const data::VocabSizes vocab =
      features ? testing::tiny_vocab_with_item_features() : testing::tiny_vocab();
  Model model(config, vocab, features ? testing::tiny_item_features() : nullptr);
  model.init_weights(3);
  // Two users of 3 and 2 events and an empty row: far fewer items than the catalogue's 11.
  const data::Batch batch = testing::ragged_batch(vocab, 6, {3, 0, 2}, {1.f, -1.f, 0.f}, 17);
  LossOptions loss = testing::all_losses(batch);
  if (c.loss == LossKind::kSampledSoftmax) testing::use_sampled_loss(loss, 2, 5);
  if (c.loss == LossKind::kGbceWithInBatch)
    testing::use_sampled_loss(loss, 2, 5, ItemLoss::kGbce, 3);

  std::fill(model.grads().begin(), model.grads().end(), 0.0f);
  model.forward_backward(batch, loss, 1);
  const std::vector<GradientRange> support = model.gradient_support(batch, loss);

  int64_t covered = 0, nonzero = 0;
  for (size_t r = 0; r < support.size(); ++r) {
    ASSERT_LT(support[r].begin, support[r].end);
    if (r > 0) {
      ASSERT_GT(support[r].begin, support[r - 1].end) << "ranges overlap or touch";
    }
    covered += support[r].end - support[r].begin;
  }
  ASSERT_LE(support.back().end, int64_t(model.grads().size()));
  for (int64_t i = 0; i < int64_t(model.grads().size()); ++i) {
    if (model.grads()[size_t(i)] == 0.0f) continue;
    ++nonzero;
    ASSERT_TRUE(inside(support, i)) << "gradient element " << i << " written outside the support";
  }
  EXPECT_GT(nonzero, 0);
  // A sampled loss without output features touches a few item rows, not the whole table.
  if (c.loss != LossKind::kFull && !features_on_output(c.features)) {
    EXPECT_LT(covered, int64_t(model.grads().size()));
  } else {
    EXPECT_GE(covered, nonzero);
  }
}

TEST(GradientSupport, CoversEveryElementTheBackwardWrites) {
  for (BlockKind block : kBlockKinds)
    for (bool tied : {true, false})
      for (ItemFeatureUse features : kItemFeatureUses)
        for (LossKind loss :
             {LossKind::kFull, LossKind::kSampledSoftmax, LossKind::kGbceWithInBatch})
          expect_support_covers_the_backward({block, tied, features, loss});
}

// The support of a sampled loss is the dense tensors plus the rows of the items seen, the
// targets and the candidates: with a tied head and one user it holds exactly those item rows.
TEST(GradientSupport, SampledLossTouchesOnlyTheRowsOfItsItemsAndCandidates) {
  ModelConfig config = testing::tiny_config();
  config.tied_item_head = true;
  config.action_head = config.propensity_head = false;
  config.use_action = config.use_category = config.use_time_gap = config.use_activity = false;
  const data::VocabSizes vocab = testing::tiny_vocab();
  Model model(config, vocab);
  data::Batch batch = testing::empty_batch(1, 4);
  batch.length[0] = 3;
  batch.item = {2, 5, 5, 0};
  batch.target_item = {5, 5, 0, 0};
  LossOptions loss;
  loss.item_kind = ItemLoss::kSampledSoftmax;
  loss.shared_negatives = {9, 2};
  const std::vector<GradientRange> support = model.gradient_support(batch, loss);
  const ParamTensor& items = model.tensor("item_emb.weight");
  const ParamTensor& bias = model.tensor("item_head.bias");
  const int64_t C = config.d_model;
  std::vector<int64_t> item_rows, bias_rows;
  int64_t dense = 0;
  for (const GradientRange& r : support) {
    if (r.begin >= items.offset && r.end <= items.offset + items.numel()) {
      for (int64_t i = r.begin; i < r.end; i += C) item_rows.push_back((i - items.offset) / C);
    } else if (r.begin >= bias.offset && r.end <= bias.offset + bias.numel()) {
      for (int64_t i = r.begin; i < r.end; ++i) bias_rows.push_back(i - bias.offset);
    } else {
      dense += r.end - r.begin;
    }
  }
  EXPECT_EQ(item_rows, (std::vector<int64_t>{2, 5, 9}));
  EXPECT_EQ(bias_rows, (std::vector<int64_t>{2, 5, 9}));
  EXPECT_EQ(dense, int64_t(model.params().size()) - items.numel() - bias.numel());
}

// The model keeps the part of the support its shared candidates give between calls: calls in
// a row with other batches, other candidates or another loss kind each equal a fresh support.
TEST(GradientSupport, ReusedSupportFollowsTheLossAndTheBatch) {
  const ModelConfig config = testing::tiny_config();
  const data::VocabSizes vocab = testing::tiny_vocab();
  Model model(config, vocab);
  const data::Batch first = testing::ragged_batch(vocab, 6, {2}, {-1.f}, 3);
  const data::Batch second = testing::ragged_batch(vocab, 6, {3}, {-1.f}, 4);
  LossOptions a, b, full;
  testing::use_sampled_loss(a, 2, 5);
  testing::use_sampled_loss(b, 2, 6);
  ASSERT_NE(a.shared_negatives, b.shared_negatives);
  auto same = [](const std::vector<GradientRange>& x, const std::vector<GradientRange>& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (x[i].begin != y[i].begin || x[i].end != y[i].end) return false;
    return true;
  };
  for (const auto& [batch, loss] :
       {std::pair{&first, &a}, std::pair{&second, &a}, std::pair{&second, &b},
        std::pair{&first, &full}, std::pair{&first, &a}}) {
    const std::vector<GradientRange> reused = model.gradient_support(*batch, *loss);
    Model fresh(config, vocab);
    EXPECT_TRUE(same(reused, fresh.gradient_support(*batch, *loss)));
  }
}

}  // namespace
}  // namespace cf::trainer
