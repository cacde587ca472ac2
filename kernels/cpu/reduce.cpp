// CPU reductions: sum of squares for the global gradient norm.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/ops.h"

namespace cf::ops {

namespace {
// Elements per partial sum. Fixed, so the summation order (and the bits of the result) is the
// same for any number of threads.
constexpr int64_t kSquaresChunk = 1 << 15;
}  // namespace

template <class T>
double sum_of_squares(const T* x, int64_t n) {
  const int64_t chunks = (n + kSquaresChunk - 1) / kSquaresChunk;
  std::vector<double> partial(chunks);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t begin = k * kSquaresChunk;
    const int64_t end = std::min(n, begin + kSquaresChunk);
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = begin; i < end; ++i) s += double(x[i]) * double(x[i]);
    partial[k] = s;
  }
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

template double sum_of_squares<float>(const float*, int64_t);
template double sum_of_squares<double>(const double*, int64_t);

}  // namespace cf::ops
