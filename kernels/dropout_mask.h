// The counter-based dropout mask shared by every backend: element i of stream `seed` is kept iff
// the top 24 bits of mix64(mix64(seed) + i * golden) reach keep_threshold(p). Host and device
// code include this one definition, so CPU and GPU masks are identical by construction.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"

namespace cf::ops {

// splitmix64's output function: a bijection on 64 bits with full avalanche.
CF_HOST_DEVICE constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The top 24 bits of the hash of element i. The seed is mixed before the counter is added so
// that nearby seeds (seed, seed + 1, ...) give unrelated masks instead of shifted copies of one
// stream; callers mix it once per call.
CF_HOST_DEVICE inline uint32_t dropout_bits(uint64_t mixed_seed, int64_t i) {
  return uint32_t(mix64(mixed_seed + uint64_t(i) * 0x9E3779B97F4A7C15ull) >> 40);
}

// uniform = bits / 2^24 >= p  <=>  bits >= ceil(p 2^24), an integer test that compiles to
// branch-free code (a float compare-and-branch mispredicts on every random mask bit).
inline uint32_t keep_threshold(float p) {
  return uint32_t(std::min(std::ceil(double(p) * 16777216.0), 16777216.0));
}

// Scale of the kept values in inverted dropout, 1 / (1 - p); p >= 1 keeps nothing.
template <class T>
CF_HOST_DEVICE inline T keep_scale(float p) {
  return p >= 1.0f ? T(0) : T(1) / (T(1) - T(p));
}

}  // namespace cf::ops
