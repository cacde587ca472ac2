// Early stopping: the rule that follows a validation metric over a run's evaluations, knows
// which one is the best so far, and says when to stop. A pure object (no files, no model), so
// the rule is tested on made-up metric sequences and its state travels in checkpoints.
//
// A run may also report a second, "still learning" metric beside the one it is judged by: the
// network's own ranking when a co-occurrence prior is fused into the served one. Early in such
// a run the prior carries the served metric, which then stalls while the network is still
// improving fast; patience counts only evaluations where neither metric improved, while the best
// evaluation (and the kept checkpoint) stays the one with the best judged metric.
#pragma once
#include <cstdint>
#include <limits>

namespace cf::trainer {

// Everything the rule remembers; checkpoints store it so a resumed run decides exactly as an
// uninterrupted one would.
struct EarlyStoppingState {
  int64_t best_step = -1;  // step of the best evaluation; -1: nothing evaluated yet
  double best_value = 0;   // its metric value (meaningless while best_step < 0)
  int64_t evaluations_without_improvement = 0;  // in a row with neither metric improving
  int64_t best_learning_step = -1;  // step of the best "still learning" value; -1: none seen
  double best_learning_value = 0;
  bool operator==(const EarlyStoppingState&) const = default;
};

class EarlyStopping {
 public:
  // `higher_is_better`: true for HR/NDCG, false for a loss. `patience` 0 never stops.
  // An evaluation improves when it beats the best by more than `min_delta`.
  EarlyStopping(bool higher_is_better, int patience, double min_delta,
                EarlyStoppingState state = {});
  // Records the evaluation at `step`; true when it is the new best (the first evaluation always
  // is). A NaN value never improves. `learning`, when given (not NaN), is the second metric:
  // its improving (by more than min_delta, same direction) also resets the patience count.
  bool record(int64_t step, double value,
              double learning = std::numeric_limits<double>::quiet_NaN());
  // patience > 0 and that many evaluations in a row brought no improvement.
  bool should_stop() const;
  const EarlyStoppingState& state() const { return state_; }

 private:
  bool higher_is_better_;
  int patience_;
  double min_delta_;
  bool beats(double value, bool have_best, double best) const;
  EarlyStoppingState state_;
};

}  // namespace cf::trainer
