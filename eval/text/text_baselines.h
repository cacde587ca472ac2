// The two baselines copy generation is measured against (issue 16), on the text corpus's
// tokens:
//  - retrieval: the text of the training pair whose title shares the most characters with the
//    held-out title (no generation at all);
//  - a character n-gram language model (interpolated Witten-Bell) over `<s> title <sep> text
//    </s>`, the same prompt and target the neural model sees: its perplexity on the held-out
//    texts, and greedy generations from each prompt.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

#include "data/text/text_corpus.h"
#include "eval/text/text_metrics.h"

namespace cf::eval::text {

// One pair's tokens out of the corpus.
Tokens title_of(const data::text::TextCorpus& corpus, int64_t pair);
Tokens text_of(const data::text::TextCorpus& corpus, int64_t pair);
// `<s> title <sep>`: the prompt every model continues.
Tokens prompt_of(const data::text::TextCorpus& corpus, int64_t pair);

class RetrievalBaseline {
 public:
  // Indexes the training split's pairs.
  explicit RetrievalBaseline(const data::text::TextCorpus& corpus);
  // The text of the training pair with the most title characters in common with `title`
  // (multiset overlap, Dice coefficient); among that title's pairs the one of the same aspect
  // and segment, else the same aspect, else the first.
  Tokens text_for(const Tokens& title, int32_t segment, int32_t aspect) const;
  // The texts of the `k` training titles nearest to `title` (the same score and choice among a
  // title's pairs), nearest first; fewer when training has fewer titles. Ties go to the title
  // seen first in the corpus, so the answer is the same on every run.
  std::vector<Tokens> texts_for(const Tokens& title, int32_t segment, int32_t aspect, int k) const;

 private:
  const data::text::TextCorpus& corpus_;
  std::vector<Tokens> titles_;                  // distinct training titles, sorted tokens
  std::vector<std::vector<int64_t>> pairs_of_;  // their pairs
};

class CharNgramLm {
 public:
  // order >= 1: a token is predicted from the order - 1 tokens before it.
  CharNgramLm(int order, int32_t vocab_size);
  // Counts `<s> title <sep> text </s>` of every training pair; only the text tokens and </s>
  // are predicted (as the neural model's loss), the prompt is context.
  void train(const data::text::TextCorpus& corpus);
  // Natural log of P(next | the last order - 1 tokens of `history`).
  double log_prob(const Tokens& history, int32_t next) const;
  // exp of the mean negative log-likelihood of the texts (and their </s>) of `pairs` given
  // their prompts. `scored_tokens(pair)`, when given: only that many of a pair's text tokens
  // and </s> count (what the neural model scores: data/text/copy_sequences.h cuts the longest
  // texts at its max_len), so the two perplexities compare.
  double perplexity(const data::text::TextCorpus& corpus, const std::vector<int64_t>& pairs,
                    const std::function<size_t(int64_t)>& scored_tokens = {}) const;
  // The most probable continuation of `prompt`, token by token, never repeating an n-gram of
  // `no_repeat_ngram` tokens (0: no rule), up to </s> or `max_length` tokens.
  Tokens generate_greedy(const Tokens& prompt, int max_length, int no_repeat_ngram) const;

 private:
  struct Counts {
    int64_t total = 0;
    std::unordered_map<int32_t, int64_t> next;
  };
  const Counts* counts_of(const Tokens& history, size_t length) const;
  int order_;
  int32_t vocab_size_;
  std::map<Tokens, Counts> contexts_;  // context (0 .. order - 1 tokens) -> successor counts
  std::vector<std::pair<int64_t, int32_t>> unigram_by_count_;  // most frequent first
};

}  // namespace cf::eval::text
