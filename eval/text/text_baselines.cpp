#include "eval/text/text_baselines.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "data/text/copy_sequences.h"

namespace cf::eval::text {
namespace {

using data::text::TextSplit;

Tokens slice(const std::vector<int32_t>& tokens, const std::vector<int64_t>& offsets, int64_t i) {
  return Tokens(tokens.begin() + offsets[size_t(i)], tokens.begin() + offsets[size_t(i) + 1]);
}

// Size of the multiset intersection of two sorted token lists.
int64_t overlap(const Tokens& a, const Tokens& b) {
  int64_t shared = 0;
  for (size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    if (a[i] == b[j]) {
      ++shared;
      ++i;
      ++j;
    } else if (a[i] < b[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  return shared;
}

}  // namespace

Tokens title_of(const data::text::TextCorpus& c, int64_t pair) {
  return slice(c.title_tokens, c.title_offsets, pair);
}
Tokens text_of(const data::text::TextCorpus& c, int64_t pair) {
  return slice(c.text_tokens, c.text_offsets, pair);
}
Tokens prompt_of(const data::text::TextCorpus& c, int64_t pair) {
  Tokens prompt{data::text::kBeginToken};
  const Tokens title = title_of(c, pair);
  prompt.insert(prompt.end(), title.begin(), title.end());
  prompt.push_back(data::text::kSeparatorToken);
  return prompt;
}

RetrievalBaseline::RetrievalBaseline(const data::text::TextCorpus& corpus) : corpus_(corpus) {
  std::map<Tokens, size_t> index;  // title tokens (in order) -> slot
  for (int64_t i = 0; i < corpus.num_pairs(); ++i) {
    if (corpus.split[size_t(i)] != int8_t(TextSplit::kTrain)) continue;
    const Tokens title = title_of(corpus, i);
    auto [it, fresh] = index.emplace(title, titles_.size());
    if (fresh) {
      Tokens sorted = title;
      std::sort(sorted.begin(), sorted.end());
      titles_.push_back(std::move(sorted));
      pairs_of_.emplace_back();
    }
    pairs_of_[it->second].push_back(i);
  }
  CF_CHECK(!titles_.empty(), "retrieval baseline: no training pairs");
}

Tokens RetrievalBaseline::text_for(const Tokens& title, int32_t segment, int32_t aspect) const {
  return texts_for(title, segment, aspect, 1).front();
}

std::vector<Tokens> RetrievalBaseline::texts_for(const Tokens& title, int32_t segment,
                                                 int32_t aspect, int k) const {
  CF_CHECK(k >= 1, "retrieval baseline: k >= 1");
  Tokens query = title;
  std::sort(query.begin(), query.end());
  std::vector<std::pair<double, size_t>> scored(titles_.size());
  for (size_t t = 0; t < titles_.size(); ++t)
    scored[t] = {
        2.0 * double(overlap(query, titles_[t])) / double(query.size() + titles_[t].size()), t};
  const size_t kept = std::min(size_t(k), scored.size());
  std::partial_sort(scored.begin(), scored.begin() + int64_t(kept), scored.end(),
                    [](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first : a.second < b.second;
                    });
  std::vector<Tokens> texts;
  for (size_t n = 0; n < kept; ++n) {
    const std::vector<int64_t>& pairs = pairs_of_[scored[n].second];
    int64_t chosen = pairs.front();
    int rank = 0;  // 2: same aspect and segment, 1: same aspect
    for (const int64_t p : pairs) {
      const int r =
          corpus_.aspect[size_t(p)] == aspect ? (corpus_.segment[size_t(p)] == segment ? 2 : 1) : 0;
      if (r > rank) {
        rank = r;
        chosen = p;
      }
    }
    texts.push_back(text_of(corpus_, chosen));
  }
  return texts;
}

CharNgramLm::CharNgramLm(int order, int32_t vocab_size) : order_(order), vocab_size_(vocab_size) {
  CF_CHECK(order >= 1 && vocab_size > 0, "n-gram model: order >= 1 and a vocabulary");
}

void CharNgramLm::train(const data::text::TextCorpus& corpus) {
  std::unordered_map<int32_t, int64_t> unigram;
  for (int64_t i = 0; i < corpus.num_pairs(); ++i) {
    if (corpus.split[size_t(i)] != int8_t(TextSplit::kTrain)) continue;
    Tokens sequence = prompt_of(corpus, i);
    const size_t first_target = sequence.size();
    const Tokens text = text_of(corpus, i);
    sequence.insert(sequence.end(), text.begin(), text.end());
    sequence.push_back(data::text::kEndToken);
    for (size_t t = first_target; t < sequence.size(); ++t) {
      ++unigram[sequence[t]];
      for (int k = 0; k < order_ && size_t(k) <= t; ++k) {
        Counts& c =
            contexts_[Tokens(sequence.begin() + int64_t(t) - k, sequence.begin() + int64_t(t))];
        ++c.total;
        ++c.next[sequence[t]];
      }
    }
  }
  for (const auto& [token, count] : unigram) unigram_by_count_.push_back({count, token});
  std::sort(unigram_by_count_.begin(), unigram_by_count_.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
}

const CharNgramLm::Counts* CharNgramLm::counts_of(const Tokens& history, size_t length) const {
  if (length > history.size()) return nullptr;
  const auto it = contexts_.find(Tokens(history.end() - int64_t(length), history.end()));
  return it == contexts_.end() ? nullptr : &it->second;
}

// Interpolated Witten-Bell: P(w | h) = (c(h w) + T(h) P(w | h')) / (c(h) + T(h)), T(h) the
// number of distinct successors of h, h' h without its oldest token; below the empty context
// a uniform distribution over the vocabulary. Contexts never seen pass P(w | h') through.
double CharNgramLm::log_prob(const Tokens& history, int32_t next) const {
  double p = 1.0 / double(vocab_size_);
  for (int k = 0; k < order_; ++k) {
    const Counts* c = counts_of(history, size_t(k));
    if (c == nullptr) break;  // longer contexts are unseen too
    const auto it = c->next.find(next);
    const double seen = it == c->next.end() ? 0.0 : double(it->second);
    const double distinct = double(c->next.size());
    p = (seen + distinct * p) / (double(c->total) + distinct);
  }
  return std::log(p);
}

double CharNgramLm::perplexity(const data::text::TextCorpus& corpus,
                               const std::vector<int64_t>& pairs,
                               const std::function<size_t(int64_t)>& scored_tokens) const {
  double nll = 0;
  int64_t count = 0;
  for (const int64_t i : pairs) {
    Tokens history = prompt_of(corpus, i);
    Tokens target = text_of(corpus, i);
    target.push_back(data::text::kEndToken);
    if (scored_tokens) target.resize(std::min(target.size(), scored_tokens(i)));
    for (const int32_t t : target) {
      nll -= log_prob(history, t);
      ++count;
      history.push_back(t);
    }
  }
  return count == 0 ? 0.0 : std::exp(nll / double(count));
}

Tokens CharNgramLm::generate_greedy(const Tokens& prompt, int max_length,
                                    int no_repeat_ngram) const {
  Tokens history = prompt;
  Tokens out;
  std::set<Tokens> seen_ngrams;
  auto repeats = [&](int32_t next) {
    if (no_repeat_ngram <= 0 || int(out.size()) + 1 < no_repeat_ngram) return false;
    Tokens gram(out.end() - (no_repeat_ngram - 1), out.end());
    gram.push_back(next);
    return seen_ngrams.count(gram) > 0;
  };
  while (int(out.size()) < max_length) {
    // The argmax is a successor of some seen context, or else the most frequent token (every
    // other token gets the same chain of back-off weights times its unigram share).
    std::set<int32_t> candidates;
    for (int k = 1; k < order_; ++k)
      if (const Counts* c = counts_of(history, size_t(k)))
        for (const auto& [token, count] : c->next) candidates.insert(token);
    int added = 0;
    for (const auto& [count, token] : unigram_by_count_) {
      if (candidates.insert(token).second) ++added;
      if (added == 8) break;  // a few; if repeats block them all, the whole vocabulary below
    }
    int32_t best = -1;
    double best_log_prob = -INFINITY;
    for (const int32_t token : candidates) {
      if (repeats(token)) continue;
      const double lp = log_prob(history, token);
      if (lp > best_log_prob) {
        best_log_prob = lp;
        best = token;
      }
    }
    if (best < 0) {
      // Every candidate would repeat an n-gram: the whole vocabulary, for the true argmax.
      for (int32_t token = 0; token < vocab_size_; ++token) {
        if (candidates.count(token) || repeats(token)) continue;
        const double lp = log_prob(history, token);
        if (lp > best_log_prob) {
          best_log_prob = lp;
          best = token;
        }
      }
    }
    if (best < 0 || best == data::text::kEndToken) break;
    if (no_repeat_ngram > 0 && int(out.size()) + 1 >= no_repeat_ngram) {
      Tokens gram(out.end() - (no_repeat_ngram - 1), out.end());
      gram.push_back(best);
      seen_ngrams.insert(gram);
    }
    out.push_back(best);
    history.push_back(best);
  }
  return out;
}

}  // namespace cf::eval::text
