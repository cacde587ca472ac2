// The report document (report.json): everything `cartformer report` shows, computed from the
// evaluations' per-user outcomes, the runs' metrics logs and the corpus. The HTML is rendered
// from this JSON alone (report_html.h), so the two never disagree.
#pragma once
#include <string>
#include <vector>

#include "core/json.h"
#include "data/corpus.h"
#include "eval/eval_users.h"
#include "eval/metrics.h"
#include "report/bootstrap.h"

namespace cf::report {

struct ReportOptions {
  BootstrapOptions bootstrap;                         // intervals over users
  std::vector<int> cutoffs = eval::default_cutoffs();  // K of HR@K / NDCG@K
  int breakdown_cutoff = 10;                          // the K the breakdowns show
  int max_categories = 12;                            // largest categories shown; the rest pooled
};

struct ReportInputs {
  const data::CorpusReader* corpus = nullptr;
  const eval::EvalOutput* next_item = nullptr;   // required
  const eval::EvalOutput* propensity = nullptr;  // optional: the model whose propensity head is shown
  std::vector<std::string> run_dirs;             // training runs whose metrics.jsonl is charted
};

// Sections: summary, training, next_item, propensity (null when no evaluation has logits),
// data_profile. Every rate has {estimate, lower, upper}: a percentile bootstrap over users.
Json build_report(const ReportInputs& inputs, const ReportOptions& options);

struct ComparisonInputs {
  const data::CorpusReader* corpus = nullptr;
  const eval::EvalOutput* a = nullptr;
  const eval::EvalOutput* b = nullptr;
  std::string label_a = "A", label_b = "B";
};

// Model B against model A on the same users: every metric of both, B - A with a paired
// bootstrap interval, and whether it is significant (the interval excludes 0). Evaluations of
// different corpora or of different users are UserErrors naming both.
Json build_comparison(const ComparisonInputs& inputs, const ReportOptions& options);

// The run directory of a checkpoint step directory (".../run/checkpoints/step_N" -> ".../run");
// "" when the path does not look like one.
std::string run_dir_of_checkpoint(const std::string& checkpoint_dir);

}  // namespace cf::report
