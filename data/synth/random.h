// The synthetic generator's random numbers: seeded streams and the distributions drawn from them.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/random.h"

namespace cf::synth {

// xoshiro256** (core/random.h) with the distributions the generator draws. Every distribution
// is our own, so the bytes never depend on the standard library's <random> implementation.
class Rng {
 public:
  // Independent streams per (seed, purpose, index): a user's events depend only on the seed and
  // the user's index, which keeps generation order-free (and parallelisable later).
  Rng(uint64_t seed, uint64_t stream, uint64_t index) : bits_(stream_key(seed, stream, index)) {}

  uint64_t next() { return bits_.next(); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform_open() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  bool chance(double p) { return uniform() < p; }
  // Uniform integer in [0, n) by multiply-shift (bias below 2^-32 for the sizes used here).
  int64_t below(int64_t n) {
    return static_cast<int64_t>(
        (static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n)) >> 64);
  }
  // below(n) plus a uniform [0, 1) fraction from the low half of the same product: one draw
  // serves both halves of an alias-table lookup.
  int64_t below_with_fraction(int64_t n, double& fraction) {
    unsigned __int128 product = static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n);
    fraction = static_cast<double>(static_cast<uint64_t>(product) >> 11) * 0x1.0p-53;
    return static_cast<int64_t>(product >> 64);
  }
  double normal() {  // Box-Muller; uses exactly two draws
    double radius = std::sqrt(-2.0 * std::log(uniform_open()));
    return radius * std::cos(6.283185307179586 * uniform());
  }
  double exponential() { return -std::log(uniform_open()); }
  // Lognormal factor with mean 1.
  double lognormal_unit_mean(double sigma) {
    return std::exp(sigma * normal() - 0.5 * sigma * sigma);
  }
  // Number of failures before a success, mean `mean`.
  int64_t geometric(double mean) {
    if (mean <= 0) return 0;
    return static_cast<int64_t>(
        std::floor(std::log(uniform_open()) / std::log(mean / (mean + 1.0))));
  }

 private:
  static uint64_t stream_key(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t mix = seed;
    uint64_t key = splitmix64_next(mix) ^ (stream * 0xD1B54A32D192ED03ULL);
    key ^= splitmix64_next(key) + index * kGoldenGamma;
    return key;
  }
  Xoshiro256 bits_;
};

// The purposes that get their own streams.
enum RngStream : uint64_t { kCatalogStream = 1, kActivityStream = 2, kUserStream = 3 };

// Index drawn from an ascending cumulative weight table.
inline int64_t draw_from_cdf(Rng& rng, const double* cdf, int64_t size) {
  double target = rng.uniform() * cdf[size - 1];
  int64_t index = std::upper_bound(cdf, cdf + size, target) - cdf;
  return std::min(index, size - 1);
}

}  // namespace cf::synth
