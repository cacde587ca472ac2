// Deterministic random bits shared by every layer: the splitmix64 mix and generator, and
// xoshiro256** (Blackman & Vigna). Fully specified, unlike <random>'s distributions, so every
// stream (synthetic data, sample order, dropout, negatives) is the same on every platform.
#pragma once
#include <cstdint>

namespace cf {

inline constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

// The splitmix64 output function applied to z + gamma: a bijective 64-bit mix that turns
// counters and keys into independent-looking values.
inline uint64_t splitmix64_mix(uint64_t z) {
  z += kGoldenGamma;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The splitmix64 generator: returns the next value of the stream whose state is `state`.
inline uint64_t splitmix64_next(uint64_t& state) {
  const uint64_t out = splitmix64_mix(state);
  state += kGoldenGamma;
  return out;
}

// The top 53 bits of `bits` as a double in [0, 1): every value a multiple of 2^-53.
inline double unit_interval(uint64_t bits) { return double(bits >> 11) * 0x1.0p-53; }

// xoshiro256**: a fast generator with a 256-bit state, seeded from a splitmix64 stream.
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t splitmix_state) {
    for (auto& word : s_) word = splitmix64_next(splitmix_state);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t shifted = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= shifted;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace cf
