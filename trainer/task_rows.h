// Task rows: how a corpus sequence becomes a training or validation row for each task
// (pretrain, next_item, propensity), which positions are targets, and how losses combine.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "data/batch.h"
#include "data/corpus.h"
#include "trainer/comm/communicator.h"
#include "trainer/config.h"
#include "trainer/model/model.h"

namespace cf::trainer {

// The model the task trains: pretraining with an action loss adds the action head, the
// propensity task the propensity head.
ModelConfig model_config_for_task(const Config& config);

struct RowPlan {
  int32_t visible = 0;  // events fed to the model
  float label = -1.f;   // propensity label (< 0: none)
};
// `row_draw`: random bits fixed by (run seed, step, row of the global batch), so the plan is the
// same at any world size and on resume. The propensity task uses them to pick a cut point: the
// input is the events before it, the label whether the event at the cut is a purchase. Every
// prefix of every user's training part is a possible example, not only the whole of it (one
// example per user per epoch leaves a few dozen positives on small logs: too few to learn from).
RowPlan plan_training_row(const Config& config, const data::Sequence& seq, uint64_t row_draw);
// The row_draw of global-batch row `row` at `step` (a pure function of its arguments).
uint64_t training_row_draw(uint64_t seed, int64_t step, int64_t row);
// Clears the targets of row b the task does not train (all for propensity; non-purchases for
// next-purchase).
void restrict_targets(const Config& config, data::Batch& batch, int b);
LossOptions loss_options_for_task(const Config& config);
// The reported task loss: means of the summed losses over their counts.
double task_loss(const Config& config, const LossSums& sums);
void add_sums(LossSums& into, const LossSums& s);
// Sums every field of `sums` over the ranks of `comm`.
void all_reduce_sums(comm::Communicator& comm, LossSums& sums);

// Sequences with at least two training events (one input and one target or label): the ids
// the BatchSampler draws from.
std::vector<int64_t> eligible_sequences(const data::CorpusReader& corpus);

// A fixed, evenly spread set of validation rows: input = the events before the validation
// event, the only target = the validation event (or its purchase flag for propensity). With
// several ranks each scores every world_size-th row and the sums are added up, so the loss is
// the same at any world size.
class ValidationSet {
 public:
  ValidationSet(const data::CorpusReader& corpus, int rows_wanted);
  bool empty() const { return ids_.empty(); }
  // `evaluate` scores one batch without dropout (Model::evaluate_loss, or the GPU model's).
  using Evaluate = std::function<LossSums(const data::Batch&, const LossOptions&)>;
  double loss(const Config& config, const data::CorpusReader& corpus, const Evaluate& evaluate,
              comm::Communicator& comm) const;
  double loss(const Config& config, const data::CorpusReader& corpus, Model& model,
              comm::Communicator& comm) const;

 private:
  std::vector<int64_t> ids_;
};

}  // namespace cf::trainer
