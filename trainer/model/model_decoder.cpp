#include "trainer/model/model_decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "kernels/ops.h"

namespace cf::trainer {

template <class T>
KvDecoder<T>::KvDecoder(const ModelCore<T>& model, int lanes)
    : model_(model),
      lanes_(lanes),
      max_len_(model.config().max_len),
      d_model_(model.config().d_model) {
  CF_CHECK(lanes >= 1, "decoder: needs at least one lane");
  const ModelConfig& c = model.config();
  const size_t C = c.d_model, F = c.d_ff, B = size_t(lanes);
  keys_.assign(c.n_layer, std::vector<T>(B * c.max_len * C));
  values_.assign(c.n_layer, std::vector<T>(B * c.max_len * C));
  x_.resize(B * C);
  ln_.resize(B * C);
  qkv_.resize(B * 3 * C);
  att_out_.resize(B * C);
  branch_.resize(B * C);
  fc1_.resize(B * F);
  gelu_.resize(B * F);
  hidden_.resize(B * C);
  mean_.resize(B);
  rstd_.resize(B);
  scores_.resize(c.max_len);
  if (c.block == BlockKind::kLigr) {
    gate_.resize(B * C);
    gate_up_.resize(B * 2 * F);
    swiglu_.resize(B * F);
  }
  if (c.block == BlockKind::kHstu) {
    uvqk_linear_.resize(B * 4 * C);
    uvqk_.resize(B * 4 * C);
    av_normed_.resize(B * C);
    gated_.resize(B * C);
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
void KvDecoder<T>::cache_position(int l, int n, const T* rows, int stride, int key_at,
                                  int value_at) {
  for (int b = 0; b < n; ++b) {
    const T* row = rows + int64_t(b) * stride;
    std::copy_n(row + key_at, d_model_, lane_cache(keys_, l, b) + int64_t(length_) * d_model_);
    std::copy_n(row + value_at, d_model_, lane_cache(values_, l, b) + int64_t(length_) * d_model_);
  }
}

template <class T>
void KvDecoder<T>::attend(int layer, int n) {
  const ModelConfig& c = model_.config();
  const int C = c.d_model, NH = c.n_head, hd = C / NH;
  const T scale = T(1) / std::sqrt(T(hd));
  const int visible = length_ + 1;  // this position attends to itself and every earlier one
  for (int b = 0; b < n; ++b) {
    const T* keys = lane_cache(keys_, layer, b);
    const T* values = lane_cache(values_, layer, b);
    for (int h = 0; h < NH; ++h) {
      const T* q = qkv_.data() + int64_t(b) * 3 * C + h * hd;
      T max_score = -std::numeric_limits<T>::infinity();
      for (int s = 0; s < visible; ++s) {
        const T* k = keys + int64_t(s) * C + h * hd;
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int i = 0; i < hd; ++i) dot += q[i] * k[i];
        scores_[s] = dot * scale;
        max_score = std::max(max_score, scores_[s]);
      }
      T total = 0;
      for (int s = 0; s < visible; ++s) {
        scores_[s] = std::exp(scores_[s] - max_score);
        total += scores_[s];
      }
      T* out = att_out_.data() + int64_t(b) * C + h * hd;
      std::fill(out, out + hd, T(0));
      for (int s = 0; s < visible; ++s) {
        const T weight = scores_[s] / total;
        const T* v = values + int64_t(s) * C + h * hd;
        for (int i = 0; i < hd; ++i) out[i] += weight * v[i];
      }
    }
  }
}

template <class T>
void KvDecoder<T>::attention_branch(int l, int n) {
  const int C = d_model_;
  const BlockOffsets& w = model_.layout().blocks[l];
  ops::layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(),
                         model_.param(w.ln1.weight), model_.param(w.ln1.bias), n, C);
  ops::matmul_forward(qkv_.data(), ln_.data(), model_.param(w.qkv.weight), model_.param(w.qkv.bias),
                      n, C, 3 * C);
  cache_position(l, n, qkv_.data(), 3 * C, C, 2 * C);
  attend(l, n);
  ops::matmul_forward(branch_.data(), att_out_.data(), model_.param(w.proj.weight),
                      model_.param(w.proj.bias), n, C, C);
}

// Each block below repeats its ModelCore::*_block_forward for the n new rows (no dropout).
template <class T>
void KvDecoder<T>::gpt_block(int l, int n) {
  const ModelConfig& c = model_.config();
  const int C = c.d_model, F = c.d_ff;
  const BlockOffsets& w = model_.layout().blocks[l];
  attention_branch(l, n);
  for (int64_t i = 0; i < int64_t(n) * C; ++i) x_[i] += branch_[i];

  ops::layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(),
                         model_.param(w.ln2.weight), model_.param(w.ln2.bias), n, C);
  ops::matmul_forward(fc1_.data(), ln_.data(), model_.param(w.fc1.weight), model_.param(w.fc1.bias),
                      n, C, F);
  ops::gelu_forward(gelu_.data(), fc1_.data(), int64_t(n) * F);
  ops::matmul_forward(branch_.data(), gelu_.data(), model_.param(w.fc2.weight),
                      model_.param(w.fc2.bias), n, F, C);
  for (int64_t i = 0; i < int64_t(n) * C; ++i) x_[i] += branch_[i];
}

template <class T>
void KvDecoder<T>::ligr_block(int l, int n) {
  const ModelConfig& c = model_.config();
  const int C = c.d_model, F = c.d_ff;
  const int64_t rows = int64_t(n) * C;
  const BlockOffsets& w = model_.layout().blocks[l];
  const T* no_bias = nullptr;
  attention_branch(l, n);
  ops::matmul_forward(gate_.data(), x_.data(), model_.param(w.attn_gate.weight),
                      model_.param(w.attn_gate.bias), n, C, C);
  ops::sigmoid_forward(gate_.data(), gate_.data(), rows);
  ops::gated_residual_forward(x_.data(), x_.data(), gate_.data(), branch_.data(), rows);

  ops::layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(),
                         model_.param(w.ln2.weight), model_.param(w.ln2.bias), n, C);
  ops::matmul_forward(gate_up_.data(), ln_.data(), model_.param(w.swiglu_gate), no_bias, n, C,
                      2 * F);
  ops::swiglu_forward(swiglu_.data(), gate_up_.data(), n, F);
  ops::matmul_forward(branch_.data(), swiglu_.data(), model_.param(w.swiglu_down), no_bias, n, F,
                      C);
  ops::matmul_forward(gate_.data(), x_.data(), model_.param(w.mlp_gate.weight),
                      model_.param(w.mlp_gate.bias), n, C, C);
  ops::sigmoid_forward(gate_.data(), gate_.data(), rows);
  ops::gated_residual_forward(x_.data(), x_.data(), gate_.data(), branch_.data(), rows);
}

template <class T>
void KvDecoder<T>::hstu_attend(int layer, int n) {
  const ModelConfig& c = model_.config();
  const int C = c.d_model, NH = c.n_head, hd = C / NH;
  const T inv_n = T(1) / T(c.max_len);  // as ModelCore::hstu_block_forward
  const T* bias_table = model_.param(model_.layout().blocks[layer].rel_pos_bias);
  const int t = length_;  // this position's index
  for (int b = 0; b < n; ++b) {
    const T* keys = lane_cache(keys_, layer, b);
    const T* values = lane_cache(values_, layer, b);
    for (int h = 0; h < NH; ++h) {
      const T* q = uvqk_.data() + int64_t(b) * 4 * C + 2 * C + h * hd;
      const T* bias = bias_table + int64_t(h) * c.max_len;
      T* out = att_out_.data() + int64_t(b) * C + h * hd;
      std::fill(out, out + hd, T(0));
      for (int s = 0; s <= t; ++s) {
        const T* k = keys + int64_t(s) * C + h * hd;
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int i = 0; i < hd; ++i) dot += q[i] * k[i];
        const T score = dot + bias[t - s];
        const T weight = score * (T(1) / (T(1) + std::exp(-score))) * inv_n;
        const T* v = values + int64_t(s) * C + h * hd;
        for (int i = 0; i < hd; ++i) out[i] += weight * v[i];
      }
    }
  }
}

template <class T>
void KvDecoder<T>::hstu_block(int l, int n) {
  const int C = model_.config().d_model;
  const BlockOffsets& w = model_.layout().blocks[l];
  ops::layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(),
                         model_.param(w.ln1.weight), model_.param(w.ln1.bias), n, C);
  ops::matmul_forward(uvqk_linear_.data(), ln_.data(), model_.param(w.uvqk.weight),
                      model_.param(w.uvqk.bias), n, C, 4 * C);
  ops::silu_forward(uvqk_.data(), uvqk_linear_.data(), int64_t(n) * 4 * C);
  cache_position(l, n, uvqk_.data(), 4 * C, 3 * C, C);
  hstu_attend(l, n);
  ops::layernorm_forward(av_normed_.data(), mean_.data(), rstd_.data(), att_out_.data(),
                         model_.param(w.av_norm.weight), model_.param(w.av_norm.bias), n, C);
  ops::hstu_gate_forward(gated_.data(), av_normed_.data(), uvqk_.data(), n, C);
  ops::matmul_forward(branch_.data(), gated_.data(), model_.param(w.hstu_out.weight),
                      model_.param(w.hstu_out.bias), n, C, C);
  for (int64_t i = 0; i < int64_t(n) * C; ++i) x_[i] += branch_[i];
}

template <class T>
const std::vector<T>& KvDecoder<T>::append_lanes(int n, const int32_t* items,
                                                 const int32_t* actions, const int32_t* categories,
                                                 const int32_t* time_gaps,
                                                 const int32_t* activities) {
  const ModelConfig& c = model_.config();
  const data::VocabSizes& vocab = model_.vocab();
  const ModelLayout& L = model_.layout();
  const int C = c.d_model;
  CF_CHECK(n >= 1 && n <= lanes_, "decoder: lanes fed must be between 1 and lanes()");
  if (length_ >= c.max_len)
    throw UserError("decoder: history is longer than model.max_len (" + std::to_string(c.max_len) +
                    " events)");
  for (int b = 0; b < n; ++b) {
    check_token(items[b], vocab.items, "item");
    if (L.action_emb != kAbsent) check_token(actions[b], vocab.actions, "action");
    if (L.category_emb != kAbsent) check_token(categories[b], vocab.categories, "category");
    if (L.time_gap_emb != kAbsent) check_token(time_gaps[b], vocab.time_gaps, "time_gap");
    if (L.activity_emb != kAbsent) check_token(activities[b], vocab.activities, "activity");
  }

  // Same op sequence as ModelCore::forward, for n rows of one position each (T = 1).
  std::fill(x_.begin(), x_.begin() + int64_t(n) * C, T(0));
  ops::embedding_forward(x_.data(), items, model_.param(L.item_emb), n, C);
  model_.add_input_item_features(x_.data(), items, n);
  if (L.action_emb != kAbsent)
    ops::embedding_forward(x_.data(), actions, model_.param(L.action_emb), n, C);
  if (L.category_emb != kAbsent)
    ops::embedding_forward(x_.data(), categories, model_.param(L.category_emb), n, C);
  if (L.time_gap_emb != kAbsent)
    ops::embedding_forward(x_.data(), time_gaps, model_.param(L.time_gap_emb), n, C);
  if (L.activity_emb != kAbsent)
    ops::embedding_forward(x_.data(), activities, model_.param(L.activity_emb), n, C);
  const T* pos = model_.param(L.pos_emb) + int64_t(length_) * C;
  for (int b = 0; b < n; ++b)
    for (int i = 0; i < C; ++i) x_[int64_t(b) * C + i] += pos[i];

  for (int l = 0; l < c.n_layer; ++l) {
    switch (c.block) {
      case BlockKind::kGpt:
        gpt_block(l, n);
        break;
      case BlockKind::kLigr:
        ligr_block(l, n);
        break;
      case BlockKind::kHstu:
        hstu_block(l, n);
        break;
    }
  }
  ops::layernorm_forward(hidden_.data(), mean_.data(), rstd_.data(), x_.data(),
                         model_.param(L.ln_f.weight), model_.param(L.ln_f.bias), n, C);
  ++length_;
  return hidden_;
}

template <typename T>
void KvDecoder<T>::truncate(int length) {
  CF_CHECK(length >= 0 && length <= length_, "decoder: truncate beyond the events fed");
  length_ = length;
}

template <typename T>
void KvDecoder<T>::copy_lane(int from, int to) {
  CF_CHECK(from >= 0 && from < lanes_ && to >= 0 && to < lanes_, "decoder: no such lane");
  if (from == to) return;
  const int64_t count = int64_t(length_) * d_model_;
  for (size_t l = 0; l < keys_.size(); ++l) {
    std::copy_n(lane_cache(keys_, int(l), from), count, lane_cache(keys_, int(l), to));
    std::copy_n(lane_cache(values_, int(l), from), count, lane_cache(values_, int(l), to));
  }
}

template class KvDecoder<float>;
template class KvDecoder<double>;

}  // namespace cf::trainer
