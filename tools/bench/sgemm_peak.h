// sgemm_peak_gflops: the machine's single-precision GEMM rate, the yardstick every benchmark
// reports its achieved GFLOP/s against (measured in the same run, never hard-coded).
#pragma once
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace cf::bench {

// Best of several 2048^3 OpenBLAS products with all threads, in GFLOP/s.
inline double sgemm_peak_gflops(int repeats = 6) {
  const int n = 2048;
  std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
  uint64_t state = 12345;
  for (auto* v : {&a, &b}) {
    for (auto& x : *v) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      x = float(int32_t(state >> 40) % 1000) / 1000.0f;
    }
  }
  double best_s = 1e300;
  for (int r = 0; r < repeats + 1; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                n, 0.0f, c.data(), n);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) best_s = std::min(best_s, s);  // the first call warms caches and threads
  }
  return 2.0 * double(n) * n * n / best_s / 1e9;
}

}  // namespace cf::bench
