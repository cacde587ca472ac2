// The model's value types: its architecture (ModelConfig), the named tensors of its flat
// parameter buffer (ParamTensor), and what one forward/backward computes (LossOptions, LossSums).
// Kept apart from model.h so configs, optimizers and checkpoints need not include the model.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cf::trainer {

// Most transformer blocks a config may ask for: far beyond any model this trainer can hold,
// low enough that laying out a model from a damaged config or checkpoint cannot run for hours.
inline constexpr int kMaxLayers = 1024;

// The transformer block every layer of the model uses (config key model.block; see README.md,
// "Blocks", for the equations). A checkpoint whose config lacks the key is a gpt model, the only
// block that existed before the key.
//  - kGpt: pre-LN block, softmax attention + GELU MLP (GPT-2).
//  - kLigr: LinkedIn's LiGR layer as eSASRec uses it: pre-LN attention and SwiGLU FFN whose
//    outputs pass a learned sigmoid gate before the residual add.
//  - kHstu: Meta's HSTU layer: pointwise (SiLU, no softmax) attention with a learned relative
//    position bias and a gating of its output by a fourth projection U; no separate FFN.
enum class BlockKind { kGpt, kLigr, kHstu };
inline constexpr BlockKind kBlockKinds[] = {BlockKind::kGpt, BlockKind::kLigr, BlockKind::kHstu};
// "gpt", "ligr", "hstu": the value of model.block.
const char* block_kind_name(BlockKind kind);

// Where an item's side information (its feature tokens in the corpus, data::ItemFeatures)
// enters the model (config key model.item_features): the mean of the item's feature
// embeddings is added to its input embedding, to its row of the output (next-item) table, or
// to both, so items that share attributes share part of their representation and rarely seen
// items borrow from common ones. A checkpoint without the key is kNone.
enum class ItemFeatureUse { kNone, kInput, kOutput, kBoth };
inline constexpr ItemFeatureUse kItemFeatureUses[] = {ItemFeatureUse::kNone, ItemFeatureUse::kInput,
                                                      ItemFeatureUse::kOutput, ItemFeatureUse::kBoth};
// "none", "input", "output", "both": the value of model.item_features.
const char* item_feature_use_name(ItemFeatureUse use);
inline bool features_on_input(ItemFeatureUse use) {
  return use == ItemFeatureUse::kInput || use == ItemFeatureUse::kBoth;
}
inline bool features_on_output(ItemFeatureUse use) {
  return use == ItemFeatureUse::kOutput || use == ItemFeatureUse::kBoth;
}

struct ModelConfig {
  BlockKind block = BlockKind::kGpt;
  int n_layer = 2;
  int n_head = 2;
  int d_model = 64;
  int d_ff = 256;  // inner width of the FFN: gpt's GELU MLP, ligr's SwiGLU; hstu has no FFN
  int max_len = 50;
  float dropout = 0.1f;
  bool tied_item_head = true;    // next-item logits use the item embedding table
  bool action_head = false;      // next-action head (pretraining auxiliary task)
  bool propensity_head = false;  // binary purchase head on the last position (fine-tuning)
  // Which input channels are embedded (item and position always are).
  bool use_action = true, use_category = true, use_time_gap = true, use_activity = true;
  ItemFeatureUse item_features = ItemFeatureUse::kNone;  // needs a corpus with item features
  // Add w * log(1 + co-occurrence score) to the next-item scores, w chosen on the validation
  // ranking (trainer/cooccurrence_prior.h). Scoring only: the network ignores it.
  bool cooccurrence_prior = false;
};

// One named tensor inside the flat parameter buffer.
struct ParamTensor {
  std::string name;    // e.g. "blocks.0.attn.qkv.weight" (safetensors key)
  int64_t offset = 0;  // in floats, into params()/grads()
  std::vector<int64_t> shape;
  bool is_matrix_weight = false;  // true for linear/embedding weights (weight-decay group)
  int block = -1;                 // transformer block index, -1 outside the blocks
  int64_t numel() const;
};

// How the next-item loss treats the catalogue: every item (full softmax), or the target
// against sampled candidates (sampled softmax, or gSASRec's generalised BCE).
enum class ItemLoss { kFullSoftmax, kSampledSoftmax, kGbce };

// Loss selection and weighting for one forward_backward call.
struct LossOptions {
  bool item_loss = true;  // next-item loss at every target position
  ItemLoss item_kind = ItemLoss::kFullSoftmax;
  // Sampled kinds: the step's negatives, drawn once per step by the trainer and shared by every
  // row of every micro-batch and rank (so the candidate logits are one GEMM, and any split of
  // the global batch sees the same candidates).
  std::vector<int32_t> shared_negatives;
  // Sampled kinds: this many more candidates drawn (with replacement, from negative_seed) among
  // the targets of the micro-batch itself: "in-batch" negatives, popular items more often.
  int in_batch_negatives = 0;
  // [V] log of each item's expected count among the candidates, subtracted from every logit
  // (logQ correction); null = none.
  std::shared_ptr<const std::vector<float>> item_log_q;
  double gbce_beta = 1.0;        // kGbce: weight of the positive term
  bool action_loss = false;      // next-action cross-entropy (needs action_head)
  bool propensity_loss = false;  // BCE of the propensity head at position length-1 vs label
  // Gradient scales: 1 / (global number of counted rows) of each loss over the whole global
  // batch, so micro-batches and ranks sum to the global mean.
  float item_grad_scale = 0.f, action_grad_scale = 0.f, propensity_grad_scale = 0.f;
  uint64_t negative_seed = 0;  // in-batch negatives are a pure function of this and the batch
  bool sampled() const { return item_kind != ItemLoss::kFullSoftmax; }
};

struct LossSums {  // sums (not means) so callers can reduce across micro-batches and ranks
  double item = 0, action = 0, propensity = 0;
  int64_t item_count = 0, action_count = 0, propensity_count = 0;
};

}  // namespace cf::trainer
