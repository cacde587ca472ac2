// Sampled negatives: exclusions, distinctness, determinism per (seed, stream), distribution.
#include "eval/negative_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

namespace cf::eval {
namespace {

std::vector<int64_t> counts_for(int items) {
  std::vector<int64_t> counts(static_cast<size_t>(items), 0);
  for (int j = 1; j < items; ++j) counts[j] = j % 7;  // every 7th item never seen in training
  return counts;
}

TEST(NegativeSampler, ExcludesMarkedItemsAndPaddingAndIsDistinct) {
  const int items = 500;
  const auto counts = counts_for(items);
  std::vector<uint8_t> excluded(items, 0);
  for (int j : {3, 10, 11, 12, 250, 499}) excluded[j] = 1;  // history + target
  for (auto dist : {NegativeDistribution::kUniform, NegativeDistribution::kPopularity}) {
    NegativeSampler sampler(dist, counts);
    for (uint64_t stream = 0; stream < 50; ++stream) {
      const auto neg = sampler.sample(42, stream, excluded.data(), 100);
      ASSERT_EQ(neg.size(), 100u);
      std::set<int32_t> distinct(neg.begin(), neg.end());
      EXPECT_EQ(distinct.size(), neg.size());
      for (int32_t j : neg) {
        EXPECT_GT(j, 0);
        EXPECT_LT(j, items);
        EXPECT_FALSE(excluded[j]) << j;
        if (dist == NegativeDistribution::kPopularity) {
          EXPECT_GT(counts[j], 0) << j;
        }
      }
    }
  }
}

TEST(NegativeSampler, DeterministicForSeedAndStream) {
  const auto counts = counts_for(1000);
  std::vector<uint8_t> excluded(1000, 0);
  excluded[5] = 1;
  for (auto dist : {NegativeDistribution::kUniform, NegativeDistribution::kPopularity}) {
    NegativeSampler a(dist, counts), b(dist, counts);
    EXPECT_EQ(a.sample(7, 123, excluded.data(), 100), b.sample(7, 123, excluded.data(), 100));
    EXPECT_NE(a.sample(7, 123, excluded.data(), 100), a.sample(8, 123, excluded.data(), 100));
    EXPECT_NE(a.sample(7, 123, excluded.data(), 100), a.sample(7, 124, excluded.data(), 100));
  }
}

TEST(NegativeSampler, ReturnsEveryEligibleItemWhenTooFewAreLeft) {
  const std::vector<int64_t> counts = {0, 4, 0, 2, 9, 1, 3};
  std::vector<uint8_t> excluded = {0, 1, 0, 0, 0, 1, 0};
  NegativeSampler uniform(NegativeDistribution::kUniform, counts);
  auto u = uniform.sample(1, 1, excluded.data(), 100);
  std::sort(u.begin(), u.end());
  EXPECT_EQ(u, (std::vector<int32_t>{2, 3, 4, 6}));
  NegativeSampler popular(NegativeDistribution::kPopularity, counts);
  auto p = popular.sample(1, 1, excluded.data(), 100);
  std::sort(p.begin(), p.end());
  EXPECT_EQ(p, (std::vector<int32_t>{3, 4, 6}));  // item 2 has no training occurrences
}

// A draw's token comes from a guide table plus a short search; it must be the token a search
// of the whole cumulative table finds, for any point: cell edges, points inside runs of
// zero-weight tokens' shared cumulative value, the very top.
TEST(NegativeSampler, PopularityTokenIsTheFirstWhoseCumulativeWeightExceedsThePoint) {
  std::mt19937_64 rng(3);
  for (int n : {2, 3, 50, 10007}) {
    std::vector<int64_t> counts(static_cast<size_t>(n), 0);
    for (int j = 1; j < n; ++j) counts[j] = rng() % 3 == 0 ? 0 : int64_t(rng() % 1000);
    counts[n - 1] = 5;  // some weight for sure
    const NegativeSampler sampler(NegativeDistribution::kPopularity, counts);
    std::vector<double> cumulative(static_cast<size_t>(n), 0.0);
    for (int j = 1; j < n; ++j) cumulative[j] = cumulative[j - 1] + double(counts[j]);
    const double total = cumulative.back();
    auto reference = [&](double target) {
      for (int j = 1; j < n; ++j) {
        if (cumulative[j] > target) return j;
      }
      return n - 1;
    };
    std::vector<double> points = {0.0, total, std::nextafter(total, 0.0)};
    for (int j = 1; j < n; ++j) points.push_back(cumulative[j]);  // exactly on a boundary
    for (int k = 0; k <= 4096; k += 7) points.push_back(k * (total / 4096));
    for (int i = 0; i < 2000; ++i) points.push_back(double(rng() >> 11) * 0x1.0p-53 * total);
    for (double p : points) EXPECT_EQ(sampler.token_at(p), reference(p)) << n << " at " << p;
  }
}

TEST(NegativeSampler, PopularityDrawsFollowTheCounts) {
  // Item 2 is 9 times as popular as item 1; single draws over many streams.
  std::vector<int64_t> counts = {0, 100, 900};
  NegativeSampler sampler(NegativeDistribution::kPopularity, counts);
  int twos = 0;
  const int n = 20000;
  for (int s = 0; s < n; ++s) twos += sampler.sample(3, static_cast<uint64_t>(s), nullptr, 1)[0] == 2;
  EXPECT_NEAR(static_cast<double>(twos) / n, 0.9, 0.02);
  NegativeSampler uniform(NegativeDistribution::kUniform, counts);
  twos = 0;
  for (int s = 0; s < n; ++s) twos += uniform.sample(3, static_cast<uint64_t>(s), nullptr, 1)[0] == 2;
  EXPECT_NEAR(static_cast<double>(twos) / n, 0.5, 0.02);
}

}  // namespace
}  // namespace cf::eval
