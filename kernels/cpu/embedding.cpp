// CPU embedding lookups (item/action/... tables and learned positions) and their gradients.
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/column_blocks.h"
#include "kernels/ops.h"

namespace cf::ops {

template <class T>
void embedding_forward(T* out, const int32_t* ids, const T* table, int N, int C) {
#pragma omp parallel for schedule(static) if (int64_t(N) * C > 65536)
  for (int n = 0; n < N; ++n) {
    const T* row = table + int64_t(ids[n]) * C;
    T* o = out + int64_t(n) * C;
    for (int c = 0; c < C; ++c) o[c] += row[c];
  }
}

// Several rows may hit the same table row, so rows cannot be split across threads without
// ordering trouble; column blocks can: each table element is summed over n in increasing order
// by exactly one thread, whatever the thread count.
template <class T>
void embedding_backward(T* dtable, const int32_t* ids, const T* dout, int N, int C) {
  const int blocks = cpu::column_block_count(C);
#pragma omp parallel for schedule(static) if (int64_t(N) * C > 16384)
  for (int block = 0; block < blocks; ++block) {
    const int c0 = block * cpu::kColumnBlock;
    const int c1 = std::min(C, c0 + cpu::kColumnBlock);
    for (int n = 0; n < N; ++n) {
      T* d = dtable + int64_t(ids[n]) * C;
      const T* g = dout + int64_t(n) * C;
      for (int c = c0; c < c1; ++c) d[c] += g[c];
    }
  }
}

template <class T>
void position_forward(T* out, const T* pos, int B, int Tlen, int C) {
#pragma omp parallel for collapse(2) schedule(static) if (int64_t(B) * Tlen * C > 65536)
  for (int b = 0; b < B; ++b) {
    for (int t = 0; t < Tlen; ++t) {
      T* o = out + (int64_t(b) * Tlen + t) * C;
      const T* p = pos + int64_t(t) * C;
      for (int c = 0; c < C; ++c) o[c] += p[c];
    }
  }
}

// Each position row is owned by one thread and summed over the batch in order.
template <class T>
void position_backward(T* dpos, const T* dout, int B, int Tlen, int C) {
#pragma omp parallel for schedule(static) if (int64_t(B) * Tlen * C > 65536)
  for (int t = 0; t < Tlen; ++t) {
    T* d = dpos + int64_t(t) * C;
    for (int b = 0; b < B; ++b) {
      const T* g = dout + (int64_t(b) * Tlen + t) * C;
      for (int c = 0; c < C; ++c) d[c] += g[c];
    }
  }
}

#define CF_INSTANTIATE(T)                                                      \
  template void embedding_forward<T>(T*, const int32_t*, const T*, int, int);  \
  template void embedding_backward<T>(T*, const int32_t*, const T*, int, int); \
  template void position_forward<T>(T*, const T*, int, int, int);              \
  template void position_backward<T>(T*, const T*, int, int, int);
CF_INSTANTIATE(float)
CF_INSTANTIATE(double)
#undef CF_INSTANTIATE

}  // namespace cf::ops
