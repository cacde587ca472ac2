// Copy-generation metrics and baselines (eval/text/): BLEU-4, ROUGE-L and distinct-n against
// values worked out by hand, the retrieval baseline's choice of title and pair, and the
// character n-gram model's normalisation, perplexity and greedy decoding.
#include "eval/text/text_metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "data/text/text_corpus.h"
#include "eval/text/text_baselines.h"

namespace cf::eval::text {
namespace {

TEST(TextMetrics, Bleu4MatchesAWorkedExample) {
  // Precisions 5/6, 3/5, 2/4, 1/3 and equal lengths: (5/6 * 3/5 * 1/2 * 1/3)^(1/4).
  EXPECT_NEAR(corpus_bleu4({{1, 2, 3, 4, 5, 6}}, {{1, 2, 3, 4, 7, 6}}), std::pow(1.0 / 12, 0.25),
              1e-12);
  // Every n-gram right but half the length: the brevity penalty exp(1 - 8 / 4).
  EXPECT_NEAR(corpus_bleu4({{1, 2, 3, 4}}, {{1, 2, 3, 4, 5, 6, 7, 8}}), std::exp(-1.0), 1e-12);
  EXPECT_DOUBLE_EQ(corpus_bleu4({{1, 2, 3, 4, 5}}, {{1, 2, 3, 4, 5}}), 1.0);
  // No 4-gram in common: 0.
  EXPECT_EQ(corpus_bleu4({{1, 2, 3, 9, 4}}, {{1, 2, 3, 4, 5}}), 0.0);
  // Counts are clipped by the reference's and summed over the corpus: two pairs, one perfect,
  // one repeating a reference token (unigram 1 clipped to once): precisions 9/10, 7/8, 5/6,
  // 3/4 over both.
  EXPECT_NEAR(corpus_bleu4({{1, 2, 3, 4, 5}, {1, 1, 2, 3, 4}}, {{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}}),
              std::pow(9.0 / 10 * 7.0 / 8 * 5.0 / 6 * 3.0 / 4, 0.25), 1e-12);
}

TEST(TextMetrics, SummedPairStatisticsGiveCorpusBleu) {
  const std::vector<Tokens> candidates = {{1, 2, 3, 4, 5}, {1, 1, 2, 3, 4}, {7, 8, 9}};
  const std::vector<Tokens> references = {{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}, {7, 8, 9, 9, 6}};
  BleuStatistics sum;
  for (size_t k = 0; k < candidates.size(); ++k)
    sum += bleu_statistics(candidates[k], references[k]);
  EXPECT_EQ(sum.candidate_length, 13);
  EXPECT_EQ(sum.reference_length, 15);
  EXPECT_EQ(sum.matched[0], 12);  // 5 + 4 (the second 1 clipped) + 3
  EXPECT_EQ(sum.total[3], 2 + 2 + 0);
  EXPECT_DOUBLE_EQ(bleu4_of(sum), corpus_bleu4(candidates, references));
  // A resample repeating a pair sums its statistics twice.
  BleuStatistics twice = bleu_statistics(candidates[1], references[1]);
  twice += bleu_statistics(candidates[1], references[1]);
  EXPECT_DOUBLE_EQ(bleu4_of(twice),
                   corpus_bleu4({candidates[1], candidates[1]}, {references[1], references[1]}));
}

TEST(TextMetrics, SentenceBleu4SmoothsTheLongerNgramsByOne) {
  // Matches 5/6, 3/5, 2/4, 1/3; BLEU+1 adds one to the 2..4-gram counts: 5/6, 4/6, 3/5, 2/4.
  EXPECT_NEAR(sentence_bleu4({1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 7, 6}),
              std::pow(5.0 / 6 * 4.0 / 6 * 3.0 / 5 * 2.0 / 4, 0.25), 1e-12);
  // No 4-gram in common still ranks by the shorter matches (corpus BLEU would say 0):
  // 5/5, 2/4, 1/3, 0/2 smoothed to 5/5, 3/5, 2/4, 1/3.
  EXPECT_NEAR(sentence_bleu4({1, 2, 3, 9, 4}, {1, 2, 3, 4, 9}),
              std::pow(1.0 * 3.0 / 5 * 2.0 / 4 * 1.0 / 3, 0.25), 1e-12);
  // Two tokens of four, both right: every smoothed precision 1, the brevity penalty e^-1.
  EXPECT_NEAR(sentence_bleu4({1, 2}, {1, 2, 3, 4}), std::exp(-1.0), 1e-12);
  EXPECT_EQ(sentence_bleu4({5, 6}, {1, 2}), 0.0);
  EXPECT_EQ(sentence_bleu4({}, {1, 2}), 0.0);
}

TEST(TextMetrics, RougeLIsTheF1OfTheLongestCommonSubsequence) {
  // LCS 1 3 4: precision 3/4, recall 3/5.
  EXPECT_NEAR(rouge_l({1, 2, 3, 4}, {1, 3, 4, 5, 6}), 2 * 0.75 * 0.6 / 1.35, 1e-12);
  EXPECT_DOUBLE_EQ(rouge_l({1, 2}, {1, 2}), 1.0);
  EXPECT_EQ(rouge_l({1, 2}, {3, 4}), 0.0);
  EXPECT_EQ(rouge_l({}, {3, 4}), 0.0);
  EXPECT_NEAR(mean_rouge_l({{1, 2}, {3}}, {{1, 2}, {4}}), 0.5, 1e-12);
}

TEST(TextMetrics, DistinctNCountsDistinctNgramsOverTheSet) {
  EXPECT_DOUBLE_EQ(distinct_n({{1, 2, 1}, {3}}, 1), 0.75);
  EXPECT_DOUBLE_EQ(distinct_n({{1, 2, 1}, {3}}, 2), 1.0);
  EXPECT_DOUBLE_EQ(distinct_n({{1, 2, 1, 2}, {1, 2}}, 2), 2.0 / 4);
  EXPECT_EQ(distinct_n({{1}}, 2), 0.0);
}

data::text::TextPair pair(const std::string& title, const std::string& segment,
                          const std::string& aspect, const std::string& text) {
  data::text::TextPair p;
  p.title = title;
  p.segment = segment;
  p.aspect = aspect;
  p.text = text;
  return p;
}

// Every pair in training (no held-out fractions), one character per token.
data::text::TextCorpus all_training(const std::vector<data::text::TextPair>& pairs) {
  data::text::TextCorpusOptions options;
  options.validation_fraction = options.test_fraction = 0;
  options.tokenizer.min_count = 1;
  return data::text::build_text_corpus(pairs, options);
}

TEST(TextBaselines, RetrievalTakesTheClosestTitleThenTheSameAspectAndSegment) {
  const data::text::TextCorpus corpus = all_training({
      pair("真皮手包女", "0", "a", "外观时尚"),
      pair("真皮手包女", "1", "b", "头层牛皮"),
      pair("真皮手包女", "0", "b", "皮质柔软"),
      pair("保温杯大容量", "0", "c", "保温持久"),
  });
  const data::text::CharTokenizer tok = corpus.tokenizer("test");
  const RetrievalBaseline retrieval(corpus);
  const int32_t a = 0, b = 1, c = 2, seg0 = 0, seg1 = 1;
  EXPECT_EQ(tok.decode(retrieval.text_for(tok.encode("女士真皮包"), seg0, b)), "皮质柔软");
  EXPECT_EQ(tok.decode(retrieval.text_for(tok.encode("女士真皮包"), seg1, b)), "头层牛皮");
  EXPECT_EQ(tok.decode(retrieval.text_for(tok.encode("女士真皮包"), seg1, a)), "外观时尚");
  EXPECT_EQ(tok.decode(retrieval.text_for(tok.encode("保温水杯"), seg0, a)), "保温持久");
  EXPECT_EQ(tok.decode(retrieval.text_for(tok.encode("保温水杯"), seg1, c)), "保温持久");
  // The k nearest titles' texts, nearest first, never more than training holds.
  const std::vector<Tokens> two = retrieval.texts_for(tok.encode("保温水杯"), seg0, c, 5);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(tok.decode(two[0]), "保温持久");
  EXPECT_EQ(tok.decode(two[1]), "外观时尚");  // no pair of aspect c: the title's first
}

TEST(TextBaselines, RetrievalTiesGoToTheTitleSeenFirst) {
  const data::text::TextCorpus corpus = all_training({
      pair("真皮手袋", "0", "a", "手袋大方"),
      pair("真皮背包", "0", "a", "背包轻便"),
      pair("保温杯", "0", "a", "保温持久"),
  });
  const data::text::CharTokenizer tok = corpus.tokenizer("test");
  const RetrievalBaseline retrieval(corpus);
  // 真皮手包 shares three characters with both bags: the first in the corpus wins, then the other.
  const std::vector<Tokens> texts = retrieval.texts_for(tok.encode("真皮手包"), 0, 0, 3);
  ASSERT_EQ(texts.size(), 3u);
  EXPECT_EQ(tok.decode(texts[0]), "手袋大方");
  EXPECT_EQ(tok.decode(texts[1]), "背包轻便");
  EXPECT_EQ(tok.decode(texts[2]), "保温持久");
}

TEST(TextBaselines, NgramModelIsNormalisedAndLearnsItsTrainingText) {
  const data::text::TextCorpus corpus = all_training({
      pair("真皮手包", "0", "a", "头层牛皮，柔软有型，容量很大。"),
      pair("保温杯", "0", "c", "保温持久，容量很大。"),
  });
  CharNgramLm lm(5, int32_t(corpus.pieces.size()));
  lm.train(corpus);
  const data::text::CharTokenizer tok = corpus.tokenizer("test");
  // Probabilities over the whole vocabulary sum to 1 after seen and unseen histories.
  for (const Tokens& history : {prompt_of(corpus, 0), Tokens{}, tok.encode("容量"),
                                tok.encode("从未见过的"), Tokens{data::text::kBeginToken}}) {
    double total = 0;
    for (int32_t v = 0; v < int32_t(corpus.pieces.size()); ++v)
      total += std::exp(lm.log_prob(history, v));
    EXPECT_NEAR(total, 1.0, 1e-9);
  }
  // From a training prompt, greedy decoding gives the training text back.
  EXPECT_EQ(tok.decode(lm.generate_greedy(prompt_of(corpus, 0), 100, 0)),
            "头层牛皮，柔软有型，容量很大。");
  EXPECT_EQ(tok.decode(lm.generate_greedy(prompt_of(corpus, 1), 100, 4)), "保温持久，容量很大。");
  EXPECT_LE(lm.generate_greedy(prompt_of(corpus, 0), 3, 0).size(), 3u);
  // Training texts are far likelier than the same characters shuffled.
  data::text::TextCorpus shuffled = corpus;
  std::reverse(shuffled.text_tokens.begin(), shuffled.text_tokens.end());
  EXPECT_LT(lm.perplexity(corpus, {0, 1}) * 3, lm.perplexity(shuffled, {0, 1}));
  EXPECT_GT(lm.perplexity(corpus, {0, 1}), 1.0);
}

}  // namespace
}  // namespace cf::eval::text
