// CPU sampled softmax cross-entropy: the target against K sampled negatives per row.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/ops.h"

namespace cf::ops {

namespace {

// Rows share items, so the item-table gradient cannot be split by rows. Candidate slots are
// grouped by item with a counting sort that keeps slot order; each item is then finished by
// one thread, summing its slots in order: bitwise the same for any thread count, no atomics,
// and every gradient row is written once instead of once per hit.
template <class T>
void scatter_item_gradients(T* dweight, T* dbias, const std::vector<int32_t>& ids,
                            const std::vector<T>& dlogit, const T* hidden, int cand, int C) {
  const int64_t slots = int64_t(ids.size());
  int32_t max_id = -1;
  for (int32_t id : ids) max_id = std::max(max_id, id);
  const int items = max_id + 1;
  std::vector<int64_t> begin(int64_t(items) + 1, 0);
  for (int32_t id : ids)
    if (id >= 0) ++begin[id + 1];
  for (int v = 0; v < items; ++v) begin[v + 1] += begin[v];
  std::vector<int64_t> order(begin[items]);
  std::vector<int64_t> next(begin.begin(), begin.end() - 1);
  for (int64_t k = 0; k < slots; ++k)
    if (ids[k] >= 0) order[next[ids[k]]++] = k;

#pragma omp parallel for schedule(dynamic, 1024) if (order.size() * C > 65536)
  for (int v = 0; v < items; ++v) {
    if (begin[v] == begin[v + 1]) continue;
    T bias_sum = 0;
    for (int64_t o = begin[v]; o < begin[v + 1]; ++o) {
      const int64_t k = order[o];
      const T g = dlogit[k];
      bias_sum += g;
      if (!dweight) continue;
      const T* h = hidden + (k / cand) * C;
      T* dw = dweight + int64_t(v) * C;
      for (int c = 0; c < C; ++c) dw[c] += g * h[c];
    }
    if (dbias) dbias[v] += bias_sum;
  }
}

// Item rows are read in random order; asking for the next one early hides part of the latency.
template <class T>
inline void prefetch_row(const T* row, int C) {
  for (int c = 0; c < C; c += int(64 / sizeof(T))) __builtin_prefetch(row + c);
}

}  // namespace

// Candidate j of row n is the target for j == 0, else negatives[n * K + j - 1]. A negative equal
// to the target (an accidental hit) or <= 0 (padding) is masked: it gets no probability and no
// gradient. Repeated negatives are kept, as sampled with replacement.
template <class T>
double sampled_softmax_xent_forward_backward(T* dhidden, T* dweight, T* dbias, int64_t* counted,
                                             const T* hidden, const T* weight, const T* bias,
                                             const int32_t* targets, const int32_t* negatives,
                                             int N, int C, int K, T grad_scale) {
  const int cand = K + 1;
  // Per candidate: its item id (-1 when masked or the row is ignored) and, after the pass
  // below, its logit gradient.
  std::vector<int32_t> ids(int64_t(N) * cand);
  std::vector<T> dlogit(int64_t(N) * cand, T(0));
  std::vector<double> row_loss(N, 0.0);
  int64_t rows_counted = 0;
  for (int n = 0; n < N; ++n) {
    int32_t* id = ids.data() + int64_t(n) * cand;
    const int32_t target = targets[n];
    if (target <= 0) {
      std::fill(id, id + cand, -1);
      continue;
    }
    ++rows_counted;
    id[0] = target;
    for (int j = 1; j < cand; ++j) {
      const int32_t neg = negatives[int64_t(n) * K + j - 1];
      id[j] = (neg <= 0 || neg == target) ? -1 : neg;
    }
  }
  if (counted) *counted = rows_counted;
  const bool with_grads = dhidden != nullptr;
  const bool worth_threads = int64_t(N) * cand * C > 65536;

#pragma omp parallel if (worth_threads)
  {
    std::vector<T> logit(cand);
    std::vector<T> dh(C);
#pragma omp for schedule(static)
    for (int n = 0; n < N; ++n) {
      const int32_t* id = ids.data() + int64_t(n) * cand;
      if (id[0] < 0) continue;
      const T* h = hidden + int64_t(n) * C;
      T max_logit = -std::numeric_limits<T>::infinity();
      for (int j = 0; j < cand; ++j) {
        if (j + 2 < cand && id[j + 2] >= 0) prefetch_row(weight + int64_t(id[j + 2]) * C, C);
        if (id[j] < 0) continue;
        const T* w = weight + int64_t(id[j]) * C;
        T dot = bias ? bias[id[j]] : T(0);
#pragma omp simd reduction(+ : dot)
        for (int c = 0; c < C; ++c) dot += h[c] * w[c];
        logit[j] = dot;
        max_logit = std::max(max_logit, dot);
      }
      double sum = 0;
      for (int j = 0; j < cand; ++j)
        if (id[j] >= 0) sum += std::exp(double(logit[j] - max_logit));
      row_loss[n] = std::log(sum) + double(max_logit) - double(logit[0]);
      if (!with_grads) continue;
      T* dl = dlogit.data() + int64_t(n) * cand;
      std::fill(dh.begin(), dh.end(), T(0));
      for (int j = 0; j < cand; ++j) {
        if (id[j] < 0) continue;
        const double prob = std::exp(double(logit[j] - max_logit)) / sum;
        dl[j] = T((prob - (j == 0 ? 1.0 : 0.0)) * double(grad_scale));
        const T* w = weight + int64_t(id[j]) * C;
        for (int c = 0; c < C; ++c) dh[c] += dl[j] * w[c];
      }
      T* dhidden_row = dhidden + int64_t(n) * C;
      for (int c = 0; c < C; ++c) dhidden_row[c] += dh[c];
    }
  }

  if (with_grads && (dweight || dbias))
    scatter_item_gradients(dweight, dbias, ids, dlogit, hidden, cand, C);
  double loss = 0;
  for (double l : row_loss) loss += l;
  return loss;
}

#define CF_INSTANTIATE(T)                                                                      \
  template double sampled_softmax_xent_forward_backward<T>(T*, T*, T*, int64_t*, const T*,     \
                                                           const T*, const T*, const int32_t*, \
                                                           const int32_t*, int, int, int, T);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

}  // namespace cf::ops
