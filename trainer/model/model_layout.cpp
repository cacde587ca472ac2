#include "trainer/model/model_layout.h"

#include <string>

#include "core/error.h"

namespace cf::trainer {

int64_t ParamTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

class LayoutBuilder {
 public:
  explicit LayoutBuilder(ModelLayout& layout) : layout_(layout) {}

  int64_t add(std::string name, std::vector<int64_t> shape, bool is_matrix_weight, int block = -1) {
    ParamTensor t;
    t.name = std::move(name);
    t.offset = layout_.num_params;
    t.shape = std::move(shape);
    t.is_matrix_weight = is_matrix_weight;
    t.block = block;
    // Sizes come from configs and checkpoint manifests: an overflow must be an error, not a
    // wrapped (undefined) count that later sizes a buffer.
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      if (__builtin_mul_overflow(numel, d, &numel)) too_large(t.name);
    }
    if (__builtin_add_overflow(layout_.num_params, numel, &layout_.num_params)) too_large(t.name);
    layout_.tensors.push_back(std::move(t));
    return layout_.tensors.back().offset;
  }
  LinearOffsets linear(const std::string& prefix, int64_t out, int64_t in, int block = -1) {
    LinearOffsets o;
    o.weight = add(prefix + ".weight", {out, in}, true, block);
    o.bias = add(prefix + ".bias", {out}, false, block);
    return o;
  }
  int64_t weight_only(const std::string& prefix, int64_t out, int64_t in, int block) {
    return add(prefix + ".weight", {out, in}, true, block);
  }
  LayerNormOffsets layer_norm(const std::string& prefix, int64_t width, int block = -1) {
    LayerNormOffsets o;
    o.weight = add(prefix + ".weight", {width}, false, block);
    o.bias = add(prefix + ".bias", {width}, false, block);
    return o;
  }

 private:
  [[noreturn]] static void too_large(const std::string& tensor) {
    throw UserError("model config: the parameter count overflows 64 bits at tensor " + tensor +
                    " (model.d_model, model.d_ff or a vocabulary far too large)");
  }

  ModelLayout& layout_;
};

void require(bool ok, const std::string& message) {
  if (!ok) throw UserError("model config: " + message);
}

}  // namespace

const char* item_feature_use_name(ItemFeatureUse use) {
  switch (use) {
    case ItemFeatureUse::kNone:
      return "none";
    case ItemFeatureUse::kInput:
      return "input";
    case ItemFeatureUse::kOutput:
      return "output";
    case ItemFeatureUse::kBoth:
      return "both";
  }
  return "?";
}

const char* block_kind_name(BlockKind kind) {
  switch (kind) {
    case BlockKind::kGpt:
      return "gpt";
    case BlockKind::kLigr:
      return "ligr";
    case BlockKind::kHstu:
      return "hstu";
  }
  return "?";
}

ModelLayout build_model_layout(const ModelConfig& c, const data::VocabSizes& vocab) {
  require(c.n_layer >= 1 && c.n_layer <= kMaxLayers, "model.n_layer must be in [1, " +
                                                         std::to_string(kMaxLayers) + "] (got " +
                                                         std::to_string(c.n_layer) + ")");
  require(c.n_head >= 1, "model.n_head must be >= 1 (got " + std::to_string(c.n_head) + ")");
  require(c.d_model >= 1 && c.d_model % c.n_head == 0,
          "model.d_model (" + std::to_string(c.d_model) + ") must be a positive multiple of " +
              "model.n_head (" + std::to_string(c.n_head) + ")");
  require(c.d_ff >= 1, "model.d_ff must be >= 1 (got " + std::to_string(c.d_ff) + ")");
  require(c.max_len >= 1, "model.max_len must be >= 1 (got " + std::to_string(c.max_len) + ")");
  require(c.dropout >= 0.f && c.dropout < 1.f,
          "model.dropout must be in [0, 1) (got " + std::to_string(c.dropout) + ")");
  require(vocab.items >= 2, "the item vocabulary needs padding plus at least one item (has " +
                                std::to_string(vocab.items) + " entries)");
  require(!c.action_head || vocab.actions >= 1,
          "model.action_head needs an action vocabulary, but the corpus has none");

  ModelLayout layout;
  LayoutBuilder b(layout);
  const int64_t C = c.d_model;
  layout.item_emb = b.add("item_emb.weight", {vocab.items, C}, true);
  if (c.item_features != ItemFeatureUse::kNone) {
    require(vocab.item_features >= 2,
            std::string("model.item_features is '") + item_feature_use_name(c.item_features) +
                "' but the corpus has no item features (prep a source with categories, brands "
                "or an item_attributes file, or set model.item_features: none)");
    // Right after the item table: both are embeddings (same weight-decay rule, same freeze).
    layout.item_feature_emb = b.add("item_feature_emb.weight", {vocab.item_features, C}, true);
  }
  if (c.use_action && vocab.actions > 0)
    layout.action_emb = b.add("action_emb.weight", {vocab.actions, C}, true);
  if (c.use_category && vocab.categories > 0)
    layout.category_emb = b.add("category_emb.weight", {vocab.categories, C}, true);
  if (c.use_time_gap && vocab.time_gaps > 0)
    layout.time_gap_emb = b.add("time_gap_emb.weight", {vocab.time_gaps, C}, true);
  if (c.use_activity && vocab.activities > 0)
    layout.activity_emb = b.add("activity_emb.weight", {vocab.activities, C}, true);
  layout.pos_emb = b.add("pos_emb.weight", {c.max_len, C}, true);

  for (int i = 0; i < c.n_layer; ++i) {
    const std::string p = "blocks." + std::to_string(i);
    BlockOffsets o;
    // ln1 comes first in every kind: backward reports a block's gradients final from there.
    o.ln1 = b.layer_norm(p + ".ln1", C, i);
    switch (c.block) {
      case BlockKind::kGpt:  // the order of the original layout: checkpoints depend on it
        o.qkv = b.linear(p + ".attn.qkv", 3 * C, C, i);
        o.proj = b.linear(p + ".attn.proj", C, C, i);
        o.ln2 = b.layer_norm(p + ".ln2", C, i);
        o.fc1 = b.linear(p + ".mlp.fc1", c.d_ff, C, i);
        o.fc2 = b.linear(p + ".mlp.fc2", C, c.d_ff, i);
        break;
      case BlockKind::kLigr:
        o.qkv = b.linear(p + ".attn.qkv", 3 * C, C, i);
        o.proj = b.linear(p + ".attn.proj", C, C, i);
        o.attn_gate = b.linear(p + ".attn_gate", C, C, i);
        o.ln2 = b.layer_norm(p + ".ln2", C, i);
        o.swiglu_gate = b.weight_only(p + ".mlp.w_gate", c.d_ff, C, i);
        o.swiglu_up = b.weight_only(p + ".mlp.w_up", c.d_ff, C, i);  // right after w_gate
        o.swiglu_down = b.weight_only(p + ".mlp.w_down", C, c.d_ff, i);
        o.mlp_gate = b.linear(p + ".mlp_gate", C, C, i);
        break;
      case BlockKind::kHstu:
        o.uvqk = b.linear(p + ".hstu.uvqk", 4 * C, C, i);
        // Named *.bias: no weight decay, zero at init (no position preference to start with).
        o.rel_pos_bias = b.add(p + ".hstu.rel_pos.bias", {c.n_head, c.max_len}, false, i);
        o.av_norm = b.layer_norm(p + ".hstu.av_norm", C, i);
        o.hstu_out = b.linear(p + ".hstu.out", C, C, i);
        break;
    }
    layout.blocks.push_back(o);
  }
  layout.ln_f = b.layer_norm("ln_f", C);

  layout.item_head_bias = b.add("item_head.bias", {vocab.items}, false);
  layout.item_head_weight =
      c.tied_item_head ? layout.item_emb : b.add("item_head.weight", {vocab.items, C}, true);
  if (c.action_head) layout.action_head = b.linear("action_head", vocab.actions, C);
  if (c.propensity_head) layout.propensity_head = b.linear("propensity_head", 1, C);
  return layout;
}

namespace {

void check_ids(const std::vector<int32_t>& ids, int64_t n, int32_t vocab, const char* channel) {
  if (static_cast<int64_t>(ids.size()) != n)
    throw UserError(std::string("batch: channel '") + channel + "' has " +
                    std::to_string(ids.size()) + " entries, expected B*T = " + std::to_string(n));
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab)
      throw UserError(std::string("batch: ") + channel + " token " + std::to_string(id) +
                      " is outside the model's vocabulary of " + std::to_string(vocab) +
                      " (corpus and model do not match)");
  }
}

}  // namespace

void validate_batch(const ModelConfig& config, const ModelLayout& layout,
                    const data::VocabSizes& vocab, const data::Batch& batch,
                    const LossOptions* loss) {
  if (batch.B <= 0 || batch.T <= 0)
    throw UserError("batch: empty batch (B=" + std::to_string(batch.B) +
                    ", T=" + std::to_string(batch.T) + ")");
  if (batch.T > config.max_len)
    throw UserError("batch: sequence length " + std::to_string(batch.T) +
                    " exceeds model.max_len " + std::to_string(config.max_len));
  const int64_t N = int64_t(batch.B) * batch.T;
  if (static_cast<int64_t>(batch.length.size()) != batch.B)
    throw UserError("batch: length has " + std::to_string(batch.length.size()) +
                    " entries, expected B = " + std::to_string(batch.B));
  for (int32_t len : batch.length)
    if (len < 0 || len > batch.T)
      throw UserError("batch: sequence length " + std::to_string(len) + " outside [0, " +
                      std::to_string(batch.T) + "]");
  check_ids(batch.item, N, vocab.items, "item");
  if (layout.action_emb != kAbsent) check_ids(batch.action, N, vocab.actions, "action");
  if (layout.category_emb != kAbsent) check_ids(batch.category, N, vocab.categories, "category");
  if (layout.time_gap_emb != kAbsent) check_ids(batch.time_gap, N, vocab.time_gaps, "time_gap");
  if (layout.activity_emb != kAbsent) check_ids(batch.activity, N, vocab.activities, "activity");
  if (!loss) return;
  if (loss->item_loss) {
    check_ids(batch.target_item, N, vocab.items, "target_item");
    if (loss->sampled()) {
      for (int32_t id : loss->shared_negatives)
        if (id <= 0 || id >= vocab.items)
          throw UserError("loss: sampled negative " + std::to_string(id) +
                          " outside the item vocabulary [1, " + std::to_string(vocab.items) + ")");
      if (loss->in_batch_negatives < 0)
        throw UserError("loss: in_batch_negatives must be >= 0 (got " +
                        std::to_string(loss->in_batch_negatives) + ")");
      if (loss->shared_negatives.empty() && loss->in_batch_negatives == 0)
        throw UserError("loss: a sampled item loss needs negatives");
      if (loss->item_log_q && int64_t(loss->item_log_q->size()) != vocab.items)
        throw UserError("loss: item_log_q has " + std::to_string(loss->item_log_q->size()) +
                        " entries for " + std::to_string(vocab.items) + " items");
    }
  }
  if (loss->action_loss) {
    if (layout.action_head.weight == kAbsent)
      throw UserError("loss: the next-action loss needs model.action_head: true");
    check_ids(batch.target_action, N, vocab.actions, "target_action");
  }
  if (loss->propensity_loss) {
    if (layout.propensity_head.weight == kAbsent)
      throw UserError("loss: the propensity loss needs model.propensity_head: true");
    if (static_cast<int64_t>(batch.label.size()) != batch.B)
      throw UserError("batch: label has " + std::to_string(batch.label.size()) +
                      " entries, expected B = " + std::to_string(batch.B));
  }
}

}  // namespace cf::trainer
