#include "trainer/early_stopping.h"

#include <cmath>

namespace cf::trainer {

EarlyStopping::EarlyStopping(bool higher_is_better, int patience, double min_delta,
                             EarlyStoppingState state)
    : higher_is_better_(higher_is_better),
      patience_(patience),
      min_delta_(min_delta),
      state_(state) {}

bool EarlyStopping::beats(double value, bool have_best, double best) const {
  if (std::isnan(value)) return false;
  if (!have_best) return true;
  return higher_is_better_ ? value > best + min_delta_ : value < best - min_delta_;
}

bool EarlyStopping::record(int64_t step, double value, double learning) {
  const bool improved = beats(value, state_.best_step >= 0, state_.best_value);
  if (improved) {
    state_.best_step = step;
    state_.best_value = value;
  }
  const bool learned = beats(learning, state_.best_learning_step >= 0, state_.best_learning_value);
  if (learned) {
    state_.best_learning_step = step;
    state_.best_learning_value = learning;
  }
  state_.evaluations_without_improvement =
      improved || learned ? 0 : state_.evaluations_without_improvement + 1;
  return improved;
}

bool EarlyStopping::should_stop() const {
  return patience_ > 0 && state_.evaluations_without_improvement >= patience_;
}

}  // namespace cf::trainer
