#include "trainer/model/model_decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "kernels/ops.h"

namespace cf::trainer {

template <class T>
KvDecoder<T>::KvDecoder(const ModelCore<T>& model) : model_(model) {
  const ModelConfig& c = model.config();
  const size_t C = c.d_model, F = c.d_ff;
  keys_.assign(c.n_layer, std::vector<T>(c.max_len * C));
  values_.assign(c.n_layer, std::vector<T>(c.max_len * C));
  x_.resize(C);
  ln_.resize(C);
  qkv_.resize(3 * C);
  att_out_.resize(C);
  branch_.resize(C);
  fc1_.resize(F);
  gelu_.resize(F);
  scores_.resize(c.max_len);
  hidden_.resize(C);
  if (c.block == BlockKind::kLigr) {
    gate_.resize(C);
    gate_up_.resize(2 * F);
    swiglu_.resize(F);
  }
  if (c.block == BlockKind::kHstu) {
    uvqk_linear_.resize(4 * C);
    uvqk_.resize(4 * C);
    av_normed_.resize(C);
    gated_.resize(C);
  }
}

namespace {

void check_token(int32_t id, int32_t vocab, const char* channel) {
  if (id < 0 || id >= vocab)
    throw UserError(std::string("decoder: ") + channel + " token " + std::to_string(id) +
                    " is outside the model's vocabulary of " + std::to_string(vocab));
}

}  // namespace

template <class T>
void KvDecoder<T>::attend(int layer) {
  const ModelConfig& c = model_.config();
  const int C = c.d_model, NH = c.n_head, hd = C / NH;
  const T scale = T(1) / std::sqrt(T(hd));
  const T* keys = keys_[layer].data();
  const T* values = values_[layer].data();
  const int visible = length_ + 1;  // this position attends to itself and every earlier one
  for (int h = 0; h < NH; ++h) {
    const T* q = qkv_.data() + h * hd;
    T max_score = -std::numeric_limits<T>::infinity();
    for (int s = 0; s < visible; ++s) {
      const T* k = keys + int64_t(s) * C + h * hd;
      T dot = 0;
      for (int i = 0; i < hd; ++i) dot += q[i] * k[i];
      scores_[s] = dot * scale;
      max_score = std::max(max_score, scores_[s]);
    }
    T total = 0;
    for (int s = 0; s < visible; ++s) {
      scores_[s] = std::exp(scores_[s] - max_score);
      total += scores_[s];
    }
    T* out = att_out_.data() + h * hd;
    std::fill(out, out + hd, T(0));
    for (int s = 0; s < visible; ++s) {
      const T weight = scores_[s] / total;
      const T* v = values + int64_t(s) * C + h * hd;
      for (int i = 0; i < hd; ++i) out[i] += weight * v[i];
    }
  }
}

// Each block below repeats its ModelCore::*_block_forward for the one new row (no dropout).
template <class T>
void KvDecoder<T>::gpt_block(int l) {
  const ModelConfig& c = model_.config();
  const int C = c.d_model, F = c.d_ff;
  const BlockOffsets& w = model_.layout().blocks[l];
  ops::layernorm_forward(ln_.data(), mean_, rstd_, x_.data(), model_.param(w.ln1.weight),
                         model_.param(w.ln1.bias), 1, C);
  ops::matmul_forward(qkv_.data(), ln_.data(), model_.param(w.qkv.weight),
                      model_.param(w.qkv.bias), 1, C, 3 * C);
  std::copy_n(qkv_.data() + C, C, keys_[l].data() + int64_t(length_) * C);
  std::copy_n(qkv_.data() + 2 * C, C, values_[l].data() + int64_t(length_) * C);
  attend(l);
  ops::matmul_forward(branch_.data(), att_out_.data(), model_.param(w.proj.weight),
                      model_.param(w.proj.bias), 1, C, C);
  for (int i = 0; i < C; ++i) x_[i] += branch_[i];

  ops::layernorm_forward(ln_.data(), mean_, rstd_, x_.data(), model_.param(w.ln2.weight),
                         model_.param(w.ln2.bias), 1, C);
  ops::matmul_forward(fc1_.data(), ln_.data(), model_.param(w.fc1.weight),
                      model_.param(w.fc1.bias), 1, C, F);
  ops::gelu_forward(gelu_.data(), fc1_.data(), F);
  ops::matmul_forward(branch_.data(), gelu_.data(), model_.param(w.fc2.weight),
                      model_.param(w.fc2.bias), 1, F, C);
  for (int i = 0; i < C; ++i) x_[i] += branch_[i];
}

template <class T>
void KvDecoder<T>::ligr_block(int l) {
  const ModelConfig& c = model_.config();
  const int C = c.d_model, F = c.d_ff;
  const BlockOffsets& w = model_.layout().blocks[l];
  const T* no_bias = nullptr;
  ops::layernorm_forward(ln_.data(), mean_, rstd_, x_.data(), model_.param(w.ln1.weight),
                         model_.param(w.ln1.bias), 1, C);
  ops::matmul_forward(qkv_.data(), ln_.data(), model_.param(w.qkv.weight),
                      model_.param(w.qkv.bias), 1, C, 3 * C);
  std::copy_n(qkv_.data() + C, C, keys_[l].data() + int64_t(length_) * C);
  std::copy_n(qkv_.data() + 2 * C, C, values_[l].data() + int64_t(length_) * C);
  attend(l);
  ops::matmul_forward(branch_.data(), att_out_.data(), model_.param(w.proj.weight),
                      model_.param(w.proj.bias), 1, C, C);
  ops::matmul_forward(gate_.data(), x_.data(), model_.param(w.attn_gate.weight),
                      model_.param(w.attn_gate.bias), 1, C, C);
  ops::sigmoid_forward(gate_.data(), gate_.data(), C);
  ops::gated_residual_forward(x_.data(), x_.data(), gate_.data(), branch_.data(), C);

  ops::layernorm_forward(ln_.data(), mean_, rstd_, x_.data(), model_.param(w.ln2.weight),
                         model_.param(w.ln2.bias), 1, C);
  ops::matmul_forward(gate_up_.data(), ln_.data(), model_.param(w.swiglu_gate), no_bias, 1, C,
                      2 * F);
  ops::swiglu_forward(swiglu_.data(), gate_up_.data(), 1, F);
  ops::matmul_forward(branch_.data(), swiglu_.data(), model_.param(w.swiglu_down), no_bias, 1, F,
                      C);
  ops::matmul_forward(gate_.data(), x_.data(), model_.param(w.mlp_gate.weight),
                      model_.param(w.mlp_gate.bias), 1, C, C);
  ops::sigmoid_forward(gate_.data(), gate_.data(), C);
  ops::gated_residual_forward(x_.data(), x_.data(), gate_.data(), branch_.data(), C);
}

template <class T>
void KvDecoder<T>::hstu_attend(int layer) {
  const ModelConfig& c = model_.config();
  const int C = c.d_model, NH = c.n_head, hd = C / NH;
  const T inv_n = T(1) / T(c.max_len);  // as ModelCore::hstu_block_forward
  const T* keys = keys_[layer].data();
  const T* values = values_[layer].data();
  const T* bias_table = model_.param(model_.layout().blocks[layer].rel_pos_bias);
  const int t = length_;  // this position's index
  for (int h = 0; h < NH; ++h) {
    const T* q = uvqk_.data() + 2 * C + h * hd;
    const T* bias = bias_table + int64_t(h) * c.max_len;
    T* out = att_out_.data() + h * hd;
    std::fill(out, out + hd, T(0));
    for (int s = 0; s <= t; ++s) {
      const T* k = keys + int64_t(s) * C + h * hd;
      T dot = 0;
      for (int i = 0; i < hd; ++i) dot += q[i] * k[i];
      const T score = dot + bias[t - s];
      const T weight = score * (T(1) / (T(1) + std::exp(-score))) * inv_n;
      const T* v = values + int64_t(s) * C + h * hd;
      for (int i = 0; i < hd; ++i) out[i] += weight * v[i];
    }
  }
}

template <class T>
void KvDecoder<T>::hstu_block(int l) {
  const int C = model_.config().d_model;
  const BlockOffsets& w = model_.layout().blocks[l];
  ops::layernorm_forward(ln_.data(), mean_, rstd_, x_.data(), model_.param(w.ln1.weight),
                         model_.param(w.ln1.bias), 1, C);
  ops::matmul_forward(uvqk_linear_.data(), ln_.data(), model_.param(w.uvqk.weight),
                      model_.param(w.uvqk.bias), 1, C, 4 * C);
  ops::silu_forward(uvqk_.data(), uvqk_linear_.data(), 4 * C);
  std::copy_n(uvqk_.data() + 3 * C, C, keys_[l].data() + int64_t(length_) * C);
  std::copy_n(uvqk_.data() + C, C, values_[l].data() + int64_t(length_) * C);
  hstu_attend(l);
  ops::layernorm_forward(av_normed_.data(), mean_, rstd_, att_out_.data(),
                         model_.param(w.av_norm.weight), model_.param(w.av_norm.bias), 1, C);
  ops::hstu_gate_forward(gated_.data(), av_normed_.data(), uvqk_.data(), 1, C);
  ops::matmul_forward(branch_.data(), gated_.data(), model_.param(w.hstu_out.weight),
                      model_.param(w.hstu_out.bias), 1, C, C);
  for (int i = 0; i < C; ++i) x_[i] += branch_[i];
}

template <class T>
const std::vector<T>& KvDecoder<T>::append(int32_t item, int32_t action, int32_t category,
                                           int32_t time_gap, int32_t activity) {
  const ModelConfig& c = model_.config();
  const data::VocabSizes& vocab = model_.vocab();
  const ModelLayout& L = model_.layout();
  const int C = c.d_model;
  if (length_ >= c.max_len)
    throw UserError("decoder: history is longer than model.max_len (" + std::to_string(c.max_len) +
                    " events)");
  check_token(item, vocab.items, "item");
  if (L.action_emb != kAbsent) check_token(action, vocab.actions, "action");
  if (L.category_emb != kAbsent) check_token(category, vocab.categories, "category");
  if (L.time_gap_emb != kAbsent) check_token(time_gap, vocab.time_gaps, "time_gap");
  if (L.activity_emb != kAbsent) check_token(activity, vocab.activities, "activity");

  // Same op sequence as ModelCore::forward for a single row (B = 1, T = 1).
  std::fill(x_.begin(), x_.end(), T(0));
  ops::embedding_forward(x_.data(), &item, model_.param(L.item_emb), 1, C);
  model_.add_input_item_features(x_.data(), &item, 1);
  if (L.action_emb != kAbsent)
    ops::embedding_forward(x_.data(), &action, model_.param(L.action_emb), 1, C);
  if (L.category_emb != kAbsent)
    ops::embedding_forward(x_.data(), &category, model_.param(L.category_emb), 1, C);
  if (L.time_gap_emb != kAbsent)
    ops::embedding_forward(x_.data(), &time_gap, model_.param(L.time_gap_emb), 1, C);
  if (L.activity_emb != kAbsent)
    ops::embedding_forward(x_.data(), &activity, model_.param(L.activity_emb), 1, C);
  const T* pos = model_.param(L.pos_emb) + int64_t(length_) * C;
  for (int i = 0; i < C; ++i) x_[i] += pos[i];

  for (int l = 0; l < c.n_layer; ++l) {
    switch (c.block) {
      case BlockKind::kGpt:
        gpt_block(l);
        break;
      case BlockKind::kLigr:
        ligr_block(l);
        break;
      case BlockKind::kHstu:
        hstu_block(l);
        break;
    }
  }
  ops::layernorm_forward(hidden_.data(), mean_, rstd_, x_.data(), model_.param(L.ln_f.weight),
                         model_.param(L.ln_f.bias), 1, C);
  ++length_;
  return hidden_;
}

template <typename T>
void KvDecoder<T>::truncate(int length) {
  CF_CHECK(length >= 0 && length <= length_, "decoder: truncate beyond the events fed");
  length_ = length;
}

template class KvDecoder<float>;
template class KvDecoder<double>;

}  // namespace cf::trainer
