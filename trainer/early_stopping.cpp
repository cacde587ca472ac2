#include "trainer/early_stopping.h"

#include <cmath>

namespace cf::trainer {

EarlyStopping::EarlyStopping(bool higher_is_better, int patience, double min_delta,
                             EarlyStoppingState state)
    : higher_is_better_(higher_is_better),
      patience_(patience),
      min_delta_(min_delta),
      state_(state) {}

bool EarlyStopping::record(int64_t step, double value) {
  bool improved = false;
  if (!std::isnan(value)) {
    if (state_.best_step < 0) {
      improved = true;
    } else if (higher_is_better_) {
      improved = value > state_.best_value + min_delta_;
    } else {
      improved = value < state_.best_value - min_delta_;
    }
  }
  if (improved) {
    state_.best_step = step;
    state_.best_value = value;
    state_.evaluations_without_improvement = 0;
  } else {
    state_.evaluations_without_improvement += 1;
  }
  return improved;
}

bool EarlyStopping::should_stop() const {
  return patience_ > 0 && state_.evaluations_without_improvement >= patience_;
}

}  // namespace cf::trainer
