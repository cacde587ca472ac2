// ModelLayout: where every named parameter tensor of the model lives in the flat buffer.
#pragma once
#include <cstdint>
#include <vector>

#include "data/batch.h"
#include "data/corpus.h"
#include "trainer/model/model_types.h"

namespace cf::trainer {

inline constexpr int64_t kAbsent = -1;  // offset of a tensor the configuration leaves out

struct LinearOffsets {
  int64_t weight = kAbsent, bias = kAbsent;
};
struct LayerNormOffsets {
  int64_t weight = kAbsent, bias = kAbsent;
};
// Which tensors a block has depends on config.block; the others stay kAbsent.
struct BlockOffsets {
  LayerNormOffsets ln1;       // every block: the pre-norm of its input (its first tensor)
  LinearOffsets qkv, proj;    // gpt, ligr: softmax attention
  LayerNormOffsets ln2;       // gpt, ligr: pre-norm of the FFN
  LinearOffsets fc1, fc2;     // gpt: GELU MLP
  // ligr: the sigmoid gates of the two residual branches (d_model x d_model, with bias), read
  // from the residual stream, and the bias-free SwiGLU FFN. swiglu_gate and swiglu_up are laid
  // out back to back ([d_ff, C] each), so one [2 d_ff, C] GEMM computes both.
  LinearOffsets attn_gate, mlp_gate;
  int64_t swiglu_gate = kAbsent, swiglu_up = kAbsent, swiglu_down = kAbsent;
  // hstu: f1 (-> U | V | Q | K, [4C, C]), the per-head relative position bias [n_head,
  // max_len] (entry [h, t - s]), the LayerNorm of the attention output and f2 ([C, C]).
  LinearOffsets uvqk;
  int64_t rel_pos_bias = kAbsent;
  LayerNormOffsets av_norm;
  LinearOffsets hstu_out;
};

// Offsets (in elements) of every tensor, plus the ParamTensor list the outside world sees.
// Tensors are packed back to back in this order: input embeddings, blocks, ln_f, heads.
struct ModelLayout {
  std::vector<ParamTensor> tensors;
  int64_t num_params = 0;

  int64_t item_emb = kAbsent, action_emb = kAbsent, category_emb = kAbsent;
  int64_t item_feature_emb = kAbsent;  // model.item_features: [feature tokens, C]
  int64_t time_gap_emb = kAbsent, activity_emb = kAbsent, pos_emb = kAbsent;
  std::vector<BlockOffsets> blocks;
  LayerNormOffsets ln_f;
  int64_t item_head_weight = kAbsent;  // == item_emb when the head is tied
  int64_t item_head_bias = kAbsent;
  LinearOffsets action_head, propensity_head;
};

// Validates the configuration against the vocabulary (UserError naming the bad key) and lays
// out the tensors. A channel is embedded when its use_* flag is on and its vocabulary is
// non-empty; row 0 (padding) of every table is an ordinary trainable row.
ModelLayout build_model_layout(const ModelConfig& config, const data::VocabSizes& vocab);

// Checks a batch against the model before any backend computes on it: shapes, lengths within
// [0, T], every token id inside its vocabulary, and the heads the losses need (UserError
// naming the problem). `loss` may be null (inference).
void validate_batch(const ModelConfig& config, const ModelLayout& layout,
                    const data::VocabSizes& vocab, const data::Batch& batch,
                    const LossOptions* loss);

}  // namespace cf::trainer
