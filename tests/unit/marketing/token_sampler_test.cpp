// TokenSampler (marketing/copy/token_sampler.h): seeded draws repeat, greedy and top-k = 1 take
// the argmax, top-k and top-p keep the right candidates with the right frequencies, the
// temperature sharpens, repeated n-grams are banned, and bad options are refused by flag.
#include "marketing/copy/token_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>
#include <vector>

#include "data/text/char_tokenizer.h"
#include "unit/user_error_of.h"

namespace cf::marketing::copy {
namespace {

// Logits of the distribution {0.5, 0.3, 0.15, 0.05}.
std::vector<float> four_way() {
  return {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
}

std::vector<int> counts_of(TokenSampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[size_t(sampler.next(logits, {}))];
  return counts;
}

TEST(TokenSampler, TheSameSeedDrawsTheSameTokens) {
  TokenSampler a({}, 7), b({}, 7), c({}, 8);
  std::vector<int32_t> from_a, from_b, from_c;
  for (int i = 0; i < 200; ++i) {
    from_a.push_back(a.next(four_way(), {}));
    from_b.push_back(b.next(four_way(), {}));
    from_c.push_back(c.next(four_way(), {}));
  }
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(from_a, from_c);
}

// At temperature 1 the frequencies are the softmax's: 20,000 draws within 5 standard
// deviations of each probability.
TEST(TokenSampler, DrawsFollowTheSoftmax) {
  TokenSampler sampler({}, 1);
  const std::vector<int> counts = counts_of(sampler, four_way(), 20000);
  const double p[] = {0.5, 0.3, 0.15, 0.05};
  for (int v = 0; v < 4; ++v)
    EXPECT_NEAR(counts[size_t(v)] / 20000.0, p[v], 5 * std::sqrt(p[v] * (1 - p[v]) / 20000)) << v;
}

TEST(TokenSampler, GreedyAndTopOneTakeTheArgmax) {
  SamplingOptions greedy;
  greedy.greedy = true;
  SamplingOptions top1;
  top1.top_k = 1;
  for (uint64_t seed : {1, 2, 3}) {
    TokenSampler g(greedy, seed), t(top1, seed);
    EXPECT_EQ(g.next({0.1f, 2.0f, 2.0f, -1.0f}, {}), 1);  // ties: the lower id
    EXPECT_EQ(t.next({0.1f, 2.0f, 1.0f, -1.0f}, {}), 1);
  }
}

TEST(TokenSampler, TopKAndTopPKeepTheMostLikelyTokens) {
  SamplingOptions top2;
  top2.top_k = 2;
  TokenSampler k(top2, 3);
  std::vector<int> counts = counts_of(k, four_way(), 10000);
  EXPECT_EQ(counts[2] + counts[3], 0);
  EXPECT_NEAR(counts[0] / 10000.0, 0.5 / 0.8, 0.03);
  // p = 0.75: 0.5 falls short, 0.5 + 0.3 reaches it, so ids 0 and 1 only.
  SamplingOptions nucleus;
  nucleus.top_p = 0.75;
  TokenSampler p(nucleus, 4);
  counts = counts_of(p, four_way(), 10000);
  EXPECT_EQ(counts[2] + counts[3], 0);
  EXPECT_GT(counts[1], 3000);
}

// A nucleus of hundreds of tokens (the sampler sorts only as far as the draw needs, in growing
// steps): exactly the most likely tokens reaching p are drawn, whatever their ids.
TEST(TokenSampler, AWideNucleusHoldsExactlyTheMostLikelyTokens) {
  const int V = 1000;
  std::vector<int> rank(V);  // token v is the rank[v]-th most likely
  for (int v = 0; v < V; ++v) rank[size_t(v)] = (v * 389) % V;  // 389 is prime to 1000
  std::vector<float> logits(V);
  for (int v = 0; v < V; ++v) logits[size_t(v)] = -0.002f * float(rank[size_t(v)]);
  SamplingOptions nucleus;
  nucleus.top_p = 0.6;
  // The reference: every token by (logit, id), probabilities in double, the shortest prefix
  // reaching 0.6.
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return logits[size_t(a)] > logits[size_t(b)]; });
  double total = 0;
  for (float x : logits) total += std::exp(double(x) - double(logits[size_t(order[0])]));
  std::vector<bool> inside(V, false);
  double mass = 0;
  size_t keep = 0;
  while (mass < 0.6) {
    const int v = order[keep++];
    inside[size_t(v)] = true;
    mass += std::exp(double(logits[size_t(v)]) - double(logits[size_t(order[0])])) / total;
  }
  ASSERT_GT(keep, 300u);
  TokenSampler sampler(nucleus, 12);
  const std::vector<int> counts = counts_of(sampler, logits, 30000);
  size_t seen = 0;
  for (int v = 0; v < V; ++v) {
    if (!inside[size_t(v)]) {
      EXPECT_EQ(counts[size_t(v)], 0) << "token " << v << " is outside the nucleus";
    }
    seen += counts[size_t(v)] > 0;
  }
  EXPECT_GT(seen, keep - 5);  // 30,000 near-uniform draws over ~500 tokens reach nearly all
}

// An infinite logit is a certainty, not a NaN that picks the least likely token.
TEST(TokenSampler, AnInfiniteLogitIsChosen) {
  TokenSampler sampler({}, 9);
  const float inf = std::numeric_limits<float>::infinity();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sampler.next({0.f, inf, 1.f, std::nanf("")}, {}), 1);
}

TEST(TokenSampler, LowTemperatureSharpens) {
  SamplingOptions cold;
  cold.temperature = 0.05;
  TokenSampler sampler(cold, 5);
  EXPECT_EQ(counts_of(sampler, four_way(), 2000)[0], 2000);
}

TEST(TokenSampler, RepeatedNgramsAreBanned) {
  // "5 6 7" was written; the text ends in "5 6": 7 would repeat the trigram.
  EXPECT_EQ(repeated_ngram_bans({5, 6, 7, 5, 6}, 3), (std::vector<int32_t>{7}));
  EXPECT_EQ(repeated_ngram_bans({5, 6, 7, 5, 6}, 2), (std::vector<int32_t>{7}));  // after "6"
  EXPECT_EQ(repeated_ngram_bans({5, 6, 7, 5, 6}, 1), (std::vector<int32_t>{5, 6, 7, 5, 6}));
  EXPECT_TRUE(repeated_ngram_bans({5, 6}, 4).empty());
  SamplingOptions options;
  options.greedy = true;
  options.no_repeat_ngram = 3;
  TokenSampler sampler(options, 1);
  // Token 3 is the likeliest but would repeat "1 2 3".
  EXPECT_EQ(sampler.next({0.f, 0.f, 0.f, 5.f, 1.f}, {1, 2, 3, 1, 2}), 4);
  // Every possible token banned (or impossible): -1.
  const float never = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(sampler.next({never, never, never, 5.f}, {1, 2, 3, 1, 2}), -1);
}

TEST(TokenSampler, BadOptionsNameTheirFlag) {
  auto refused = [](SamplingOptions o) {
    return cf::testing::user_error_of([&] { TokenSampler(o, 1); });
  };
  SamplingOptions o;
  o.temperature = 0;
  EXPECT_EQ(refused(o).rfind("--temperature: must be > 0", 0), 0u);
  o = {};
  o.top_p = 1.5;
  EXPECT_EQ(refused(o).rfind("--top-p: must be in (0, 1]", 0), 0u);
  o = {};
  o.top_k = -1;
  EXPECT_EQ(refused(o).rfind("--top-k: must be >= 0", 0), 0u);
  o = {};
  o.no_repeat_ngram = -2;
  EXPECT_EQ(refused(o).rfind("--no-repeat-ngram: must be >= 0", 0), 0u);
}

}  // namespace
}  // namespace cf::marketing::copy

namespace cf::marketing::copy {
namespace {

int32_t byte_token(int b) { return data::text::kFirstByteToken + b; }

TEST(Utf8Guard, OnlyWellFormedByteSequencesMayBeWritten) {
  Utf8Guard guard;
  // Between characters: characters, printable ASCII and lead bytes; no continuation byte,
  // no C0/C1 lead, no control byte.
  EXPECT_TRUE(guard.allows(data::text::kFirstCharToken + 5));
  EXPECT_TRUE(guard.allows(data::text::kEndToken));
  EXPECT_TRUE(guard.allows(byte_token('A')));
  EXPECT_TRUE(guard.allows(byte_token(0xE4)));
  EXPECT_FALSE(guard.allows(byte_token(0x80)));
  EXPECT_FALSE(guard.allows(byte_token(0xC0)));
  EXPECT_FALSE(guard.allows(byte_token(0xF5)));
  EXPECT_FALSE(guard.allows(byte_token(0x07)));
  // 中 = E4 B8 AD: after the lead only continuation bytes, nothing else (not even </s>).
  guard.add(byte_token(0xE4));
  EXPECT_TRUE(guard.inside_character());
  EXPECT_EQ(guard.partial_bytes(), 1);
  EXPECT_FALSE(guard.allows(data::text::kEndToken));
  EXPECT_FALSE(guard.allows(data::text::kFirstCharToken));
  EXPECT_FALSE(guard.allows(byte_token('A')));
  EXPECT_TRUE(guard.allows(byte_token(0xB8)));
  guard.add(byte_token(0xB8));
  EXPECT_EQ(guard.partial_bytes(), 2);
  guard.add(byte_token(0xAD));
  EXPECT_FALSE(guard.inside_character());
  EXPECT_EQ(guard.partial_bytes(), 0);
  // The second byte's narrower ranges: E0 (no overlong), ED (no surrogate), F0, F4.
  for (const auto& [lead, lo, hi] : std::vector<std::tuple<int, int, int>>{
           {0xE0, 0xA0, 0xBF}, {0xED, 0x80, 0x9F}, {0xF0, 0x90, 0xBF}, {0xF4, 0x80, 0x8F}}) {
    Utf8Guard g;
    g.add(byte_token(lead));
    for (int b = 0x80; b <= 0xBF; ++b)
      EXPECT_EQ(g.allows(byte_token(b)), b >= lo && b <= hi) << std::hex << lead << " " << b;
  }
}

}  // namespace
}  // namespace cf::marketing::copy
