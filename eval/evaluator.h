// Evaluator: runs the leave-one-out next-item protocols (and propensity metrics) for a model and
// the baselines on the same users, targets and negatives, and builds eval.json / eval.md.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/json.h"
#include "data/corpus.h"
#include "data/training_split.h"
#include "eval/baselines.h"
#include "eval/metrics.h"

namespace cf::trainer {
class Model;
struct LoadedCheckpoint;
}  // namespace cf::trainer

namespace cf::eval {

// Protocol names as they appear in eval.json. The first is the main one (top level of each
// scorer's entry); the others go under "by_protocol".
inline constexpr const char* kFullFiltered = "full_filtered";
inline constexpr const char* kFullUnfiltered = "full_unfiltered";
inline constexpr const char* kSampledUniform = "sampled_uniform";
inline constexpr const char* kSampledPopularity = "sampled_popularity";

struct EvalOptions {
  data::Split split = data::Split::kTest;  // kTest: target = last event; kValidation: 2nd-to-last
  int64_t max_users = 0;    // 0 = every eligible user; else the first N in corpus order
  uint64_t seed = 42;       // sampled negatives
  int num_negatives = 100;  // per user and sampled protocol
  std::vector<int> cutoffs = default_cutoffs();
  CooccurrenceParams cooccurrence;
  int max_batch_rows = 256;  // users scored per model call (fewer when the catalogue is huge)
  int read_chunk = 1024;     // sequences read from the corpus per call
  // The events the model was trained on (its checkpoint's validation.holdout): the baselines
  // count the same ones, so the comparison is like for like, and the validation split scores
  // only users whose validation event training left out.
  data::TrainingSplit training_split;
  std::string training_split_name = "all_users";
  // The checkpoint's co-occurrence prior weight (trainer/cooccurrence_prior.h; 0: none). With
  // one, "model" is scored as the checkpoint serves it (logits + weight * log(1 + S), S from the
  // same co-occurrence table as the baseline) and "model_without_prior" is the network alone.
  float prior_weight = 0;
  // Recorded in "protocol" only (the evaluator does not load checkpoints itself).
  std::string checkpoint_dir;
  int64_t checkpoint_step = -1;
  Json privacy;  // the checkpoint's DP-SGD spend (trainer::privacy_spent_json); null: not private
};

// Sets what `options` records and uses from a checkpoint evaluated on `corpus`: its directory
// and step, the events it trained on (validation.holdout) and its co-occurrence prior weight.
void use_checkpoint(EvalOptions& options, const std::string& checkpoint_dir,
                    const trainer::LoadedCheckpoint& checkpoint, const data::CorpusReader& corpus);

// Called from the evaluating thread as work advances: stage is "cooccurrence" (done/total in
// sequences) or "scoring" (done/total in users). Libraries never print progress themselves.
using EvalProgress = std::function<void(const std::string& stage, int64_t done, int64_t total)>;

// One evaluated user, kept so that reports can put bootstrap intervals on every metric, break
// results down, and compare two models user by user (`cartformer eval` writes eval_users.csv).
struct UserOutcome {
  int64_t sequence = 0;        // sequence index in the corpus
  int32_t history_length = 0;  // events before the target
  int32_t target_item = 0;     // tokens
  int32_t target_category = 0;
  int32_t last_action = 0;     // action of the last input event
  std::vector<int64_t> ranks;  // main-protocol rank per scorer, in EvalReport::scorers order
  double propensity_logit = std::numeric_limits<double>::quiet_NaN();  // NaN without the head
  int8_t label = -1;  // held-out purchase flag of the target event (-1 unknown)
};

struct EvalReport {
  Json json;                         // the eval.json document
  std::string markdown;              // the eval.md summary
  std::vector<std::string> scorers;  // "model" (when evaluated) then the baselines
  std::vector<UserOutcome> users;    // in corpus order
};

// Leave-one-out details (see data::visible_length): for the chosen split, the target is the
// event at index visible_length(L, split) and the input is every earlier event; sequences with
// fewer than 3 events (or a padding target) are skipped. The model sees the input left-truncated
// to its max_len; filtering and sampled negatives use the user's whole input history, so every
// scorer is judged on identical candidate sets whatever its context length.
//
// Protocols (all with pessimistic ties, see full_rank):
//   full_filtered       target vs every item not in the input history (the target always stays)
//   full_unfiltered     target vs every item
//   sampled_uniform     target vs num_negatives distinct items drawn uniformly among items not
//                       in the history (same draw for every scorer: seeded per sequence index)
//   sampled_popularity  as above, drawn proportional to training item_counts
// Propensity (model with a propensity head): AUC, log loss, ECE (10 bins) of sigmoid(logit)
// against the held-out purchase flag of the target event (CorpusReader::purchase_labels() under
// the test split), on the same users and inputs.
class Evaluator {
 public:
  Evaluator(const data::CorpusReader& corpus, EvalOptions options);

  // `model` may be null: baselines only ("model" is null in the JSON). The model's vocabulary
  // must match the corpus (the caller checks fingerprints; sizes are checked here).
  EvalReport run(trainer::Model* model, const EvalProgress& progress = {});

 private:
  const data::CorpusReader& corpus_;
  EvalOptions options_;
};

// Renders the Markdown summary from an eval.json document (works without a model).
std::string render_markdown_summary(const Json& report);

const char* split_name(data::Split split);  // "train", "validation", "test"

}  // namespace cf::eval
