// Quality of generated copy against the human text (issue 16): corpus BLEU-4, ROUGE-L,
// distinct-n, all on token sequences (the text corpus's tokens: characters for Chinese copy,
// the usual unit for Chinese BLEU and ROUGE).
#pragma once
#include <cstdint>
#include <vector>

namespace cf::eval::text {

using Tokens = std::vector<int32_t>;

// Corpus-level BLEU-4 (Papineni et al. 2002): clipped 1..4-gram precisions summed over the
// corpus, their geometric mean, times the brevity penalty exp(1 - r / c) when the candidates'
// total length c is below the references' r. One reference per candidate. 0 when any n-gram
// order has no match (no smoothing, as corpus BLEU reports it).
double corpus_bleu4(const std::vector<Tokens>& candidates, const std::vector<Tokens>& references);

// What corpus BLEU-4 sums over pairs, for one pair: clipped n-gram matches and candidate
// n-grams (n = 1..4) and the two lengths. Sums of these give corpus BLEU of any subset or
// resample of the pairs (the bootstrap intervals of copy evaluation).
struct BleuStatistics {
  int64_t matched[4] = {0, 0, 0, 0}, total[4] = {0, 0, 0, 0};
  int64_t candidate_length = 0, reference_length = 0;
  BleuStatistics& operator+=(const BleuStatistics& other);
};
BleuStatistics bleu_statistics(const Tokens& candidate, const Tokens& reference);
// Corpus BLEU-4 of summed statistics (corpus_bleu4 is this of the sum over its pairs).
double bleu4_of(const BleuStatistics& sum);

// BLEU-4 of one pair with add-one smoothing of the 2..4-gram precisions (BLEU+1, Lin and Och
// 2004), so a pair without a 4-gram match still ranks by its shorter matches: the pairwise
// similarity of the consensus order, not a corpus score. 0 when either text is empty or no
// unigram matches.
double sentence_bleu4(const Tokens& candidate, const Tokens& reference);

// ROUGE-L (Lin 2004) of one pair: the F1 of the longest common subsequence's precision
// (LCS / candidate length) and recall (LCS / reference length); 0 when either is empty.
double rouge_l(const Tokens& candidate, const Tokens& reference);
// Its mean over pairs.
double mean_rouge_l(const std::vector<Tokens>& candidates, const std::vector<Tokens>& references);

// distinct-n (Li et al. 2016): distinct n-grams / all n-grams over every text of the set; 0
// for a set without n-grams.
double distinct_n(const std::vector<Tokens>& texts, int n);

}  // namespace cf::eval::text
