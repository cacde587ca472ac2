// ActivationArena: every activation and scratch gradient of one (B, T) shape, carved out of a
// single allocation that is made once per shape and reused by every step.
//
// Row-wise activations are PACKED: only the real (non-padding) positions of the batch, in
// order, as rows [0, rows). Only attention needs the padded [B, T] layout; its inputs and
// outputs are scattered/gathered around the op. Buffers are sized for the worst case B*T rows.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/ops.h"
#include "trainer/model/model_types.h"

namespace cf::trainer {

// Per-block activations kept for backward. Which pointers are carved depends on the block kind
// (ModelConfig::block); the others stay null.
template <class T>
struct BlockActivations {
  T *ln1, *ln1_mean, *ln1_rstd;  // [N, C], [N], [N]: every kind
  // gpt and ligr: softmax attention and the FFN's pre-norm.
  T* qkv;      // [B*T, 3C] padded layout (padding rows zero), as attention wants
  // [B, NH, T, T] softmax probabilities, or for long batches (ops::attention_is_tiled) only
  // each row's softmax statistics, [B, NH, T, 2]
  T* att;
  T* att_out;  // [N, C] attention output before the projection (packed)
  T* proj;     // [N, C] projection output before dropout
  T* res_mid;  // [N, C] residual stream between attention and FFN
  T *ln2, *ln2_mean, *ln2_rstd;
  T* fc1;   // gpt: [N, F] before GELU
  T* gelu;  // gpt: [N, F]
  T* fc2;   // gpt and ligr: [N, C] FFN output before dropout
  // ligr: the branch gates after their sigmoid and the SwiGLU FFN's inside.
  T *attn_gate, *mlp_gate;  // [N, C]
  T* gate_up;               // [N, 2F] the gate | up projections, before SwiGLU
  T* swiglu;                // [N, F] silu(gate) * up
  // hstu.
  T* uvqk_linear;  // [N, 4C] f1 output before SiLU
  T* uvqk;         // [N, 4C] U | V | Q | K after SiLU
  T* scores;       // [B, NH, T, T] q.k + position bias, before SiLU
  T* av;           // [N, C] attention output (sum of silu(score)/n * v)
  T *av_normed, *av_mean, *av_rstd;  // its LayerNorm
  T* gated;        // [N, C] av_normed * U, f2's input
  T* out;          // [N, C] f2 output before dropout
};

template <class T>
class ActivationArena {
 public:
  // Carves the arena for shape (B, T): a no-op for the shape it already has; memory only ever
  // grows, so alternating training and evaluation shapes does not reallocate every time.
  void ensure(const ModelConfig& c, int B, int Tlen) {
    if (B == B_ && Tlen == T_) return;
    B_ = B;
    T_ = Tlen;
    // Pass 1 counts, pass 2 hands out pointers: one allocation, no size arithmetic to drift.
    int64_t total = 0;
    carve(c, int64_t(B), int64_t(Tlen), [&total](int64_t n) -> T* {
      total += n;
      return nullptr;
    });
    if (static_cast<size_t>(total) > storage_.size()) {
      storage_.clear();
      storage_.shrink_to_fit();
      storage_.resize(static_cast<size_t>(total));
    }
    T* cursor = storage_.data();
    carve(c, int64_t(B), int64_t(Tlen), [&cursor](int64_t n) {
      T* p = cursor;
      cursor += n;
      return p;
    });
    const auto N = static_cast<size_t>(int64_t(B) * Tlen);
    for (auto* ids : {&packed_item, &packed_action, &packed_category, &packed_time_gap,
                      &packed_activity, &packed_position, &packed_origin, &row_index, &row_target})
      if (ids->size() < N) ids->resize(N);
    if (sequence_start.size() < size_t(B)) sequence_start.resize(B);
    if (row_logit.size() < size_t(B)) row_logit.resize(B);
    if (row_d_logit.size() < size_t(B)) row_d_logit.resize(B);
    if (row_label.size() < size_t(B)) row_label.resize(B);
  }

  // Bytes ensure(c, B, Tlen) allocates, counted in double so that absurd shapes (a config
  // asking for petabytes) are measured instead of overflowing: for refusing them up front.
  // Linear in n_layer, so it is measured at one and two layers and extrapolated: no pointer
  // tables for a billion layers either.
  static double bytes_needed(const ModelConfig& c, double B, double Tlen) {
    auto elements_at = [&](int layers) {
      ModelConfig shallow = c;
      shallow.n_layer = layers;
      ActivationArena counter;
      double elements = 0;
      counter.carve(shallow, B, Tlen, [&elements](double n) -> T* {
        elements += n;
        return nullptr;
      });
      return elements;
    };
    const double one = elements_at(1), per_layer = elements_at(2) - one;
    const double elements = one + per_layer * double(c.n_layer - 1);
    constexpr double kIdVectors = 9;  // packed_* ids, row_index, row_target: int32 per position
    return elements * double(sizeof(T)) + kIdVectors * B * Tlen * double(sizeof(int32_t));
  }

  int batch_size() const { return B_; }
  int seq_len() const { return T_; }

  // Packing of the current batch: packed row r is position packed_origin[r] = b*T + t.
  int rows = 0;
  std::vector<int32_t> packed_item, packed_action, packed_category, packed_time_gap;
  std::vector<int32_t> packed_activity, packed_position, packed_origin;
  std::vector<int32_t> sequence_start;  // [B] packed row of each sequence's first event

  T* encoded = nullptr;      // [N, C] sum of embeddings before dropout
  std::vector<T*> residual;  // n_layer + 1 x [N, C]: input of block l; last -> ln_f
  std::vector<BlockActivations<T>> blocks;
  T *hidden = nullptr, *hidden_mean = nullptr, *hidden_rstd = nullptr;  // ln_f output [N, C]
  T* dropout_out = nullptr;  // [N, C] dropout(branch) before the residual add
  // Attention's padded-layout scratch: qkv rows before the scatter, output before the gather.
  T *packed_qkv = nullptr, *padded_att_out = nullptr;
  T *d_padded_att_out = nullptr, *d_padded_qkv = nullptr;
  // Backward scratch; every backward op accumulates, so each is zeroed before use.
  T *d_residual = nullptr, *d_hidden = nullptr, *d_ln = nullptr, *d_branch = nullptr;
  T *d_qkv = nullptr, *d_fc1 = nullptr, *d_gelu = nullptr;
  T *d_gate_logit = nullptr, *d_gate_up = nullptr;  // ligr: [N, C], [N, 2F]
  T *d_uvqk = nullptr, *d_uvqk_linear = nullptr;    // hstu: [N, 4C] after / before SiLU
  // Loss heads work on compacted rows (only positions with a target), gathered here.
  T *gathered = nullptr, *d_gathered = nullptr;
  std::vector<int32_t> row_index, row_target, negatives;
  std::vector<T> row_logit, row_d_logit;
  std::vector<float> row_label;

 private:
  // Size: int64_t to carve, double to measure any shape without overflow.
  template <class Size, class Take>
  void carve(const ModelConfig& c, Size B, Size Tlen, Take take) {
    const Size N = B * Tlen, C = c.d_model, F = c.d_ff;
    encoded = take(N * C);
    residual.assign(c.n_layer + 1, nullptr);
    for (auto& r : residual) r = take(N * C);
    blocks.assign(c.n_layer, {});
    const bool softmax_attention = c.block != BlockKind::kHstu;  // gpt, ligr
    for (auto& l : blocks) {
      l.ln1 = take(N * C);
      l.ln1_mean = take(N);
      l.ln1_rstd = take(N);
      if (softmax_attention) {
        l.qkv = take(3 * N * C);
        l.att = take(B * c.n_head * Tlen * (ops::attention_is_tiled(double(Tlen)) ? 2 : Tlen));
        l.att_out = take(N * C);
        l.proj = take(N * C);
        l.res_mid = take(N * C);
        l.ln2 = take(N * C);
        l.ln2_mean = take(N);
        l.ln2_rstd = take(N);
      }
      if (c.block == BlockKind::kGpt) {
        l.fc1 = take(N * F);
        l.gelu = take(N * F);
      }
      if (softmax_attention) l.fc2 = take(N * C);
      if (c.block == BlockKind::kLigr) {
        l.attn_gate = take(N * C);
        l.mlp_gate = take(N * C);
        l.gate_up = take(2 * N * F);
        l.swiglu = take(N * F);
      }
      if (c.block == BlockKind::kHstu) {
        l.uvqk_linear = take(4 * N * C);
        l.uvqk = take(4 * N * C);
        l.scores = take(B * c.n_head * Tlen * Tlen);
        l.av = take(N * C);
        l.av_normed = take(N * C);
        l.av_mean = take(N);
        l.av_rstd = take(N);
        l.gated = take(N * C);
        l.out = take(N * C);
      }
    }
    hidden = take(N * C);
    hidden_mean = take(N);
    hidden_rstd = take(N);
    dropout_out = take(N * C);
    if (softmax_attention) {
      packed_qkv = take(3 * N * C);
      padded_att_out = take(N * C);
      d_padded_att_out = take(N * C);
      d_padded_qkv = take(3 * N * C);
    }
    d_residual = take(N * C);
    d_hidden = take(N * C);
    d_ln = take(N * C);
    d_branch = take(N * C);
    if (softmax_attention) d_qkv = take(3 * N * C);
    if (c.block == BlockKind::kGpt) d_fc1 = take(N * F);
    if (softmax_attention) d_gelu = take(N * F);  // ligr: d(swiglu)
    gathered = take(N * C);
    d_gathered = take(N * C);
    if (c.block == BlockKind::kLigr) {
      d_gate_logit = take(N * C);
      d_gate_up = take(2 * N * F);
    }
    if (c.block == BlockKind::kHstu) {
      d_uvqk = take(4 * N * C);
      d_uvqk_linear = take(4 * N * C);
    }
  }

  int B_ = -1, T_ = -1;
  std::vector<T> storage_;
};

}  // namespace cf::trainer
