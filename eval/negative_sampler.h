// NegativeSampler: seeded negatives for the "1 positive + N sampled negatives" protocols.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cf::eval {

enum class NegativeDistribution { kUniform, kPopularity };
const char* negative_distribution_name(NegativeDistribution d);  // "uniform", "popularity"

// Draws distinct negatives among item tokens 1..num_items-1, uniformly or proportional to
// training popularity (items never seen in training have weight 0 and are never drawn).
// The draw is a pure function of (seed, stream): the evaluator uses the corpus sequence index as
// the stream, so every scorer sees the same negatives for a user, whatever the thread order, and
// the numbers depend on nothing but the seed. Own PRNG (splitmix64) rather than <random>
// distributions, whose output differs between standard libraries.
class NegativeSampler {
 public:
  NegativeSampler(NegativeDistribution distribution, const std::vector<int64_t>& item_counts);
  // Up to `count` distinct items j with excluded[j] == 0 (the caller marks the history and the
  // target). Fewer are returned only when fewer than `count` items are eligible.
  std::vector<int32_t> sample(uint64_t seed, uint64_t stream, const uint8_t* excluded,
                              int count) const;
  NegativeDistribution distribution() const { return distribution_; }
  // Popularity: the token a draw lands on for a point `target` in [0, total weight): the first
  // whose cumulative weight exceeds it (the last token for a point at the top).
  int32_t token_at(double target) const;

 private:
  int32_t draw(uint64_t& state) const;
  int32_t upper_token(double target) const;
  int32_t upper_token_between(double target, int32_t first, int32_t last) const;
  // `taken` marks `already` (a bit per token).
  std::vector<int32_t> sample_exhaustively(uint64_t& state, const uint8_t* excluded,
                                           const uint64_t* taken,
                                           const std::vector<int32_t>& already, int count) const;
  double guide_point(int k) const;
  double weight(int32_t item) const;

  NegativeDistribution distribution_;
  int32_t num_items_;
  std::vector<double> cumulative_;  // popularity: cumulative weight of tokens 1..j
  // popularity: guide_[k] = the token upper_bound finds for k / kGuideCells of the total weight,
  // so a draw searches only between two neighbouring guides (the same token, found faster).
  static constexpr int kGuideCells = 4096;
  std::vector<int32_t> guide_;
};

}  // namespace cf::eval
