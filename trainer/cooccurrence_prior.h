// The co-occurrence prior (`model.cooccurrence_prior: true`): the model's next-item logits plus
// w * log(1 + S(j)), S the item-to-item co-occurrence history score of the events training used
// (ranking/cooccurrence.h, the table behind eval's co-occurrence baseline). The transformer
// generalises across items through its embeddings; the table remembers exact transitions seen
// only a few times, which a low-rank item table cannot store on a sparse catalogue. w is chosen
// on the validation users at every validation (kPriorWeights, 0 included, so the prior is never
// worse than the model alone there), saved in the checkpoint (TrainState::cooccurrence_prior_weight)
// and used by eval, generate, report and target. The table is not saved: it is a pure function
// of the corpus and the run's training split, rebuilt where the checkpoint is used.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/corpus.h"
#include "data/training_split.h"
#include "ranking/cooccurrence.h"
#include "trainer/config.h"

namespace cf::trainer {

// Weights tried at each validation, in this order (ties go to the earlier, smaller one).
inline constexpr float kPriorWeights[] = {0.0f, 0.25f, 0.5f, 1.0f, 2.0f, 4.0f, 8.0f};
inline constexpr int kNumPriorWeights = int(sizeof(kPriorWeights) / sizeof(kPriorWeights[0]));

// Which events of each sequence the run trained on (validation.holdout), and its name for reports.
struct RunTrainingSplit {
  data::TrainingSplit split;
  std::vector<int64_t> validation_users;  // empty under all_users
  std::string name;                       // "all_users" or "validation_users (N)"
};
RunTrainingSplit run_training_split(const Config& config, const data::CorpusReader& corpus);

// Co-occurrence counts over the training part of every sequence of `corpus`.
std::shared_ptr<const ranking::CooccurrenceTable> build_cooccurrence_table(
    const data::CorpusReader& corpus, const data::TrainingSplit& split,
    ranking::CooccurrenceParams params = {});

// A table and its weight; inactive (weight 0, no table) when the run has no prior.
struct CooccurrencePrior {
  std::shared_ptr<const ranking::CooccurrenceTable> table;
  float weight = 0.0f;
  bool active() const { return table && weight != 0.0f; }
  // scores[j] += weight * log(1 + S(j)) for `history` (item tokens, most recent last).
  void apply(const int32_t* history, int32_t length, float* scores,
             std::vector<std::pair<int32_t, float>>& scratch) const {
    if (active()) table->add_log_prior(history, length, weight, scores, scratch);
  }
};

// The prior a checkpoint's scores carry: its saved weight, and the table rebuilt from `corpus`
// under the run's training split (not built when the weight is 0).
struct LoadedCheckpoint;
CooccurrencePrior cooccurrence_prior_of(const LoadedCheckpoint& checkpoint,
                                        const data::CorpusReader& corpus);

}  // namespace cf::trainer
