#include "trainer/model/model_core.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "kernels/ops.h"
#include "trainer/model/model_random.h"

namespace cf::trainer {

namespace {

// Dropout sites: 0 = embedding sum, then (attention, MLP) residual branches of each block.
// The mask of one sequence at one site is a pure function of (step seed, site, sequence id),
// never of the other sequences in the micro-batch: a global batch then trains identically
// however it is cut into micro-batches and ranks, and a resumed run replays it exactly.
uint64_t dropout_site_seed(uint64_t dropout_seed, int site) {
  return derive_seed(dropout_seed, static_cast<uint64_t>(site));
}
int attention_site(int layer) { return 1 + 2 * layer; }
int mlp_site(int layer) { return 2 + 2 * layer; }

template <class T>
void zero(T* x, int64_t n) {
  ops::fill_zero(x, n);
}

}  // namespace

template <class T>
ModelCore<T>::ModelCore(const ModelConfig& config, const data::VocabSizes& vocab,
                        std::shared_ptr<const data::ItemFeatures> item_features)
    : config_(config), vocab_(vocab), layout_(build_model_layout(config, vocab)) {
  if (config_.item_features != ItemFeatureUse::kNone) {
    // The layout checked that the vocabulary has features; the table must be the one the
    // vocabulary describes, or a lookup would leave the embedding table.
    const data::ItemFeatures* f = item_features.get();
    if (f == nullptr || f->vocab_size != vocab.item_features ||
        static_cast<int64_t>(f->offsets.size()) != int64_t(vocab.items) + 1)
      throw UserError(
          "model: model.item_features needs the item features of the corpus it was laid out for");
    for (int32_t id : f->ids)
      CF_CHECK(id >= 1 && id < f->vocab_size, "item feature id outside the feature vocabulary");
    features_ = std::move(item_features);
  }
  params_.assign(static_cast<size_t>(layout_.num_params), T(0));
  grads_.assign(static_cast<size_t>(layout_.num_params), T(0));
}

template <class T>
template <class Visit>
void ModelCore<T>::for_each_item_feature(const int32_t* items, int n, Visit&& visit) const {
  const data::ItemFeatures& f = *features_;
  for (int r = 0; r < n; ++r) {
    const int32_t item = items ? items[r] : r;
    const int64_t begin = f.offsets[item], end = f.offsets[item + 1];
    if (begin == end) continue;
    const T weight = T(1) / T(end - begin);
    for (int64_t k = begin; k < end; ++k) visit(r, f.ids[k], weight);
  }
}

template <class T>
void ModelCore<T>::add_mean_item_features(T* rows, const int32_t* items, int n) const {
  const int C = config_.d_model;
  const T* table = param(layout_.item_feature_emb);
  for_each_item_feature(items, n, [&](int r, int32_t feature, T weight) {
    T* out = rows + int64_t(r) * C;
    const T* e = table + int64_t(feature) * C;
    for (int c = 0; c < C; ++c) out[c] += weight * e[c];
  });
}

template <class T>
void ModelCore<T>::add_input_item_features(T* rows, const int32_t* items, int n) const {
  if (features_on_input(config_.item_features)) add_mean_item_features(rows, items, n);
}

template <class T>
void ModelCore<T>::build_output_item_table(std::vector<T>& table) const {
  const T* head = param(layout_.item_head_weight);
  table.assign(head, head + int64_t(vocab_.items) * config_.d_model);
  add_mean_item_features(table.data(), nullptr, vocab_.items);
}

template <class T>
void ModelCore<T>::item_features_backward(const int32_t* items, const T* d_rows, int n) {
  const int C = config_.d_model;
  T* grad = g(layout_.item_feature_emb);
  for_each_item_feature(items, n, [&](int r, int32_t feature, T weight) {
    T* out = grad + int64_t(feature) * C;
    const T* d = d_rows + int64_t(r) * C;
    for (int c = 0; c < C; ++c) out[c] += weight * d[c];
  });
}

template <class T>
const ParamTensor& ModelCore<T>::tensor(const std::string& name) const {
  for (const auto& t : layout_.tensors)
    if (t.name == name) return t;
  throw UserError("model: no parameter tensor named '" + name + "'");
}

template <class T>
void ModelCore<T>::init_weights(uint64_t seed) {
  // GPT-2: residual-branch output projections are scaled down so the residual stream's
  // variance does not grow with depth.
  const double residual_scale = 1.0 / std::sqrt(2.0 * config_.n_layer);
  for (const auto& t : layout_.tensors) {
    T* w = p(t.offset);
    const int64_t n = t.numel();
    const bool is_bias = t.name.ends_with(".bias");
    const bool is_layer_norm = !t.is_matrix_weight && !is_bias;  // ln*.weight
    if (is_bias) {
      std::fill(w, w + n, T(0));
    } else if (is_layer_norm) {
      std::fill(w, w + n, T(1));
    } else {
      // (gpt: attn.proj, mlp.fc2; ligr: attn.proj, mlp.w_down; hstu: its f2, hstu.out.)
      const bool residual_projection =
          t.name.ends_with(".attn.proj.weight") || t.name.ends_with(".mlp.fc2.weight") ||
          t.name.ends_with(".mlp.w_down.weight") || t.name.ends_with(".hstu.out.weight");
      const double stddev = 0.02 * (residual_projection ? residual_scale : 1.0);
      SplitMix64 rng(derive_seed(seed, fnv1a_hash(t.name)));
      for (int64_t i = 0; i < n; ++i) w[i] = static_cast<T>(stddev * rng.normal());
    }
  }
}

template <class T>
void ModelCore<T>::validate(const data::Batch& batch, const LossOptions* loss) const {
  validate_batch(config_, layout_, vocab_, batch, loss);
}

template <class T>
void ModelCore<T>::pack(const data::Batch& batch) {
  auto& a = arena_;
  const ModelLayout& L = layout_;
  int r = 0;
  for (int b = 0; b < batch.B; ++b) {
    a.sequence_start[b] = r;
    for (int t = 0; t < batch.length[b]; ++t, ++r) {
      const int n = b * batch.T + t;
      a.packed_origin[r] = n;
      a.packed_position[r] = t;
      a.packed_item[r] = batch.item[n];
      if (L.action_emb != kAbsent) a.packed_action[r] = batch.action[n];
      if (L.category_emb != kAbsent) a.packed_category[r] = batch.category[n];
      if (L.time_gap_emb != kAbsent) a.packed_time_gap[r] = batch.time_gap[n];
      if (L.activity_emb != kAbsent) a.packed_activity[r] = batch.activity[n];
    }
  }
  a.rows = r;
}

// Packed rows -> padded [B, T, width] layout. Padding rows are zeroed so the attention op's
// input is a pure function of this batch (it masks them anyway).
template <class T>
void ModelCore<T>::scatter_to_padded(T* padded, const T* packed, int width,
                                     const data::Batch& batch) const {
  const auto& a = arena_;
  for (int b = 0; b < batch.B; ++b) {
    const int len = batch.length[b];
    T* dst = padded + int64_t(b) * batch.T * width;
    std::copy_n(packed + int64_t(a.sequence_start[b]) * width, int64_t(len) * width, dst);
    zero(dst + int64_t(len) * width, int64_t(batch.T - len) * width);
  }
}

template <class T>
void ModelCore<T>::gather_from_padded(T* packed, const T* padded, int width,
                                      const data::Batch& batch) const {
  const auto& a = arena_;
  for (int b = 0; b < batch.B; ++b)
    std::copy_n(padded + int64_t(b) * batch.T * width, int64_t(batch.length[b]) * width,
                packed + int64_t(a.sequence_start[b]) * width);
}

template <class T>
uint64_t ModelCore<T>::sequence_key(const data::Batch& batch, int b) {
  return batch.sequence_index.size() == size_t(batch.B)
             ? static_cast<uint64_t>(batch.sequence_index[b])
             : static_cast<uint64_t>(b);
}

template <class T>
void ModelCore<T>::dropout_forward(T* out, const T* inp, float p, uint64_t site_seed,
                                   const data::Batch& batch) const {
  const int C = config_.d_model;
  if (p <= 0.f) {
    ops::dropout_forward(out, inp, p, site_seed, int64_t(arena_.rows) * C);  // a copy
    return;
  }
  for (int b = 0; b < batch.B; ++b) {
    const int64_t offset = int64_t(arena_.sequence_start[b]) * C;
    ops::dropout_forward(out + offset, inp + offset, p,
                         derive_seed(site_seed, sequence_key(batch, b)),
                         int64_t(batch.length[b]) * C);
  }
}

template <class T>
void ModelCore<T>::dropout_backward(T* dinp, const T* dout, float p, uint64_t site_seed,
                                    const data::Batch& batch) const {
  const int C = config_.d_model;
  if (p <= 0.f) {
    ops::dropout_backward(dinp, dout, p, site_seed, int64_t(arena_.rows) * C);
    return;
  }
  for (int b = 0; b < batch.B; ++b) {
    const int64_t offset = int64_t(arena_.sequence_start[b]) * C;
    ops::dropout_backward(dinp + offset, dout + offset, p,
                          derive_seed(site_seed, sequence_key(batch, b)),
                          int64_t(batch.length[b]) * C);
  }
}

template <class T>
void ModelCore<T>::forward(const data::Batch& batch, float dropout, uint64_t dropout_seed) {
  const int C = config_.d_model;
  arena_.ensure(config_, batch.B, batch.T);
  pack(batch);
  auto& a = arena_;
  const ModelLayout& L = layout_;
  const int N = a.rows;  // real positions only: padding costs nothing outside attention
  const int64_t NC = int64_t(N) * C;
  if (N == 0) return;

  zero(a.encoded, NC);
  ops::embedding_forward(a.encoded, a.packed_item.data(), p(L.item_emb), N, C);
  add_input_item_features(a.encoded, a.packed_item.data(), N);
  if (L.action_emb != kAbsent)
    ops::embedding_forward(a.encoded, a.packed_action.data(), p(L.action_emb), N, C);
  if (L.category_emb != kAbsent)
    ops::embedding_forward(a.encoded, a.packed_category.data(), p(L.category_emb), N, C);
  if (L.time_gap_emb != kAbsent)
    ops::embedding_forward(a.encoded, a.packed_time_gap.data(), p(L.time_gap_emb), N, C);
  if (L.activity_emb != kAbsent)
    ops::embedding_forward(a.encoded, a.packed_activity.data(), p(L.activity_emb), N, C);
  // The position table is looked up like any other channel (ids = t), which suits packed rows.
  ops::embedding_forward(a.encoded, a.packed_position.data(), p(L.pos_emb), N, C);
  dropout_forward(a.residual[0], a.encoded, dropout, dropout_site_seed(dropout_seed, 0), batch);

  for (int l = 0; l < config_.n_layer; ++l) {
    switch (config_.block) {
      case BlockKind::kGpt:
        gpt_block_forward(batch, l, dropout, dropout_seed);
        break;
      case BlockKind::kLigr:
        ligr_block_forward(batch, l, dropout, dropout_seed);
        break;
      case BlockKind::kHstu:
        hstu_block_forward(batch, l, dropout, dropout_seed);
        break;
    }
  }
  ops::layernorm_forward(a.hidden, a.hidden_mean, a.hidden_rstd, a.residual[config_.n_layer],
                         p(L.ln_f.weight), p(L.ln_f.bias), N, C);
}

template <class T>
void ModelCore<T>::attention_sublayer_forward(const data::Batch& batch, int l) {
  const int B = batch.B, Tlen = batch.T, C = config_.d_model, NH = config_.n_head;
  auto& a = arena_;
  const int N = a.rows;
  const BlockOffsets& w = layout_.blocks[l];
  BlockActivations<T>& act = a.blocks[l];
  ops::layernorm_forward(act.ln1, act.ln1_mean, act.ln1_rstd, a.residual[l], p(w.ln1.weight),
                         p(w.ln1.bias), N, C);
  ops::matmul_forward(a.packed_qkv, act.ln1, p(w.qkv.weight), p(w.qkv.bias), N, C, 3 * C);
  scatter_to_padded(act.qkv, a.packed_qkv, 3 * C, batch);
  if (ops::attention_is_tiled(Tlen)) {
    ops::attention_forward_tiled(a.padded_att_out, act.att, act.qkv, batch.length.data(), B, Tlen,
                                 C, NH);
  } else {
    ops::attention_forward(a.padded_att_out, act.att, act.qkv, batch.length.data(), B, Tlen, C,
                           NH);
  }
  gather_from_padded(act.att_out, a.padded_att_out, C, batch);
  ops::matmul_forward(act.proj, act.att_out, p(w.proj.weight), p(w.proj.bias), N, C, C);
}

// GPT-2 pre-LN block:
//   m = x + dropout(proj(attention(ln1(x))));  x' = m + dropout(fc2(gelu(fc1(ln2(m)))))
template <class T>
void ModelCore<T>::gpt_block_forward(const data::Batch& batch, int l, float dropout,
                                     uint64_t dropout_seed) {
  const int C = config_.d_model, F = config_.d_ff;
  auto& a = arena_;
  const int N = a.rows;
  const int64_t NC = int64_t(N) * C;
  const BlockOffsets& w = layout_.blocks[l];
  BlockActivations<T>& act = a.blocks[l];
  const T* x = a.residual[l];
  attention_sublayer_forward(batch, l);
  dropout_forward(a.dropout_out, act.proj, dropout,
                  dropout_site_seed(dropout_seed, attention_site(l)), batch);
  ops::residual_forward(act.res_mid, x, a.dropout_out, NC);

  ops::layernorm_forward(act.ln2, act.ln2_mean, act.ln2_rstd, act.res_mid, p(w.ln2.weight),
                         p(w.ln2.bias), N, C);
  ops::matmul_forward(act.fc1, act.ln2, p(w.fc1.weight), p(w.fc1.bias), N, C, F);
  ops::gelu_forward(act.gelu, act.fc1, int64_t(N) * F);
  ops::matmul_forward(act.fc2, act.gelu, p(w.fc2.weight), p(w.fc2.bias), N, F, C);
  dropout_forward(a.dropout_out, act.fc2, dropout, dropout_site_seed(dropout_seed, mlp_site(l)),
                  batch);
  ops::residual_forward(a.residual[l + 1], act.res_mid, a.dropout_out, NC);
}

// LiGR layer as the eSASRec authors implement it (MTS RecTools' LiGRLayer; README "Blocks"):
//   m  = x + sigmoid(x Wa + ba) * dropout(proj(attention(ln1(x))))
//   x' = m + sigmoid(m Wm + bm) * dropout(Wd (silu(ln2(m) Wg) * (ln2(m) Wu)))
// The gates read the residual stream itself (not its LayerNorm), as that code does; the SwiGLU
// projections have no bias (its default). Weights are [out, in], applied as inp @ W^T.
template <class T>
void ModelCore<T>::ligr_block_forward(const data::Batch& batch, int l, float dropout,
                                      uint64_t dropout_seed) {
  const int C = config_.d_model, F = config_.d_ff;
  auto& a = arena_;
  const int N = a.rows;
  const int64_t NC = int64_t(N) * C;
  const BlockOffsets& w = layout_.blocks[l];
  BlockActivations<T>& act = a.blocks[l];
  const T* x = a.residual[l];
  attention_sublayer_forward(batch, l);
  ops::matmul_forward(act.attn_gate, x, p(w.attn_gate.weight), p(w.attn_gate.bias), N, C, C);
  ops::sigmoid_forward(act.attn_gate, act.attn_gate, NC);
  dropout_forward(a.dropout_out, act.proj, dropout,
                  dropout_site_seed(dropout_seed, attention_site(l)), batch);
  ops::gated_residual_forward(act.res_mid, x, act.attn_gate, a.dropout_out, NC);

  ops::layernorm_forward(act.ln2, act.ln2_mean, act.ln2_rstd, act.res_mid, p(w.ln2.weight),
                         p(w.ln2.bias), N, C);
  // w_gate and w_up are adjacent [F, C] tensors: one [2F, C] GEMM gives gate | up per row.
  ops::matmul_forward(act.gate_up, act.ln2, p(w.swiglu_gate), static_cast<const T*>(nullptr), N, C,
                      2 * F);
  ops::swiglu_forward(act.swiglu, act.gate_up, N, F);
  ops::matmul_forward(act.fc2, act.swiglu, p(w.swiglu_down), static_cast<const T*>(nullptr), N, F,
                      C);
  ops::matmul_forward(act.mlp_gate, act.res_mid, p(w.mlp_gate.weight), p(w.mlp_gate.bias), N, C, C);
  ops::sigmoid_forward(act.mlp_gate, act.mlp_gate, NC);
  dropout_forward(a.dropout_out, act.fc2, dropout, dropout_site_seed(dropout_seed, mlp_site(l)),
                  batch);
  ops::gated_residual_forward(a.residual[l + 1], act.res_mid, act.mlp_gate, a.dropout_out, NC);
}

// HSTU layer (Zhai et al. 2024; README "Blocks"), one dropout site (the attention one):
//   U, V, Q, K = split(silu(ln1(x) W1 + b1))
//   A[t, s]    = silu(q_t . k_s + rel_pos_bias[h, t - s]) / max_len   for s <= t (per head h)
//   x'         = x + dropout((av_norm(A V) * U) W2 + b2)
// The paper divides by the sequence length n of its padded batches (max_len there); dividing by
// the constant max_len keeps every position causal and independent of padding and of how many
// events follow it, so the KV-cached decoder reproduces it. Its time-gap bias is left out: see
// README "Blocks" for what the corpus would need to carry.
template <class T>
void ModelCore<T>::hstu_block_forward(const data::Batch& batch, int l, float dropout,
                                      uint64_t dropout_seed) {
  const int C = config_.d_model, NH = config_.n_head;
  auto& a = arena_;
  const int N = a.rows;
  const int64_t NC = int64_t(N) * C;
  const BlockOffsets& w = layout_.blocks[l];
  BlockActivations<T>& act = a.blocks[l];
  const T* x = a.residual[l];
  ops::layernorm_forward(act.ln1, act.ln1_mean, act.ln1_rstd, x, p(w.ln1.weight), p(w.ln1.bias), N,
                         C);
  ops::matmul_forward(act.uvqk_linear, act.ln1, p(w.uvqk.weight), p(w.uvqk.bias), N, C, 4 * C);
  ops::silu_forward(act.uvqk, act.uvqk_linear, 4 * NC);
  ops::hstu_attention_forward(act.av, act.scores, act.uvqk, p(w.rel_pos_bias), config_.max_len,
                              a.sequence_start.data(), batch.length.data(), batch.B, batch.T, C, NH,
                              T(1) / T(config_.max_len));
  ops::layernorm_forward(act.av_normed, act.av_mean, act.av_rstd, act.av, p(w.av_norm.weight),
                         p(w.av_norm.bias), N, C);
  ops::hstu_gate_forward(act.gated, act.av_normed, act.uvqk, N, C);
  ops::matmul_forward(act.out, act.gated, p(w.hstu_out.weight), p(w.hstu_out.bias), N, C, C);
  dropout_forward(a.dropout_out, act.out, dropout,
                  dropout_site_seed(dropout_seed, attention_site(l)), batch);
  ops::residual_forward(a.residual[l + 1], x, a.dropout_out, NC);
}

template <class T>
LossSums ModelCore<T>::losses(const data::Batch& batch, const LossOptions& loss, bool with_grad) {
  const int B = batch.B, C = config_.d_model;
  auto& a = arena_;
  const int N = a.rows;
  const ModelLayout& L = layout_;
  LossSums sums;
  if (with_grad) zero(a.d_hidden, int64_t(N) * C);

  // Gathers the hidden rows whose target is positive; the heads only ever see those rows,
  // so target-less positions cost nothing in the (dominant) item softmax.
  auto gather = [&](const std::vector<int32_t>& targets) {
    int rows = 0;
    for (int r = 0; r < N; ++r) {
      const int32_t target = targets[a.packed_origin[r]];
      if (target <= 0) continue;
      a.row_index[rows] = r;
      a.row_target[rows] = target;
      std::copy_n(a.hidden + int64_t(r) * C, C, a.gathered + int64_t(rows) * C);
      ++rows;
    }
    if (with_grad) zero(a.d_gathered, int64_t(rows) * C);
    return rows;
  };
  auto scatter_grad = [&](int rows) {
    for (int i = 0; i < rows; ++i) {
      T* dst = a.d_hidden + int64_t(a.row_index[i]) * C;
      const T* src = a.d_gathered + int64_t(i) * C;
      for (int c = 0; c < C; ++c) dst[c] += src[c];
    }
  };

  if (loss.item_loss) {
    const int rows = gather(batch.target_item);
    if (rows > 0) {
      // With features on the output the head scores against the effective table (weights +
      // mean feature embeddings); its gradient is split between the two after the loss.
      const bool output_features = features_on_output(config_.item_features);
      const T* head_weight = p(L.item_head_weight);
      T* dw = with_grad ? g(L.item_head_weight) : nullptr;
      if (output_features) {
        build_output_item_table(output_table_);
        head_weight = output_table_.data();
        if (with_grad) {
          d_output_table_.assign(output_table_.size(), T(0));
          dw = d_output_table_.data();
        }
      }
      T* dh = with_grad ? a.d_gathered : nullptr;
      T* db = with_grad ? g(L.item_head_bias) : nullptr;
      const T scale = static_cast<T>(loss.item_grad_scale);
      int64_t counted = 0;
      if (!loss.sampled()) {
        sums.item = ops::softmax_xent_forward_backward(
            dh, dw, db, &counted, a.gathered, head_weight, p(L.item_head_bias), a.row_target.data(),
            rows, C, vocab_.items, scale, kItemSoftmaxChunkRows);
      } else {
        // The step's shared negatives, then the in-batch ones: targets of this micro-batch's
        // rows picked by a pure function of (negative_seed, k), so a resume draws them again.
        std::vector<int32_t>& candidates = a.negatives;
        candidates.assign(loss.shared_negatives.begin(), loss.shared_negatives.end());
        for (int k = 0; k < loss.in_batch_negatives; ++k)
          candidates.push_back(
              a.row_target[size_t(uniform_item(loss.negative_seed, uint64_t(k), rows + 1) - 1)]);
        const ops::SampledLoss kind = loss.item_kind == ItemLoss::kGbce
                                          ? ops::SampledLoss::kGbce
                                          : ops::SampledLoss::kSoftmax;
        sums.item = ops::shared_candidates_loss_forward_backward(
            dh, dw, db, &counted, a.gathered, head_weight, p(L.item_head_bias), a.row_target.data(),
            rows, C, vocab_.items, candidates.data(), int(candidates.size()),
            loss.item_log_q ? loss.item_log_q->data() : nullptr, kind, loss.gbce_beta, scale);
      }
      sums.item_count = counted;
      if (with_grad && output_features) {
        T* head_grad = g(L.item_head_weight);
        for (size_t i = 0; i < d_output_table_.size(); ++i) head_grad[i] += d_output_table_[i];
        item_features_backward(nullptr, d_output_table_.data(), vocab_.items);
      }
      if (with_grad) scatter_grad(rows);
    }
  }

  if (loss.action_loss) {
    const int rows = gather(batch.target_action);
    if (rows > 0) {
      const LinearOffsets& head = L.action_head;
      int64_t counted = 0;
      sums.action = ops::softmax_xent_forward_backward(
          with_grad ? a.d_gathered : nullptr, with_grad ? g(head.weight) : nullptr,
          with_grad ? g(head.bias) : nullptr, &counted, a.gathered, p(head.weight), p(head.bias),
          a.row_target.data(), rows, C, vocab_.actions, static_cast<T>(loss.action_grad_scale));
      sums.action_count = counted;
      if (with_grad) scatter_grad(rows);
    }
  }

  if (loss.propensity_loss) {
    // One row per sequence with a known label: the hidden state of its last real event.
    int rows = 0;
    for (int b = 0; b < B; ++b) {
      if (batch.length[b] <= 0 || !(batch.label[b] >= 0.f)) continue;
      const int r = a.sequence_start[b] + batch.length[b] - 1;
      a.row_index[rows] = r;
      a.row_label[rows] = batch.label[b];
      std::copy_n(a.hidden + int64_t(r) * C, C, a.gathered + int64_t(rows) * C);
      ++rows;
    }
    if (rows > 0) {
      const LinearOffsets& head = L.propensity_head;
      ops::matmul_forward(a.row_logit.data(), a.gathered, p(head.weight), p(head.bias), rows, C, 1);
      zero(a.row_d_logit.data(), rows);
      int64_t counted = 0;
      sums.propensity = ops::bce_with_logits_forward_backward(
          a.row_d_logit.data(), &counted, a.row_logit.data(), a.row_label.data(), rows,
          static_cast<T>(loss.propensity_grad_scale));
      sums.propensity_count = counted;
      if (with_grad) {
        zero(a.d_gathered, int64_t(rows) * C);
        ops::matmul_backward(a.d_gathered, g(head.weight), g(head.bias), a.row_d_logit.data(),
                             a.gathered, p(head.weight), rows, C, 1);
        scatter_grad(rows);
      }
    }
  }
  return sums;
}

template <class T>
void ModelCore<T>::backward(const data::Batch& batch, float dropout, uint64_t dropout_seed) {
  const int C = config_.d_model;
  auto& a = arena_;
  const int N = a.rows;
  const int64_t NC = int64_t(N) * C;
  const ModelLayout& L = layout_;
  auto grads_ready = [&](int64_t first_final) {
    if (grads_ready_) grads_ready_(first_final);
  };
  if (N == 0) return grads_ready(0);

  // d_residual carries dLoss/d(residual stream) downwards; each LayerNorm backward adds its
  // branch's contribution straight into it (the ops accumulate).
  zero(a.d_residual, NC);
  ops::layernorm_backward(a.d_residual, g(L.ln_f.weight), g(L.ln_f.bias), a.d_hidden,
                          a.residual[config_.n_layer], p(L.ln_f.weight), a.hidden_mean,
                          a.hidden_rstd, N, C);
  grads_ready(L.ln_f.weight);  // ln_f and the heads (their gradients came from losses())
  for (int l = config_.n_layer - 1; l >= 0; --l) {
    switch (config_.block) {
      case BlockKind::kGpt:
        gpt_block_backward(batch, l, dropout, dropout_seed);
        break;
      case BlockKind::kLigr:
        ligr_block_backward(batch, l, dropout, dropout_seed);
        break;
      case BlockKind::kHstu:
        hstu_block_backward(batch, l, dropout, dropout_seed);
        break;
    }
    grads_ready(L.blocks[l].ln1.weight);  // the block's first tensor
  }

  zero(a.d_branch, NC);
  dropout_backward(a.d_branch, a.d_residual, dropout, dropout_site_seed(dropout_seed, 0), batch);
  ops::embedding_backward(g(L.item_emb), a.packed_item.data(), a.d_branch, N, C);
  if (features_on_input(config_.item_features))
    item_features_backward(a.packed_item.data(), a.d_branch, N);
  if (L.action_emb != kAbsent)
    ops::embedding_backward(g(L.action_emb), a.packed_action.data(), a.d_branch, N, C);
  if (L.category_emb != kAbsent)
    ops::embedding_backward(g(L.category_emb), a.packed_category.data(), a.d_branch, N, C);
  if (L.time_gap_emb != kAbsent)
    ops::embedding_backward(g(L.time_gap_emb), a.packed_time_gap.data(), a.d_branch, N, C);
  if (L.activity_emb != kAbsent)
    ops::embedding_backward(g(L.activity_emb), a.packed_activity.data(), a.d_branch, N, C);
  ops::embedding_backward(g(L.pos_emb), a.packed_position.data(), a.d_branch, N, C);
  grads_ready(0);
}

template <class T>
void ModelCore<T>::attention_sublayer_backward(const data::Batch& batch, int l) {
  const int B = batch.B, Tlen = batch.T, C = config_.d_model, NH = config_.n_head;
  auto& a = arena_;
  const int N = a.rows;
  const int64_t NC = int64_t(N) * C;
  const BlockOffsets& w = layout_.blocks[l];
  const BlockActivations<T>& act = a.blocks[l];
  zero(a.d_ln, NC);  // reused as d(attention output), packed
  ops::matmul_backward(a.d_ln, g(w.proj.weight), g(w.proj.bias), a.d_branch, act.att_out,
                       p(w.proj.weight), N, C, C);
  scatter_to_padded(a.d_padded_att_out, a.d_ln, C, batch);
  zero(a.d_padded_qkv, 3 * int64_t(B) * Tlen * C);
  if (ops::attention_is_tiled(Tlen)) {
    ops::attention_backward_tiled(a.d_padded_qkv, a.d_padded_att_out, act.qkv, act.att,
                                  batch.length.data(), B, Tlen, C, NH);
  } else {
    ops::attention_backward(a.d_padded_qkv, a.d_padded_att_out, act.qkv, act.att,
                            batch.length.data(), B, Tlen, C, NH);
  }
  gather_from_padded(a.d_qkv, a.d_padded_qkv, 3 * C, batch);
  zero(a.d_branch, NC);  // reused as d(ln1 output)
  ops::matmul_backward(a.d_branch, g(w.qkv.weight), g(w.qkv.bias), a.d_qkv, act.ln1,
                       p(w.qkv.weight), N, C, 3 * C);
  ops::layernorm_backward(a.d_residual, g(w.ln1.weight), g(w.ln1.bias), a.d_branch, a.residual[l],
                          p(w.ln1.weight), act.ln1_mean, act.ln1_rstd, N, C);
}

template <class T>
void ModelCore<T>::gpt_block_backward(const data::Batch& batch, int l, float dropout,
                                      uint64_t dropout_seed) {
  const int C = config_.d_model, F = config_.d_ff;
  auto& a = arena_;
  const int N = a.rows;
  const int64_t NC = int64_t(N) * C, NF = int64_t(N) * F;
  const BlockOffsets& w = layout_.blocks[l];
  const BlockActivations<T>& act = a.blocks[l];

  zero(a.d_branch, NC);
  dropout_backward(a.d_branch, a.d_residual, dropout, dropout_site_seed(dropout_seed, mlp_site(l)),
                   batch);
  zero(a.d_gelu, NF);
  ops::matmul_backward(a.d_gelu, g(w.fc2.weight), g(w.fc2.bias), a.d_branch, act.gelu,
                       p(w.fc2.weight), N, F, C);
  zero(a.d_fc1, NF);
  ops::gelu_backward(a.d_fc1, act.fc1, a.d_gelu, NF);
  zero(a.d_ln, NC);
  ops::matmul_backward(a.d_ln, g(w.fc1.weight), g(w.fc1.bias), a.d_fc1, act.ln2, p(w.fc1.weight), N,
                       C, F);
  ops::layernorm_backward(a.d_residual, g(w.ln2.weight), g(w.ln2.bias), a.d_ln, act.res_mid,
                          p(w.ln2.weight), act.ln2_mean, act.ln2_rstd, N, C);

  zero(a.d_branch, NC);
  dropout_backward(a.d_branch, a.d_residual, dropout,
                   dropout_site_seed(dropout_seed, attention_site(l)), batch);
  attention_sublayer_backward(batch, l);
}

template <class T>
void ModelCore<T>::ligr_block_backward(const data::Batch& batch, int l, float dropout,
                                       uint64_t dropout_seed) {
  const int C = config_.d_model, F = config_.d_ff;
  auto& a = arena_;
  const int N = a.rows;
  const int64_t NC = int64_t(N) * C, NF = int64_t(N) * F;
  const BlockOffsets& w = layout_.blocks[l];
  const BlockActivations<T>& act = a.blocks[l];
  T* const no_bias_grad = nullptr;  // the SwiGLU projections have no bias

  // FFN branch, x' = m + gate * dropout(ffn). The dropped branch is not kept from forward:
  // its mask is a pure function of the seed, so it is recomputed here.
  dropout_forward(a.dropout_out, act.fc2, dropout, dropout_site_seed(dropout_seed, mlp_site(l)),
                  batch);
  zero(a.d_gate_logit, NC);
  zero(a.d_ln, NC);  // d(dropped branch)
  ops::gated_residual_backward(a.d_gate_logit, a.d_ln, a.d_residual, act.mlp_gate, a.dropout_out,
                               NC);
  zero(a.d_branch, NC);  // d(ffn output)
  dropout_backward(a.d_branch, a.d_ln, dropout, dropout_site_seed(dropout_seed, mlp_site(l)),
                   batch);
  // d_residual has been read: the gate's own path to m adds into it.
  ops::matmul_backward(a.d_residual, g(w.mlp_gate.weight), g(w.mlp_gate.bias), a.d_gate_logit,
                       act.res_mid, p(w.mlp_gate.weight), N, C, C);
  zero(a.d_gelu, NF);  // d(swiglu)
  ops::matmul_backward(a.d_gelu, g(w.swiglu_down), no_bias_grad, a.d_branch, act.swiglu,
                       p(w.swiglu_down), N, F, C);
  zero(a.d_gate_up, 2 * NF);
  ops::swiglu_backward(a.d_gate_up, act.gate_up, a.d_gelu, N, F);
  zero(a.d_ln, NC);
  ops::matmul_backward(a.d_ln, g(w.swiglu_gate), no_bias_grad, a.d_gate_up, act.ln2,
                       p(w.swiglu_gate), N, C, 2 * F);
  ops::layernorm_backward(a.d_residual, g(w.ln2.weight), g(w.ln2.bias), a.d_ln, act.res_mid,
                          p(w.ln2.weight), act.ln2_mean, act.ln2_rstd, N, C);

  // Attention branch, m = x + gate * dropout(attention): the same steps.
  dropout_forward(a.dropout_out, act.proj, dropout,
                  dropout_site_seed(dropout_seed, attention_site(l)), batch);
  zero(a.d_gate_logit, NC);
  zero(a.d_ln, NC);
  ops::gated_residual_backward(a.d_gate_logit, a.d_ln, a.d_residual, act.attn_gate, a.dropout_out,
                               NC);
  zero(a.d_branch, NC);  // d(proj output), where attention_sublayer_backward starts
  dropout_backward(a.d_branch, a.d_ln, dropout, dropout_site_seed(dropout_seed, attention_site(l)),
                   batch);
  ops::matmul_backward(a.d_residual, g(w.attn_gate.weight), g(w.attn_gate.bias), a.d_gate_logit,
                       a.residual[l], p(w.attn_gate.weight), N, C, C);
  attention_sublayer_backward(batch, l);
}

template <class T>
void ModelCore<T>::hstu_block_backward(const data::Batch& batch, int l, float dropout,
                                       uint64_t dropout_seed) {
  const int C = config_.d_model, NH = config_.n_head;
  auto& a = arena_;
  const int N = a.rows;
  const int64_t NC = int64_t(N) * C;
  const BlockOffsets& w = layout_.blocks[l];
  const BlockActivations<T>& act = a.blocks[l];

  zero(a.d_branch, NC);  // d(f2 output)
  dropout_backward(a.d_branch, a.d_residual, dropout,
                   dropout_site_seed(dropout_seed, attention_site(l)), batch);
  zero(a.d_ln, NC);  // d(gated)
  ops::matmul_backward(a.d_ln, g(w.hstu_out.weight), g(w.hstu_out.bias), a.d_branch, act.gated,
                       p(w.hstu_out.weight), N, C, C);
  zero(a.d_uvqk, 4 * NC);
  zero(a.d_branch, NC);  // d(av_normed)
  ops::hstu_gate_backward(a.d_branch, a.d_uvqk, a.d_ln, act.av_normed, act.uvqk, N, C);
  zero(a.d_ln, NC);  // d(av)
  ops::layernorm_backward(a.d_ln, g(w.av_norm.weight), g(w.av_norm.bias), a.d_branch, act.av,
                          p(w.av_norm.weight), act.av_mean, act.av_rstd, N, C);
  ops::hstu_attention_backward(a.d_uvqk, g(w.rel_pos_bias), a.d_ln, act.uvqk, act.scores,
                               config_.max_len, a.sequence_start.data(), batch.length.data(),
                               batch.B, batch.T, C, NH, T(1) / T(config_.max_len));
  zero(a.d_uvqk_linear, 4 * NC);
  ops::silu_backward(a.d_uvqk_linear, act.uvqk_linear, a.d_uvqk, 4 * NC);
  zero(a.d_branch, NC);  // d(ln1 output)
  ops::matmul_backward(a.d_branch, g(w.uvqk.weight), g(w.uvqk.bias), a.d_uvqk_linear, act.ln1,
                       p(w.uvqk.weight), N, C, 4 * C);
  ops::layernorm_backward(a.d_residual, g(w.ln1.weight), g(w.ln1.bias), a.d_branch, a.residual[l],
                          p(w.ln1.weight), act.ln1_mean, act.ln1_rstd, N, C);
}

template <class T>
LossSums ModelCore<T>::forward_backward(const data::Batch& batch, const LossOptions& loss,
                                        uint64_t dropout_seed) {
  validate(batch, &loss);
  forward(batch, config_.dropout, dropout_seed);
  LossSums sums = losses(batch, loss, /*with_grad=*/true);
  backward(batch, config_.dropout, dropout_seed);
  return sums;
}

template <class T>
LossSums ModelCore<T>::evaluate_loss(const data::Batch& batch, const LossOptions& loss) {
  validate(batch, &loss);
  forward(batch, 0.f, 0);
  return losses(batch, loss, /*with_grad=*/false);
}

template <class T>
void ModelCore<T>::hidden_states(const data::Batch& batch, std::vector<T>& out) {
  validate(batch, nullptr);
  forward(batch, 0.f, 0);
  const int C = config_.d_model;
  out.assign(size_t(batch.B) * batch.T * C, T(0));
  if (arena_.rows > 0) scatter_to_padded(out.data(), arena_.hidden, C, batch);
}

template <class T>
void ModelCore<T>::last_hidden(const data::Batch& batch, std::vector<T>& out) {
  validate(batch, nullptr);
  forward(batch, 0.f, 0);
  const int C = config_.d_model;
  out.assign(size_t(batch.B) * C, T(0));
  for (int b = 0; b < batch.B; ++b) {
    if (batch.length[b] <= 0) continue;  // empty history: zeros
    const int64_t r = arena_.sequence_start[b] + batch.length[b] - 1;
    std::copy_n(arena_.hidden + r * C, C, out.data() + int64_t(b) * C);
  }
}

template <class T>
void ModelCore<T>::item_scores(const T* hidden, int B, T* out) const {
  const int V = vocab_.items;
  const T* head_weight = param(layout_.item_head_weight);
  std::vector<T> table;  // local: scoring may run on several threads at once
  if (features_on_output(config_.item_features)) {
    build_output_item_table(table);
    head_weight = table.data();
  }
  ops::matmul_forward(out, hidden, head_weight, param(layout_.item_head_bias), B, config_.d_model,
                      V);
  for (int b = 0; b < B; ++b) out[int64_t(b) * V] = -std::numeric_limits<T>::infinity();
}

template <class T>
void ModelCore<T>::propensity_logits(const T* hidden, int B, T* out) const {
  if (layout_.propensity_head.weight == kAbsent)
    throw UserError("model: propensity logits need model.propensity_head: true");
  ops::matmul_forward(out, hidden, param(layout_.propensity_head.weight),
                      param(layout_.propensity_head.bias), B, config_.d_model, 1);
}

template <class T>
void ModelCore<T>::action_logits(const T* hidden, int B, T* out) const {
  if (layout_.action_head.weight == kAbsent)
    throw UserError("model: next-action logits need model.action_head: true");
  const int A = vocab_.actions;
  ops::matmul_forward(out, hidden, param(layout_.action_head.weight),
                      param(layout_.action_head.bias), B, config_.d_model, A);
  for (int b = 0; b < B; ++b) out[int64_t(b) * A] = -std::numeric_limits<T>::infinity();
}

// FLOPs of one training step (forward + backward) per real token, counting multiply-adds as 2:
//   forward per token = 2 * (matrix weights used per token) + attention
//     matrix weights per block:
//       gpt:  qkv 3C^2 + proj C^2 + fc1 C*F + fc2 F*C
//       ligr: qkv 3C^2 + proj C^2 + two gates 2C^2 + SwiGLU gate, up and down 3C*F
//       hstu: f1 (U, V, Q, K) 4C^2 + f2 C^2
//     attention per block: QK^T and AV over on average (T+1)/2 visible keys: 2 * 2 * C * (T+1)/2
//     heads: next-item logits over all V items: 2*V*C (full softmax; sampled softmax is cheaper,
//     so this overstates its work), next-action 2*A*C, propensity negligible
//   backward = 2 x forward (gradients of inputs and of weights), so total = 3 x forward.
// Embedding lookups, LayerNorm, GELU/SiLU/sigmoid and softmax elementwise work are ignored
// (O(C) per token).
template <class T>
double ModelCore<T>::flops_per_token(int seq_len, int64_t item_logits) const {
  const double C = config_.d_model, F = config_.d_ff;
  double block_weights = 0;
  switch (config_.block) {
    case BlockKind::kGpt:
      block_weights = 4.0 * C * C + 2.0 * C * F;
      break;
    case BlockKind::kLigr:
      block_weights = 6.0 * C * C + 3.0 * C * F;
      break;
    case BlockKind::kHstu:
      block_weights = 5.0 * C * C;
      break;
  }
  const double attention = 2.0 * C * (seq_len + 1.0);
  double forward = config_.n_layer * (2.0 * block_weights + attention);
  forward += 2.0 * double(item_logits > 0 ? item_logits : vocab_.items) * C;
  if (config_.action_head) forward += 2.0 * vocab_.actions * C;
  return 3.0 * forward;
}

template class ModelCore<float>;
template class ModelCore<double>;

}  // namespace cf::trainer
