// Task rows: how a corpus sequence becomes a training or validation row for each task
// (pretrain, next_item, propensity), which positions are targets, and how losses combine.
// They see only the task's few settings (TaskSpec), never the whole Config.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "data/batch.h"
#include "data/corpus.h"
#include "data/training_split.h"
#include "trainer/comm/communicator.h"
#include "trainer/config.h"
#include "trainer/model/model_types.h"
#include "trainer/sampled_loss.h"

namespace cf::trainer {

// What rows, targets and losses depend on: the task and its loss settings.
struct TaskSpec {
  TaskKind kind = TaskKind::kPretrain;
  bool purchases_only = false;      // next_item: only "buy" events are targets
  float action_loss_weight = 0.0f;  // pretrain: weight of the next-action loss (0 = off)
  float copy_input_noise = 0.0f;    // copy: see noise_copy_inputs
};
TaskSpec task_spec(const TaskSection& task);

// The model the task trains: pretraining with an action loss adds the action head, the
// propensity task the propensity head.
ModelConfig model_config_for_task(const ModelConfig& model, const TaskSpec& task);

struct RowPlan {
  int32_t visible = 0;  // events fed to the model
  float label = -1.f;   // propensity label (< 0: none)
};
// `row_draw`: random bits fixed by (run seed, step, row of the global batch), so the plan is the
// same at any world size and on resume. The propensity task uses them to pick a cut point: the
// input is the events before it, the label whether the event at the cut is a purchase. Every
// prefix of every user's training part is a possible example, not only the whole of it (one
// example per user per epoch leaves a few dozen positives on small logs: too few to learn from).
// `train_len`: the events of `seq` training may use (TrainingSplit::train_length).
RowPlan plan_training_row(const TaskSpec& task, const data::Sequence& seq, int32_t train_len,
                          uint64_t row_draw);
// The row_draw of global-batch row `row` at `step` (a pure function of its arguments).
uint64_t training_row_draw(uint64_t seed, int64_t step, int64_t row);
// Clears the targets of row b the task does not train (all for propensity; non-purchases for
// next-purchase).
void restrict_targets(const TaskSpec& task, data::Batch& batch, int b);
// The copy task's mask: row b's targets before its <sep> (the tags and the title) are cleared,
// so the loss covers exactly the description tokens and its </s>.
void clear_prompt_targets(data::Batch& batch, int b);
// Copy training rows only: each description input token after the first (the prompt, the
// <sep> and the </s> stay) is, with probability `share`, replaced by a token drawn from the row's
// own description; the targets stay the true next tokens. The model then cannot lean on the exact
// characters it has just read alone and must keep the title in view: a regulariser for a few
// thousand pairs that a character model otherwise learns by heart. `row_draw` fixes the draws (the
// same at any world size and on resume).
void noise_copy_inputs(data::Batch& batch, int b, float share, uint64_t row_draw);
LossOptions loss_options_for_task(const TaskSpec& task);
// The reported task loss: means of the summed losses over their counts.
double task_loss(const TaskSpec& task, const LossSums& sums);
void add_sums(LossSums& into, const LossSums& s);
// Sums every field of `sums` over the ranks of `comm`.
void all_reduce_sums(comm::Communicator& comm, LossSums& sums);

// Global target counts of a step (over every rank's rows), so each loss is averaged over the
// whole global batch whatever its split into micro-batches and ranks.
struct StepTargetCounts {
  int64_t items = 0;    // next-item targets
  int64_t actions = 0;  // next-action targets
  int64_t labels = 0;   // propensity labels
  int64_t tokens = 0;   // real (non-padding) input positions
};
// Fills `micro` with this rank's rows [first_row, first_row + rows) of the step's sequence ids
// `ids` (the global batch, or a private step's Poisson-sampled users), cut and restricted for
// the task and cut to what `split` lets training see: as many `micro_batch` x `max_len`
// micro-batches as the rows need, the last padded with empty rows (length 0) when `rows` is
// not a multiple of micro_batch. A row's draws depend on its place in `ids`, not on the rank.
// Returns this rank's share of the counts.
StepTargetCounts fill_micro_batches(const TaskSpec& task, const data::TrainingSplit& split,
                                    const data::CorpusReader& corpus,
                                    const std::vector<int64_t>& ids, int64_t first_row,
                                    int64_t rows, uint64_t seed, int64_t step, int micro_batch,
                                    int max_len, std::vector<data::Batch>& micro);
// The target counts of a one-row batch (one user's share of a private step).
StepTargetCounts row_target_counts(const data::Batch& row);
// The loss options of one step: the task's, with every gradient scale set to 1 / its global
// count, and the item loss of `item_loss` with the step's negatives drawn from negative_seed.
LossOptions step_loss_options(const TaskSpec& task, const StepTargetCounts& global_counts,
                              const SampledLossPlan& item_loss, uint64_t negative_seed);

// A fixed, evenly spread set of validation rows: input = the events before the validation
// event, the only target = the validation event (or its purchase flag for propensity). With
// several ranks each scores every world_size-th row and the sums are added up, so the loss is
// the same at any world size.
class ValidationSet {
 public:
  // Rows are scored `micro_batch` at a time, `max_len` positions each.
  // `candidates` (non-empty): draw the rows only from these sequence ids (ascending): the
  // users whose validation event training leaves out, when not all users' is.
  ValidationSet(const data::CorpusReader& corpus, int rows_wanted, const TaskSpec& task,
                int micro_batch, int max_len, const std::vector<int64_t>& candidates = {});
  bool empty() const { return ids_.empty(); }
  // `evaluate` scores one batch without dropout (a training backend's evaluate_loss).
  using Evaluate = std::function<LossSums(const data::Batch&, const LossOptions&)>;
  double loss(const data::CorpusReader& corpus, const Evaluate& evaluate,
              comm::Communicator& comm) const;

 private:
  std::vector<int64_t> ids_;
  TaskSpec task_;
  int micro_batch_, max_len_;
};

}  // namespace cf::trainer
