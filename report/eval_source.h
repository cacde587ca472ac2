// Where a report's evaluations come from: an eval output folder (eval.json + eval_users.csv)
// or a checkpoint, which is evaluated on the spot with the same evaluator `cartformer eval` uses.
#pragma once
#include <string>

#include "data/corpus.h"
#include "eval/eval_users.h"
#include "eval/evaluator.h"

namespace cf::report {

// `path` is an eval output folder, a checkpoint step directory, or a run directory / checkpoints
// root (newest valid checkpoint). An eval output must come from `corpus` (same vocabulary
// fingerprint): otherwise a UserError naming both files. A checkpoint's vocabulary must match
// the corpus (the same check train and eval make).
eval::EvalOutput evaluate_or_load(const std::string& path, const data::CorpusReader& corpus,
                                  const eval::EvalOptions& options,
                                  const eval::EvalProgress& progress = {});

// The vocabulary fingerprint an eval.json was computed on ("" if it records none).
std::string eval_corpus_fingerprint(const Json& eval_json);

// The vocabulary fingerprint recorded by an eval output folder (eval.json) or a checkpoint
// (manifest.json), without loading anything else.
std::string recorded_corpus_fingerprint(const std::string& path);

// --compare's first check: A and B must come from the same corpus, whatever corpus is given.
void require_same_corpus(const std::string& a, const std::string& b);

}  // namespace cf::report
