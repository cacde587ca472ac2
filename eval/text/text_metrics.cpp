#include "eval/text/text_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"

namespace cf::eval::text {
namespace {

// Counts of the n-grams of `tokens`.
std::map<Tokens, int64_t> ngram_counts(const Tokens& tokens, int n) {
  std::map<Tokens, int64_t> counts;
  for (size_t i = 0; i + size_t(n) <= tokens.size(); ++i)
    ++counts[Tokens(tokens.begin() + int64_t(i), tokens.begin() + int64_t(i) + n)];
  return counts;
}

}  // namespace

BleuStatistics& BleuStatistics::operator+=(const BleuStatistics& other) {
  for (int n = 0; n < 4; ++n) {
    matched[n] += other.matched[n];
    total[n] += other.total[n];
  }
  candidate_length += other.candidate_length;
  reference_length += other.reference_length;
  return *this;
}

BleuStatistics bleu_statistics(const Tokens& candidate, const Tokens& reference) {
  BleuStatistics s;
  s.candidate_length = int64_t(candidate.size());
  s.reference_length = int64_t(reference.size());
  for (int n = 1; n <= 4; ++n) {
    const auto cand = ngram_counts(candidate, n);
    const auto ref = ngram_counts(reference, n);
    for (const auto& [gram, count] : cand) {
      s.total[n - 1] += count;
      const auto it = ref.find(gram);
      if (it != ref.end()) s.matched[n - 1] += std::min(count, it->second);
    }
  }
  return s;
}

namespace {
double brevity_penalty(int64_t candidate_length, int64_t reference_length) {
  return candidate_length < reference_length
             ? std::exp(1.0 - double(reference_length) / double(candidate_length))
             : 1.0;
}
}  // namespace

double bleu4_of(const BleuStatistics& sum) {
  double log_precision = 0;
  for (int n = 0; n < 4; ++n) {
    if (sum.matched[n] == 0 || sum.total[n] == 0) return 0.0;
    log_precision += std::log(double(sum.matched[n]) / double(sum.total[n])) / 4;
  }
  return brevity_penalty(sum.candidate_length, sum.reference_length) * std::exp(log_precision);
}

double corpus_bleu4(const std::vector<Tokens>& candidates, const std::vector<Tokens>& references) {
  CF_CHECK(candidates.size() == references.size(), "BLEU: one reference per candidate");
  BleuStatistics sum;
  for (size_t k = 0; k < candidates.size(); ++k)
    sum += bleu_statistics(candidates[k], references[k]);
  return bleu4_of(sum);
}

double sentence_bleu4(const Tokens& candidate, const Tokens& reference) {
  if (candidate.empty() || reference.empty()) return 0.0;
  const BleuStatistics s = bleu_statistics(candidate, reference);
  double log_precision = 0;
  for (int n = 0; n < 4; ++n) {
    const int add = n == 0 ? 0 : 1;  // BLEU+1: unigrams unsmoothed
    if (s.matched[n] + add == 0) return 0.0;
    log_precision += std::log(double(s.matched[n] + add) / double(s.total[n] + add)) / 4;
  }
  return brevity_penalty(s.candidate_length, s.reference_length) * std::exp(log_precision);
}

double rouge_l(const Tokens& candidate, const Tokens& reference) {
  if (candidate.empty() || reference.empty()) return 0.0;
  // LCS by dynamic programming over one row.
  std::vector<int32_t> row(reference.size() + 1, 0);
  for (const int32_t c : candidate) {
    int32_t diagonal = 0;
    for (size_t j = 1; j <= reference.size(); ++j) {
      const int32_t above = row[j];
      row[j] = c == reference[j - 1] ? diagonal + 1 : std::max(row[j], row[j - 1]);
      diagonal = above;
    }
  }
  const double lcs = row.back();
  if (lcs == 0) return 0.0;
  const double precision = lcs / double(candidate.size()), recall = lcs / double(reference.size());
  return 2 * precision * recall / (precision + recall);
}

double mean_rouge_l(const std::vector<Tokens>& candidates, const std::vector<Tokens>& references) {
  CF_CHECK(candidates.size() == references.size(), "ROUGE-L: one reference per candidate");
  if (candidates.empty()) return 0.0;
  double sum = 0;
  for (size_t k = 0; k < candidates.size(); ++k) sum += rouge_l(candidates[k], references[k]);
  return sum / double(candidates.size());
}

double distinct_n(const std::vector<Tokens>& texts, int n) {
  CF_CHECK(n >= 1, "distinct-n: n must be at least 1");
  std::set<Tokens> distinct;
  int64_t total = 0;
  for (const Tokens& t : texts)
    for (size_t i = 0; i + size_t(n) <= t.size(); ++i) {
      distinct.insert(Tokens(t.begin() + int64_t(i), t.begin() + int64_t(i) + n));
      ++total;
    }
  return total == 0 ? 0.0 : double(distinct.size()) / double(total);
}

}  // namespace cf::eval::text
