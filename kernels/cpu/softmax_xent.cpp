// CPU full-vocabulary softmax cross-entropy, fused forward + backward, in row chunks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/blas_gemm.h"
#include "kernels/cpu/row_softmax.h"
#include "kernels/ops.h"

namespace cf::ops {

namespace {

// Items per vocabulary block, the unit of all work on the logits: for chunks of up to ~256 rows
// and C = 64, one block of the chunk's logits (chunk_rows x kVocabBlock) and of the item table
// (kVocabBlock x C) stay in a core's L2 cache while every elementwise pass and product touches
// them. Fixed, so results never depend on the thread count (blas_gemm.h).
constexpr int kVocabBlock = 1024;

}  // namespace

// Per chunk of counted rows, with the vocabulary cut into blocks b:
//   1. per block (parallel): logits[:, b] = h @ weight[b]^T + bias[b]; per row, the block's
//      maximum m_b and s_b = sum exp(logit - m_b);
//   2. per row: max M = max_b m_b, sum = sum_b s_b exp(m_b - M), loss = log(sum) + M - target
//      logit, and the factor turning block b's exponentials into grad_scale * softmax;
//   3. per block (parallel): dlogits = exponentials * factor - grad_scale at the target,
//      dh partial = dlogits[:, b] @ weight[b], dweight[b] += dlogits[:, b]^T @ h, dbias[b] +=
//      column sums;
//   4. dhidden rows += the dh partials, added in block order.
// Where step 3 finds the exponentials depends on the products' cost. With fp32 products, step 1
// writes them over the chunk's logits (chunk x V) and step 3 reads them back: one trip through
// memory is cheaper than a fourth product. With bf16 products the product is the cheap part,
// so step 1 drops each block and step 3 computes it again (the same product and passes, so the
// same bits) while it is in cache: nothing of size V per row is ever stored.
// Only counted rows are gathered into the chunk, so padding positions (often most of a batch of
// short histories) cost nothing.
template <class T>
double softmax_xent_forward_backward(T* dhidden, T* dweight, T* dbias, int64_t* counted,
                                     const T* hidden, const T* weight, const T* bias,
                                     const int32_t* targets, int N, int C, int V, T grad_scale,
                                     int chunk_rows) {
  CF_CHECK(chunk_rows > 0, "softmax_xent: chunk_rows must be positive");
  std::vector<int> rows;
  rows.reserve(N);
  for (int n = 0; n < N; ++n) {
    if (targets[n] <= 0) continue;
    CF_CHECK(targets[n] < V, "softmax_xent: target id outside the vocabulary");
    rows.push_back(n);
  }
  const int total = int(rows.size());
  if (counted) *counted = total;
  if (total == 0) return 0.0;

  const bool with_grads = dhidden != nullptr;
  const int chunk = std::min(chunk_rows, total);
  const int blocks = (V + kVocabBlock - 1) / kVocabBlock;
  const int64_t h_size = int64_t(chunk) * C;
  const bool recompute = cpu::products_in_bf16<T>();
  // With stored exponentials: the chunk's logits, [chunk, V].
  auto stored = std::make_unique_for_overwrite<T[]>(recompute ? 0 : int64_t(chunk) * V);
  auto h = std::make_unique_for_overwrite<T[]>(h_size);
  auto dh_partial = std::make_unique_for_overwrite<T[]>(with_grads ? h_size * blocks : 0);
  // Per (row, block): the block maximum, its sum of exponentials, then the gradient factor.
  std::vector<T> block_max(int64_t(chunk) * blocks), block_factor(int64_t(chunk) * blocks);
  std::vector<double> block_sum(int64_t(chunk) * blocks);
  std::vector<int> target(chunk);
  std::vector<T> target_logit(chunk);
  std::vector<double> row_loss(total);
  // The weight (and per chunk the hidden rows) are operands of many products: in bf16 mode
  // they are rounded once here, not once per product.
  std::vector<uint16_t> weight_bf16, h_bf16;
  const cpu::GemmOperand<T> W = cpu::shared_operand(weight, V, C, C, weight_bf16);

  for (int start = 0; start < total; start += chunk) {
    const int m = std::min(chunk, total - start);
    const int region_threads =
        int64_t(m) * V * C > (1 << 18) ? cpu::blas_region_threads(blocks) : 1;
    for (int r = 0; r < m; ++r) {
      std::memcpy(h.get() + int64_t(r) * C, hidden + int64_t(rows[start + r]) * C, sizeof(T) * C);
      target[r] = targets[rows[start + r]];
    }
    const cpu::GemmOperand<T> H = cpu::shared_operand<T>(h.get(), m, C, C, h_bf16);
    // Block b's logits before the bias, [m, width] with row stride ld, into `x`.
    auto block_logits = [&](int b, T* x, int ld) {
      const int v0 = b * kVocabBlock;
      const int width = std::min(V, v0 + kVocabBlock) - v0;
      cpu::gemm_row_major(false, true, m, width, C, T(1), H, W.rows_from(v0), T(0), x, ld);
      return width;
    };

#pragma omp parallel num_threads(region_threads)
    {
      cpu::run_blas_serially_in_this_task();
      std::vector<T> own(recompute ? size_t(m) * kVocabBlock : 0);  // this thread's block
#pragma omp for schedule(static)
      for (int b = 0; b < blocks; ++b) {
        const int v0 = b * kVocabBlock;
        T* logits = recompute ? own.data() : stored.get() + v0;
        const int ld = recompute ? std::min(V - v0, kVocabBlock) : V;
        const int width = block_logits(b, logits, ld);
        for (int r = 0; r < m; ++r) {
          T* x = logits + int64_t(r) * ld;
          const T max_logit = cpu::add_bias_and_max(x, bias ? bias + v0 : nullptr, width);
          if (target[r] >= v0 && target[r] < v0 + width) target_logit[r] = x[target[r] - v0];
          block_max[int64_t(r) * blocks + b] = max_logit;
          block_sum[int64_t(r) * blocks + b] = cpu::exp_shifted_and_sum(x, max_logit, width);
        }
      }
    }

    for (int r = 0; r < m; ++r) {
      const T* maxima = block_max.data() + int64_t(r) * blocks;
      const double* sums = block_sum.data() + int64_t(r) * blocks;
      const double top = double(*std::max_element(maxima, maxima + blocks));
      double sum = 0;
      for (int b = 0; b < blocks; ++b) sum += sums[b] * std::exp(double(maxima[b]) - top);
      row_loss[start + r] = std::log(sum) + top - double(target_logit[r]);
      T* factor = block_factor.data() + int64_t(r) * blocks;
      for (int b = 0; b < blocks; ++b)
        factor[b] = T(double(grad_scale) * std::exp(double(maxima[b]) - top) / sum);
    }
    if (!with_grads) continue;

#pragma omp parallel num_threads(region_threads)
    {
      cpu::run_blas_serially_in_this_task();
      std::vector<T> own(recompute ? size_t(m) * kVocabBlock : 0);  // this thread's block
      std::vector<uint16_t> dlogits_bf16;                          // its bf16 copy
#pragma omp for schedule(static)
      for (int b = 0; b < blocks; ++b) {
        const int v0 = b * kVocabBlock;
        const int width = std::min(V, v0 + kVocabBlock) - v0;
        T* dlogits = recompute ? own.data() : stored.get() + v0;
        const int ld = recompute ? width : V;
        if (recompute) block_logits(b, dlogits, ld);
        for (int r = 0; r < m; ++r) {
          T* x = dlogits + int64_t(r) * ld;
          const T factor = block_factor[int64_t(r) * blocks + b];
          if (recompute)
            cpu::exp_shifted_scaled(x, bias ? bias + v0 : nullptr,
                                    block_max[int64_t(r) * blocks + b], factor, width);
          else
            cpu::scale_row(x, factor, width);
          if (target[r] >= v0 && target[r] < v0 + width) x[target[r] - v0] -= grad_scale;
        }
        const cpu::GemmOperand<T> D = cpu::shared_operand<T>(dlogits, m, width, ld, dlogits_bf16);
        cpu::gemm_row_major(false, false, m, C, width, T(1), D, W.rows_from(v0), T(0),
                            dh_partial.get() + h_size * b, C);
        if (dweight)
          cpu::gemm_row_major(true, false, width, C, m, T(1), D, H, T(1),
                              dweight + int64_t(v0) * C, C);
        if (dbias) {
          T sums[kVocabBlock] = {};
          for (int r = 0; r < m; ++r) {
            const T* x = dlogits + int64_t(r) * ld;
            for (int j = 0; j < width; ++j) sums[j] += x[j];
          }
          for (int j = 0; j < width; ++j) dbias[v0 + j] += sums[j];
        }
      }
    }

#pragma omp parallel for schedule(static) if (int64_t(m) * C * blocks > 65536)
    for (int r = 0; r < m; ++r) {
      T* d = dhidden + int64_t(rows[start + r]) * C;
      for (int b = 0; b < blocks; ++b) {
        const T* g = dh_partial.get() + h_size * b + int64_t(r) * C;
        for (int c = 0; c < C; ++c) d[c] += g[c];
      }
    }
  }

  double loss = 0;
  for (double l : row_loss) loss += l;
  return loss;
}

#define CF_INSTANTIATE(T)                           \
  template double softmax_xent_forward_backward<T>( \
      T*, T*, T*, int64_t*, const T*, const T*, const T*, const int32_t*, int, int, int, T, int);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

}  // namespace cf::ops
