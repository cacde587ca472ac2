// Seeded randomness for the model: splitmix64 mixing, derived seeds, normal samples, negatives.
#pragma once
#include <cmath>
#include <cstdint>
#include <string_view>

#include "core/random.h"

namespace cf::trainer {

// splitmix64_mix (core/random.h) turns counters into independent-looking values, which is all
// dropout sites and negatives need.
using cf::splitmix64_mix;

// A seed for sub-stream `salt` of `seed`; distinct salts give unrelated streams.
inline uint64_t derive_seed(uint64_t seed, uint64_t salt) {
  return splitmix64_mix(seed ^ splitmix64_mix(salt ^ 0x5851f42d4c957f2dULL));
}

// FNV-1a of a name: lets a tensor's initial values depend on its name, not on which other
// tensors exist (enabling a head leaves every other tensor's initialisation unchanged).
inline uint64_t fnv1a_hash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Sequential splitmix64 generator with a Box-Muller normal sampler on top.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() { return splitmix64_mix(state_++); }
  // Uniform in (0, 1]: 53 random bits, never 0 so log() below stays finite.
  double uniform_open0() { return (static_cast<double>(next() >> 11) + 1.0) * 0x1.0p-53; }
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double radius = std::sqrt(-2.0 * std::log(uniform_open0()));
    const double angle = 2.0 * 3.14159265358979323846 * uniform_open0();
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

// Counter-based uniform draw from [1, num_items): element `index` of the stream `seed`.
// A pure function of its arguments, so sampled negatives replay exactly on resume.
inline int32_t uniform_item(uint64_t seed, uint64_t index, int32_t num_items) {
  const uint64_t bits = splitmix64_mix(seed ^ splitmix64_mix(index));
  const auto range = static_cast<uint64_t>(num_items - 1);
  // Multiply-shift maps 64 random bits onto [0, range) without modulo bias worth noticing.
  const auto scaled = static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * range) >> 64);
  return static_cast<int32_t>(1 + scaled);
}

}  // namespace cf::trainer
