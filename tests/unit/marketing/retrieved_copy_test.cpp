// RetrievedCopy (marketing/copy/retrieved_copy.h): the match lengths against the retrieved
// texts, and the mixture log((1 - w) p + w q) against a reference computed here in double.
#include "marketing/copy/retrieved_copy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "data/text/char_tokenizer.h"

namespace cf::marketing::copy {
namespace {

constexpr int32_t kA = data::text::kFirstCharToken, kB = kA + 1, kC = kA + 2, kD = kA + 3,
                  kX = kA + 4, kY = kA + 5;
constexpr int32_t kVocab = kA + 8;

// A normalised distribution over the vocabulary: uniform over the description tokens, the
// specials before </s> ruled out (-inf), as CopyWriter's next-token scores are.
std::vector<float> model_log_probs() {
  std::vector<float> lp(size_t(kVocab), -std::numeric_limits<float>::infinity());
  const int32_t allowed = kVocab - data::text::kEndToken;
  for (int32_t t = data::text::kEndToken; t < kVocab; ++t)
    lp[size_t(t)] = -std::log(float(allowed));
  return lp;
}

// The mixture in double: (1 - w) p + w q, q given as token -> probability.
void expect_mixture(const std::vector<float>& mixed, const std::vector<float>& model, double w,
                    const std::map<int32_t, double>& q) {
  double total = 0;
  for (int32_t t = 0; t < kVocab; ++t) {
    if (std::isinf(model[size_t(t)])) {
      EXPECT_TRUE(std::isinf(mixed[size_t(t)]) && mixed[size_t(t)] < 0) << "token " << t;
      continue;
    }
    const auto it = q.find(t);
    const double expected =
        (1 - w) * std::exp(double(model[size_t(t)])) + w * (it == q.end() ? 0.0 : it->second);
    EXPECT_NEAR(std::exp(double(mixed[size_t(t)])), expected, 1e-6) << "token " << t;
    total += std::exp(double(mixed[size_t(t)]));
  }
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(RetrievedCopy, TheStartMatchesEveryTextsFirstToken) {
  RetrievedCopy copy({{kA, kB, kC}, {kA, kX}, {kB, kY}}, 0.7);
  // Only the start matches (length 1): below the shortest match, nothing is mixed.
  EXPECT_EQ(copy.longest_match(), 1);
  std::vector<float> lp = model_log_probs();
  copy.mix_into(lp);
  EXPECT_EQ(lp, model_log_probs());
  // After A: start + A in the first two texts (length 2); their next tokens B and X share the
  // retrieved mass, which weighs 0.7 * (2 - 1) / (8 - 1).
  copy.advance(kA);
  EXPECT_EQ(copy.longest_match(), 2);
  copy.mix_into(lp);
  expect_mixture(lp, model_log_probs(), 0.7 / 7, {{kB, 0.5}, {kX, 0.5}});
}

TEST(RetrievedCopy, TheLongestMatchDecidesAndATextEndsWithItsEnd) {
  RetrievedCopy copy({{kX, kB, kC, kD}, {kY, kB, kC}}, 0.8);
  copy.advance(kY);  // start + Y: the second text (2); the first only by its B C later
  copy.advance(kB);
  copy.advance(kC);
  // Second text: start Y B C (4) before its end; first text: B C (2) before D. The longest wins:
  // the next is </s>, weighing 0.8 * 3 / 7.
  EXPECT_EQ(copy.longest_match(), 4);
  std::vector<float> lp = model_log_probs();
  copy.mix_into(lp);
  expect_mixture(lp, model_log_probs(), 0.8 * 3 / 7, {{data::text::kEndToken, 1.0}});
  // A token in no text ends every match; restart() goes back to the start.
  copy.advance(kA);
  EXPECT_EQ(copy.longest_match(), 0);
  copy.restart();
  copy.advance(kX);
  copy.advance(kB);
  copy.advance(kC);
  EXPECT_EQ(copy.longest_match(), 4);
  lp = model_log_probs();
  copy.mix_into(lp);
  expect_mixture(lp, model_log_probs(), 0.8 * 3 / 7, {{kD, 1.0}});
}

TEST(RetrievedCopy, ALongMatchWeighsTheFullWeightAndTiesShareIt) {
  const std::vector<int32_t> run = {kA, kB, kC, kD, kA, kB, kC, kD, kX};
  std::vector<int32_t> other = run;
  other.back() = kY;
  RetrievedCopy copy({run, other}, 0.9);
  for (size_t i = 0; i + 1 < run.size(); ++i) copy.advance(run[i]);
  EXPECT_EQ(copy.longest_match(), 9);  // start + 8 tokens, in both texts
  std::vector<float> lp = model_log_probs();
  copy.mix_into(lp);
  expect_mixture(lp, model_log_probs(), 0.9, {{kX, 0.5}, {kY, 0.5}});
}

TEST(RetrievedCopy, RuledOutTokensStayOutAndWeightZeroChangesNothing) {
  RetrievedCopy copy({{kA, kB}}, 0.5);
  copy.advance(kA);
  std::vector<float> lp = model_log_probs();
  lp[size_t(kB)] = -std::numeric_limits<float>::infinity();  // e.g. it would break a character
  copy.mix_into(lp);
  EXPECT_TRUE(std::isinf(lp[size_t(kB)]));
  RetrievedCopy off({{kA, kB}}, 0.0);
  off.advance(kA);
  lp = model_log_probs();
  off.mix_into(lp);
  EXPECT_EQ(lp, model_log_probs());
  RetrievedCopy none({}, 0.5);
  none.advance(kA);
  EXPECT_EQ(none.longest_match(), 0);
}

}  // namespace
}  // namespace cf::marketing::copy
