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

// ROUGE-L (Lin 2004) of one pair: the F1 of the longest common subsequence's precision
// (LCS / candidate length) and recall (LCS / reference length); 0 when either is empty.
double rouge_l(const Tokens& candidate, const Tokens& reference);
// Its mean over pairs.
double mean_rouge_l(const std::vector<Tokens>& candidates, const std::vector<Tokens>& references);

// distinct-n (Li et al. 2016): distinct n-grams / all n-grams over every text of the set; 0
// for a set without n-grams.
double distinct_n(const std::vector<Tokens>& texts, int n);

}  // namespace cf::eval::text
