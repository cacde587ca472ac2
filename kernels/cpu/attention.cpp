// CPU causal multi-head attention with key padding: per (batch, head) a few BLAS products and
// row softmaxes between them, either keeping the probabilities for backward or, tiled over the
// queries, only each row's softmax statistics.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/attention_mask.h"
#include "kernels/cpu/blas_gemm.h"
#include "kernels/cpu/row_softmax.h"
#include "kernels/ops.h"

namespace cf::ops {

namespace {

// What every form derives from the shapes, after checking them: qkv rows hold q | k | v.
// Also where a (batch, head)'s rows start in each tensor.
template <class T>
struct HeadShape {
  int Tlen, C, NH;
  int hs, row;         // head size; floats per qkv row
  T scale;             // 1 / sqrt(hs)
  int tile;            // query rows per tile of the tiled form
  bool worth_threads;  // enough work to wake the other threads

  HeadShape(const int32_t* lengths, int B, int Tlen_, int C_, int NH_)
      : Tlen(Tlen_), C(C_), NH(NH_) {
    CF_CHECK(NH > 0 && C % NH == 0, "attention: C must be a multiple of NH");
    for (int b = 0; b < B; ++b)
      CF_CHECK(lengths[b] >= 0 && lengths[b] <= Tlen, "attention: lengths[b] outside [0, T]");
    hs = C / NH;
    row = 3 * C;
    scale = T(1) / std::sqrt(T(hs));
    tile = std::max(1, std::min(Tlen, kAttentionQueryTile));
    worth_threads = int64_t(B) * NH * Tlen * Tlen * hs > 65536;
  }
  // Its q in qkv (and dq in dqkv); k and v follow at + C and + 2C.
  int64_t qkv_offset(int b, int h) const { return int64_t(b) * Tlen * row + h * hs; }
  // Its columns of out (and dout), rows C apart.
  int64_t out_offset(int b, int h) const { return int64_t(b) * Tlen * C + h * hs; }
  // Its index among the B * NH (batch, head) pairs: where its probabilities or statistics are.
  int64_t head(int b, int h) const { return int64_t(b) * NH + h; }
};

// Query row p's softmax over its `nvis` visible keys, in place, and 0 from there to `width`.
// Returns the row's maximum and 1 / sum of exponentials (both 0 for a row without keys), the
// statistics exp_shifted_scaled needs to make the same bits again.
template <class T>
std::pair<T, T> softmax_of_visible(T* p, int nvis, int width) {
  std::fill(p + nvis, p + width, T(0));
  if (nvis == 0) return {T(0), T(0)};
  const T top = cpu::add_bias_and_max<T>(p, nullptr, nvis);
  const T inverse_sum = T(1.0 / cpu::exp_shifted_and_sum(p, top, nvis));
  cpu::scale_row(p, inverse_sum, nvis);
  return {top, inverse_sum};
}

// The softmax Jacobian on one query row: d = p (d - sum_s p[s] d[s]) * scale over the visible
// keys, and 0 from there to `width`.
template <class T>
void softmax_backward_of_visible(const T* p, T* d, int nvis, int width, T scale) {
  T expected = 0;  // sum_s p[s] dP[s], the Jacobian's shared term
  for (int s = 0; s < nvis; ++s) expected += p[s] * d[s];
  for (int s = 0; s < nvis; ++s) d[s] = p[s] * (d[s] - expected) * scale;
  std::fill(d + nvis, d + width, T(0));
}

}  // namespace

// Per (batch, head), with L = lengths[b] real keys, as products over the whole sequence:
//   S = scale * Q K^T ([T, L], written into the probability rows), then per query row t the
//   softmax over its visible keys s < visible_keys(t, L) (the rest set to 0), then O = P V.
// Each (batch, head) is one task with single-threaded BLAS calls, so the bits do not depend on
// the thread count.
template <class T>
void attention_forward(T* out, T* att, const T* qkv, const int32_t* lengths, int B, int Tlen, int C,
                       int NH) {
  const HeadShape<T> shape(lengths, B, Tlen, C, NH);
  const int hs = shape.hs, row = shape.row;
  const T scale = shape.scale;
#pragma omp parallel if (shape.worth_threads)
  {
    cpu::run_blas_serially_in_this_task();
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b) {
      for (int h = 0; h < NH; ++h) {
        const int L = lengths[b];
        const T* q = qkv + shape.qkv_offset(b, h);
        const T* k = q + C;
        const T* v = q + 2 * C;
        T* a = att + shape.head(b, h) * Tlen * Tlen;
        T* o = out + shape.out_offset(b, h);
        cpu::gemm_row_major_unrounded(false, true, Tlen, L, hs, scale, q, row, k, row, T(0), a,
                                      Tlen);
        for (int t = 0; t < Tlen; ++t) {
          softmax_of_visible(a + int64_t(t) * Tlen, visible_keys(t, L), Tlen);
        }
        if (L == 0) {
          for (int t = 0; t < Tlen; ++t) std::fill(o + int64_t(t) * C, o + int64_t(t) * C + hs, T(0));
          continue;
        }
        cpu::gemm_row_major_unrounded(false, false, Tlen, hs, L, T(1), a, Tlen, v, row, T(0), o, C);
      }
    }
  }
}

// Per (batch, head), the same products backwards: dP = dO V^T; dS = P (dP - rowsum(P dP)) *
// scale on the visible keys; dV += P^T dO, dQ += dS K, dK += dS^T Q. A task owns its (batch,
// head)'s keys and values, so the sums need no atomics and their order is fixed.
template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* att, const int32_t* lengths,
                        int B, int Tlen, int C, int NH) {
  const HeadShape<T> shape(lengths, B, Tlen, C, NH);
  const int hs = shape.hs, row = shape.row;
  const T scale = shape.scale;
#pragma omp parallel if (shape.worth_threads)
  {
    cpu::run_blas_serially_in_this_task();
    std::vector<T> ds(size_t(std::max(Tlen, 1)) * std::max(Tlen, 1));  // dP, then dS: [T, L]
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b) {
      for (int h = 0; h < NH; ++h) {
        const int L = lengths[b];
        if (L == 0) continue;
        const int64_t offset = shape.qkv_offset(b, h);
        const T *q = qkv + offset, *k = q + C, *v = q + 2 * C;
        T *dq = dqkv + offset, *dk = dq + C, *dv = dq + 2 * C;
        const T* g = dout + shape.out_offset(b, h);
        const T* a = att + shape.head(b, h) * Tlen * Tlen;
        cpu::gemm_row_major_unrounded(false, true, Tlen, L, hs, T(1), g, C, v, row, T(0),
                                      ds.data(), L);
        for (int t = 0; t < Tlen; ++t) {
          softmax_backward_of_visible(a + int64_t(t) * Tlen, ds.data() + int64_t(t) * L,
                                      visible_keys(t, L), L, scale);
        }
        cpu::gemm_row_major_unrounded(true, false, L, hs, Tlen, T(1), a, Tlen, g, C, T(1), dv, row);
        cpu::gemm_row_major_unrounded(false, false, Tlen, hs, L, T(1), ds.data(), L, k, row, T(1),
                                      dq, row);
        cpu::gemm_row_major_unrounded(true, false, L, hs, Tlen, T(1), ds.data(), L, q, row, T(1),
                                      dk, row);
      }
    }
  }
}

// The tiled form: per (batch, head), query tiles of kAttentionQueryTile rows, each tile's
// scores [rows, keys] in a buffer of this thread. Per query row only the softmax statistics
// (its maximum and 1/sum) are kept; backward computes the probabilities again from them, with
// the bits the forward had (exp_shifted_scaled), so no [B, NH, T, T] tensor exists.
template <class T>
void attention_forward_tiled(T* out, T* stats, const T* qkv, const int32_t* lengths, int B,
                             int Tlen, int C, int NH) {
  const HeadShape<T> shape(lengths, B, Tlen, C, NH);
  const int hs = shape.hs, row = shape.row, tile = shape.tile;
  const T scale = shape.scale;
#pragma omp parallel if (shape.worth_threads)
  {
    cpu::run_blas_serially_in_this_task();
    std::vector<T> scores(size_t(tile) * std::max(Tlen, 1));
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b) {
      for (int h = 0; h < NH; ++h) {
        const int L = lengths[b];
        const T* q = qkv + shape.qkv_offset(b, h);
        const T* k = q + C;
        const T* v = q + 2 * C;
        T* o = out + shape.out_offset(b, h);
        T* st = stats + shape.head(b, h) * Tlen * 2;
        for (int t0 = 0; t0 < Tlen; t0 += tile) {
          const int rows = std::min(tile, Tlen - t0);
          const int keys = visible_keys(t0 + rows - 1, L);  // the tile's last row sees most
          if (keys == 0) {
            for (int t = t0; t < t0 + rows; ++t) {
              std::fill(o + int64_t(t) * C, o + int64_t(t) * C + hs, T(0));
              st[2 * t] = T(0);
              st[2 * t + 1] = T(0);
            }
            continue;
          }
          T* a = scores.data();
          cpu::gemm_row_major_unrounded(false, true, rows, keys, hs, scale, q + int64_t(t0) * row,
                                        row, k, row, T(0), a, keys);
          for (int t = t0; t < t0 + rows; ++t) {
            std::tie(st[2 * t], st[2 * t + 1]) =
                softmax_of_visible(a + int64_t(t - t0) * keys, visible_keys(t, L), keys);
          }
          cpu::gemm_row_major_unrounded(false, false, rows, hs, keys, T(1), a, keys, v, row, T(0),
                                        o + int64_t(t0) * C, C);
        }
      }
    }
  }
}

template <class T>
void attention_backward_tiled(T* dqkv, const T* dout, const T* qkv, const T* stats,
                              const int32_t* lengths, int B, int Tlen, int C, int NH) {
  const HeadShape<T> shape(lengths, B, Tlen, C, NH);
  const int hs = shape.hs, row = shape.row, tile = shape.tile;
  const T scale = shape.scale;
#pragma omp parallel if (shape.worth_threads)
  {
    cpu::run_blas_serially_in_this_task();
    const size_t tile_size = size_t(tile) * std::max(Tlen, 1);
    std::vector<T> probabilities(tile_size), ds(tile_size);  // [rows, keys] each
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b) {
      for (int h = 0; h < NH; ++h) {
        const int L = lengths[b];
        if (L == 0) continue;
        const int64_t offset = shape.qkv_offset(b, h);
        const T *q = qkv + offset, *k = q + C, *v = q + 2 * C;
        T *dq = dqkv + offset, *dk = dq + C, *dv = dq + 2 * C;
        const T* g = dout + shape.out_offset(b, h);
        const T* st = stats + shape.head(b, h) * Tlen * 2;
        for (int t0 = 0; t0 < Tlen; t0 += tile) {
          const int rows = std::min(tile, Tlen - t0);
          const int keys = visible_keys(t0 + rows - 1, L);
          T* a = probabilities.data();
          T* d = ds.data();
          cpu::gemm_row_major_unrounded(false, true, rows, keys, hs, scale, q + int64_t(t0) * row,
                                        row, k, row, T(0), a, keys);
          cpu::gemm_row_major_unrounded(false, true, rows, keys, hs, T(1), g + int64_t(t0) * C, C,
                                        v, row, T(0), d, keys);
          for (int t = t0; t < t0 + rows; ++t) {
            T* p = a + int64_t(t - t0) * keys;
            T* dp = d + int64_t(t - t0) * keys;
            const int nvis = visible_keys(t, L);
            cpu::exp_shifted_scaled<T>(p, nullptr, st[2 * t], st[2 * t + 1], nvis);
            std::fill(p + nvis, p + keys, T(0));  // the score product filled the masked keys
            softmax_backward_of_visible(p, dp, nvis, keys, scale);
          }
          cpu::gemm_row_major_unrounded(true, false, keys, hs, rows, T(1), a, keys,
                                        g + int64_t(t0) * C, C, T(1), dv, row);
          cpu::gemm_row_major_unrounded(false, false, rows, hs, keys, T(1), d, keys, k, row, T(1),
                                        dq + int64_t(t0) * row, row);
          cpu::gemm_row_major_unrounded(true, false, keys, hs, rows, T(1), d, keys,
                                        q + int64_t(t0) * row, row, T(1), dk, row);
        }
      }
    }
  }
}

#define CF_INSTANTIATE(T)                                                                         \
  template void attention_forward<T>(T*, T*, const T*, const int32_t*, int, int, int, int);       \
  template void attention_backward<T>(T*, const T*, const T*, const T*, const int32_t*, int, int, \
                                      int, int);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

#define CF_INSTANTIATE(T)                                                                          \
  template void attention_forward_tiled<T>(T*, T*, const T*, const int32_t*, int, int, int, int);  \
  template void attention_backward_tiled<T>(T*, const T*, const T*, const T*, const int32_t*, int, \
                                            int, int, int);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

}  // namespace cf::ops
