// Parameter layout and initialisation: names, shapes, packing, optional tensors, init statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "core/error.h"
#include "tiny_model_fixture.h"
#include "trainer/model/model.h"
#include "trainer/model/model_layout.h"

namespace cf::trainer {
namespace {

using testing::tiny_config;
using testing::tiny_vocab;

std::vector<std::string> names(const Model& model) {
  std::vector<std::string> out;
  for (const auto& t : model.tensors()) out.push_back(t.name);
  return out;
}

TEST(ModelParameters, NamesShapesAndPackingOfTheFullModel) {
  const ModelConfig c = tiny_config();  // untied, action + propensity heads
  Model model(c, tiny_vocab());
  std::vector<std::string> expected = {"item_emb.weight",     "action_emb.weight",
                                       "category_emb.weight", "time_gap_emb.weight",
                                       "activity_emb.weight", "pos_emb.weight"};
  for (int i = 0; i < 2; ++i)
    for (const char* p : {"ln1.weight", "ln1.bias", "attn.qkv.weight", "attn.qkv.bias",
                          "attn.proj.weight", "attn.proj.bias", "ln2.weight", "ln2.bias",
                          "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"})
      expected.push_back("blocks." + std::to_string(i) + "." + p);
  for (const char* p :
       {"ln_f.weight", "ln_f.bias", "item_head.bias", "item_head.weight", "action_head.weight",
        "action_head.bias", "propensity_head.weight", "propensity_head.bias"})
    expected.push_back(p);
  EXPECT_EQ(names(model), expected);

  int64_t next = 0;
  for (const auto& t : model.tensors()) {
    EXPECT_EQ(t.offset, next) << t.name;
    next += t.numel();
    const bool in_block = t.name.starts_with("blocks.");
    EXPECT_EQ(t.block, in_block ? t.name[7] - '0' : -1) << t.name;
    const bool matrix = t.name.ends_with(".weight") && !t.name.starts_with("ln_f") &&
                        t.name.find(".ln") == std::string::npos;
    EXPECT_EQ(t.is_matrix_weight, matrix) << t.name;
    EXPECT_EQ(t.shape.size(), matrix ? 2u : 1u) << t.name;
  }
  EXPECT_EQ(next, static_cast<int64_t>(model.params().size()));
  EXPECT_EQ(model.grads().size(), model.params().size());

  const int64_t C = c.d_model, F = c.d_ff;
  EXPECT_EQ(model.tensor("item_emb.weight").shape, (std::vector<int64_t>{11, C}));
  EXPECT_EQ(model.tensor("pos_emb.weight").shape, (std::vector<int64_t>{c.max_len, C}));
  EXPECT_EQ(model.tensor("blocks.1.attn.qkv.weight").shape, (std::vector<int64_t>{3 * C, C}));
  EXPECT_EQ(model.tensor("blocks.0.mlp.fc1.weight").shape, (std::vector<int64_t>{F, C}));
  EXPECT_EQ(model.tensor("blocks.0.mlp.fc2.weight").shape, (std::vector<int64_t>{C, F}));
  EXPECT_EQ(model.tensor("action_head.weight").shape, (std::vector<int64_t>{4, C}));
  EXPECT_EQ(model.tensor("propensity_head.weight").shape, (std::vector<int64_t>{1, C}));
  EXPECT_EQ(model.tensor("item_head.bias").shape, (std::vector<int64_t>{11}));
  EXPECT_THROW(model.tensor("no.such.tensor"), UserError);
}

TEST(ModelParameters, TiedHeadSharesTheItemTable) {
  ModelConfig tied = tiny_config(), untied = tiny_config();
  tied.tied_item_head = true;
  untied.tied_item_head = false;
  Model a(tied, tiny_vocab()), b(untied, tiny_vocab());
  EXPECT_EQ(b.params().size() - a.params().size(), size_t(tiny_vocab().items) * tied.d_model);
  const auto tied_names = names(a);
  EXPECT_EQ(std::count(tied_names.begin(), tied_names.end(), "item_head.weight"), 0);
  EXPECT_EQ(std::count(tied_names.begin(), tied_names.end(), "item_head.bias"), 1);
}

TEST(ModelParameters, DisabledChannelsAndHeadsAreAbsent) {
  ModelConfig c = tiny_config();
  c.use_category = false;
  c.use_time_gap = false;
  c.action_head = false;
  c.propensity_head = false;
  data::VocabSizes v = tiny_vocab();
  v.activities = 0;  // corpus without an activity channel
  Model model(c, v);
  const auto n = names(model);
  const std::set<std::string> present(n.begin(), n.end());
  for (const char* absent :
       {"category_emb.weight", "time_gap_emb.weight", "activity_emb.weight", "action_head.weight",
        "action_head.bias", "propensity_head.weight", "propensity_head.bias"})
    EXPECT_EQ(present.count(absent), 0u) << absent;
  EXPECT_EQ(present.count("action_emb.weight"), 1u);
  EXPECT_THROW(model.tensor("category_emb.weight"), UserError);
}

// Reached through tests/fuzz/fuzz_checkpoint_manifest with hand-made inputs (regressions/
// fuzz_checkpoint_manifest/huge_d_model, two_billion_layers: a checkpoint's config_yaml): the
// layout's element counts overflowed int64 (undefined behaviour) and laying out two billion
// blocks ran past the fuzzer's timeout.
TEST(ModelParameters, OversizedLayoutsAreUserErrorsNotOverflows) {
  ModelConfig wide = tiny_config();
  wide.n_head = 1;
  wide.d_model = 2000000000;
  try {
    build_model_layout(wide, tiny_vocab());
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "model config: the parameter count overflows 64 bits at tensor "
              "blocks.0.attn.qkv.weight (model.d_model, model.d_ff or a vocabulary far too "
              "large)");
  }
  ModelConfig deep = tiny_config();
  deep.n_layer = kMaxLayers + 1;
  try {
    build_model_layout(deep, tiny_vocab());
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "model config: model.n_layer must be in [1, 1024] (got 1025)");
  }
  deep.n_layer = kMaxLayers;  // the cap itself is a valid size
  EXPECT_EQ(build_model_layout(deep, tiny_vocab()).blocks.size(), 1024u);
}

TEST(ModelParameters, InitialisationIsSeededAndFollowsGpt2) {
  ModelConfig c;
  c.n_layer = 4;
  c.d_model = 64;
  c.d_ff = 256;
  c.n_head = 4;
  data::VocabSizes v{500, 5, 20, 16, 0};
  Model a(c, v), b(c, v), other(c, v);
  a.init_weights(7);
  b.init_weights(7);
  other.init_weights(8);
  EXPECT_EQ(a.params(), b.params());
  EXPECT_NE(a.params(), other.params());

  auto stats = [&a](const std::string& name) {
    const ParamTensor& t = a.tensor(name);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double w = a.params()[t.offset + i];
      sum += w;
      sq += w * w;
    }
    const double mean = sum / t.numel();
    return std::make_pair(mean, std::sqrt(sq / t.numel() - mean * mean));
  };
  auto [item_mean, item_std] = stats("item_emb.weight");  // 32000 samples
  EXPECT_NEAR(item_mean, 0.0, 0.001);
  EXPECT_NEAR(item_std, 0.02, 0.0005);
  auto [fc2_mean, fc2_std] = stats("blocks.2.mlp.fc2.weight");
  EXPECT_NEAR(fc2_std, 0.02 / std::sqrt(8.0), 0.0003);
  EXPECT_NEAR(stats("blocks.0.attn.proj.weight").second, 0.02 / std::sqrt(8.0), 0.0005);
  EXPECT_NEAR(stats("blocks.0.mlp.fc1.weight").second, 0.02, 0.0005);
  for (const auto& t : a.tensors()) {
    if (t.is_matrix_weight) continue;
    const float expected = t.name.ends_with(".bias") ? 0.f : 1.f;
    for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(a.params()[t.offset + i], expected) << t.name;
  }

  // A tensor's values depend on its name and the seed only: adding a head leaves the rest as is.
  ModelConfig with_head = c;
  with_head.propensity_head = true;
  Model d(with_head, v);
  d.init_weights(7);
  const ParamTensor& t = a.tensor("blocks.3.mlp.fc1.weight");
  const ParamTensor& u = d.tensor("blocks.3.mlp.fc1.weight");
  for (int64_t i = 0; i < t.numel(); ++i)
    ASSERT_EQ(a.params()[t.offset + i], d.params()[u.offset + i]);
}

}  // namespace
}  // namespace cf::trainer
