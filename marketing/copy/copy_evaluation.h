// Offline evaluation of copy generation (issue 16): a copy model against the two baselines of
// eval/text/text_baselines.h on the held-out titles of its text corpus: perplexity of the
// human descriptions, BLEU-4, ROUGE-L and distinct-1/2 of the written ones, and sample outputs
// per segment and aspect beside the human text. The report's copy section renders the JSON.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "core/json.h"
#include "data/text/text_corpus.h"
#include "marketing/copy/copy_writer.h"

namespace cf::marketing::copy {

struct CopyEvaluationOptions {
  data::text::TextSplit split = data::text::TextSplit::kTest;
  WritingOptions writing;     // how the model writes (n_best > 1: the most likely draft)
  int max_pairs = 0;          // 0: every pair of the split; N: the first N (quick looks)
  int ngram_no_repeat = 3;    // the n-gram baseline's greedy decoding rule
  int samples_per_group = 2;  // sample outputs per (segment, aspect) in the JSON
};

// Scores `writer`'s model and the baselines on the pairs of options.split. The n-gram order is
// chosen (2..6) by perplexity on the validation pairs, never on test. `progress(done, total)`
// follows the generation.
Json evaluate_copy(CopyWriter& writer, const CopyEvaluationOptions& options,
                   const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace cf::marketing::copy
