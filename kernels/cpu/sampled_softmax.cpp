// CPU sampled item losses with shared candidates: every row scores its own target and the same
// M candidate items, so the candidate logits of a chunk of rows are one GEMM (rows x C) @ (C x M)
// and both gradients are GEMMs too: the work runs at the speed of the full softmax per FLOP.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/blas_gemm.h"
#include "kernels/cpu/row_softmax.h"
#include "kernels/ops.h"

namespace cf::ops {

namespace {

// Rows per chunk: the unit of parallel work and of the fixed summation order of the candidate
// gradients (partials are added in chunk order), so results never depend on the thread count.
constexpr int kChunkRows = 256;

// log(1 + exp(x)) without overflow.
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

// One row's loss over its target logit `pos` and candidate logits x[0..M). The candidates at
// `hits` (mask[j] set for exactly those) are accidental hits, equal to the row's target, and
// take no part. Writes the logit gradients (times grad_scale) over x and into *dpos; returns
// the row's loss.
template <class T>
double row_loss_and_grad(SampledLoss kind, double gbce_beta, T* x, const uint8_t* mask,
                         const std::vector<int>& hits, int M, T pos, T* dpos, T grad_scale,
                         bool with_grads) {
  if (kind == SampledLoss::kSoftmax) {
    // The maximum over the candidates that are not hits (a vectorised pass, the hits pushed to
    // the bottom first), then the hits go far below it: their exponential is (clamped) ~1e-38
    // in float and 0 in double, and their gradient is set to exactly 0 below. The
    // exponentials are the full softmax's (exp_shifted_and_sum: vectorised in float).
    for (int j : hits) x[j] = std::numeric_limits<T>::lowest();
    const T top = std::max(pos, cpu::add_bias_and_max<T>(x, nullptr, M));
    for (int j : hits) x[j] = top - T(1000);
    const double e_pos = std::exp(double(pos) - double(top));
    const double sum = e_pos + cpu::exp_shifted_and_sum(x, top, M);
    const double loss = std::log(sum) + double(top) - double(pos);
    if (with_grads) {
      cpu::scale_row(x, T(double(grad_scale) / sum), M);
      for (int j : hits) x[j] = T(0);
      *dpos = T((e_pos / sum - 1.0) * double(grad_scale));
    }
    return loss;
  }
  // gBCE: -beta log sigmoid(pos) - sum_j log(1 - sigmoid(x_j)). With e = exp(-|x|) (one
  // vectorised exponential per logit): softplus(x) = max(x, 0) + log1p(e), and sigmoid(x) =
  // 1 / (1 + e) for x >= 0, e / (1 + e) otherwise.
  double loss = gbce_beta * softplus(-double(pos));
  thread_local std::vector<T> e;
  e.resize(size_t(M));
  for (int j = 0; j < M; ++j) e[size_t(j)] = -std::abs(x[j]);
  cpu::exp_shifted_and_sum(e.data(), T(0), M);
  for (int j = 0; j < M; ++j)
    if (!mask[j]) loss += double(std::max(x[j], T(0))) + std::log1p(double(e[size_t(j)]));
  if (with_grads) {
    for (int j = 0; j < M; ++j) {
      const T ej = e[size_t(j)];
      x[j] = mask[j] ? T(0) : (x[j] >= 0 ? T(1) : ej) / (T(1) + ej) * grad_scale;
    }
    *dpos = T(-gbce_beta * sigmoid(-double(pos)) * double(grad_scale));
  }
  return loss;
}

}  // namespace

// Per chunk of counted rows (parallel over chunks):
//   1. logits = h @ Wc^T + bc (one GEMM); target logit = h . w[target] + b[target];
//   2. minus log_q of each item when given; candidates equal to the row's target are masked;
//   3. per row: loss and logit gradients (softmax over target + candidates, or gBCE);
//   4. dh = dlogits @ Wc + dtarget * w[target]; partial dWc = dlogits^T @ h, partial dbc.
// Then the chunk partials are added in chunk order and scattered to the candidates' rows of
// dweight/dbias in candidate order, and the target gradients in row order: one fixed order.
template <class T>
double shared_candidates_loss_forward_backward(T* dhidden, T* dweight, T* dbias, int64_t* counted,
                                               const T* hidden, const T* weight, const T* bias,
                                               const int32_t* targets, int N, int C, int V,
                                               const int32_t* candidates, int M,
                                               const float* item_log_q, SampledLoss kind,
                                               double gbce_beta, T grad_scale) {
  std::vector<int> rows;
  rows.reserve(N);
  for (int n = 0; n < N; ++n) {
    if (targets[n] <= 0) continue;
    CF_CHECK(targets[n] < V, "sampled loss: target id outside the vocabulary");
    rows.push_back(n);
  }
  for (int j = 0; j < M; ++j)
    CF_CHECK(candidates[j] >= 0 && candidates[j] < V, "sampled loss: candidate outside the vocabulary");
  const int total = int(rows.size());
  if (counted) *counted = total;
  if (total == 0) return 0.0;
  const bool with_grads = dhidden != nullptr;

  // The candidates' weights and biases, gathered once: the right-hand side of every GEMM.
  std::vector<T> wc(int64_t(M) * C), bc(M, T(0)), cand_log_q(M, T(0));
  for (int j = 0; j < M; ++j) {
    std::memcpy(wc.data() + int64_t(j) * C, weight + int64_t(candidates[j]) * C, sizeof(T) * C);
    if (bias) bc[j] = bias[candidates[j]];
    if (item_log_q) cand_log_q[j] = T(item_log_q[candidates[j]]);
  }

  // What every row adds to its candidate logits (their bias, less log_q), and the candidates
  // sorted by item, where a row finds its accidental hits without a pass over all of them.
  std::vector<T> cand_offset(M);
  for (int j = 0; j < M; ++j) cand_offset[j] = bc[j] - cand_log_q[j];
  std::vector<std::pair<int32_t, int>> by_item(M);
  for (int j = 0; j < M; ++j) by_item[j] = {candidates[j], j};
  std::sort(by_item.begin(), by_item.end());
  // The candidates' weights are an operand of every product: in bf16 mode rounded once here.
  std::vector<uint16_t> wc_bf16;
  const cpu::GemmOperand<T> WC = cpu::shared_operand<T>(wc.data(), M, C, C, wc_bf16);

  const int chunks = (total + kChunkRows - 1) / kChunkRows;
  const int64_t dwc_size = int64_t(M) * C;
  auto dwc_partial = std::make_unique<T[]>(with_grads ? dwc_size * chunks : 0);
  auto dbc_partial = std::make_unique<T[]>(with_grads ? int64_t(M) * chunks : 0);
  std::vector<T> dtarget(with_grads ? total : 0);
  std::vector<double> chunk_loss(chunks, 0.0);
  const bool worth_threads = int64_t(total) * M * C > (1 << 18);

#pragma omp parallel num_threads(worth_threads ? cpu::blas_region_threads(chunks) : 1)
  {
    cpu::run_blas_serially_in_this_task();
    std::vector<T> h(int64_t(kChunkRows) * C), logits(int64_t(kChunkRows) * M),
        dh(int64_t(kChunkRows) * C);
    std::vector<uint8_t> mask(M, 0);  // set for the current row's hits only
    std::vector<int> hits;
    std::vector<uint16_t> h_bf16, logits_bf16;  // the chunk's operands in bf16 mode
#pragma omp for schedule(static)
    for (int chunk = 0; chunk < chunks; ++chunk) {
      const int first = chunk * kChunkRows;
      const int m = std::min(total, first + kChunkRows) - first;
      for (int r = 0; r < m; ++r)
        std::memcpy(h.data() + int64_t(r) * C, hidden + int64_t(rows[first + r]) * C,
                    sizeof(T) * C);
      const cpu::GemmOperand<T> H = cpu::shared_operand<T>(h.data(), m, C, C, h_bf16);
      cpu::gemm_row_major(false, true, m, M, C, T(1), H, WC, T(0), logits.data(), M);
      double loss = 0;
      for (int r = 0; r < m; ++r) {
        const int32_t target = targets[rows[first + r]];
        const T* hr = h.data() + int64_t(r) * C;
        const T* wt = weight + int64_t(target) * C;
        T pos = bias ? bias[target] : T(0);
        for (int c = 0; c < C; ++c) pos += hr[c] * wt[c];
        if (item_log_q) pos -= T(item_log_q[target]);
        T* x = logits.data() + int64_t(r) * M;
        for (int j = 0; j < M; ++j) x[j] += cand_offset[j];
        hits.clear();
        for (auto it = std::lower_bound(by_item.begin(), by_item.end(), std::pair{target, 0});
             it != by_item.end() && it->first == target; ++it)
          hits.push_back(it->second);
        for (int j : hits) mask[j] = 1;
        T dpos = 0;
        loss += row_loss_and_grad(kind, gbce_beta, x, mask.data(), hits, M, pos, &dpos,
                                  grad_scale, with_grads);
        for (int j : hits) mask[j] = 0;
        if (with_grads) dtarget[first + r] = dpos;
      }
      chunk_loss[chunk] = loss;
      if (!with_grads) continue;
      const cpu::GemmOperand<T> D = cpu::shared_operand<T>(logits.data(), m, M, M, logits_bf16);
      cpu::gemm_row_major(false, false, m, C, M, T(1), D, WC, T(0), dh.data(), C);
      for (int r = 0; r < m; ++r) {
        const int32_t target = targets[rows[first + r]];
        const T* wt = weight + int64_t(target) * C;
        const T dpos = dtarget[first + r];
        T* out = dhidden + int64_t(rows[first + r]) * C;
        const T* d = dh.data() + int64_t(r) * C;
        for (int c = 0; c < C; ++c) out[c] += d[c] + dpos * wt[c];
      }
      if (dweight)
        cpu::gemm_row_major(true, false, M, C, m, T(1), D, H, T(0),
                            dwc_partial.get() + dwc_size * chunk, C);
      if (dbias) {
        T* db = dbc_partial.get() + int64_t(M) * chunk;
        std::fill(db, db + M, T(0));
        for (int r = 0; r < m; ++r) {
          const T* x = logits.data() + int64_t(r) * M;
          for (int j = 0; j < M; ++j) db[j] += x[j];
        }
      }
    }
  }

  if (with_grads) {
    for (int j = 0; j < M; ++j) {
      const int32_t item = candidates[j];
      if (dweight) {
        T* dw = dweight + int64_t(item) * C;
        for (int chunk = 0; chunk < chunks; ++chunk) {
          const T* p = dwc_partial.get() + dwc_size * chunk + int64_t(j) * C;
          for (int c = 0; c < C; ++c) dw[c] += p[c];
        }
      }
      if (dbias)
        for (int chunk = 0; chunk < chunks; ++chunk)
          dbias[item] += dbc_partial[int64_t(M) * chunk + j];
    }
    for (int r = 0; r < total; ++r) {
      const int32_t target = targets[rows[r]];
      const T dpos = dtarget[r];
      if (dweight) {
        const T* hr = hidden + int64_t(rows[r]) * C;
        T* dw = dweight + int64_t(target) * C;
        for (int c = 0; c < C; ++c) dw[c] += dpos * hr[c];
      }
      if (dbias) dbias[target] += dpos;
    }
  }
  double loss = 0;
  for (double l : chunk_loss) loss += l;
  return loss;
}

#define CF_INSTANTIATE(T)                                                                   \
  template double shared_candidates_loss_forward_backward<T>(                               \
      T*, T*, T*, int64_t*, const T*, const T*, const T*, const int32_t*, int, int, int,    \
      const int32_t*, int, const float*, SampledLoss, double, T);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

}  // namespace cf::ops
