#include "trainer/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace cf::trainer {

float lr_at(int64_t step, const TrainSection& train) {
  const double peak = train.lr;
  step = std::max<int64_t>(step, 0);
  if (step < train.warmup_steps) {
    // Starts at peak/warmup rather than 0 so the first step is not wasted.
    return static_cast<float>(peak * static_cast<double>(step + 1) /
                              static_cast<double>(train.warmup_steps));
  }
  if (train.schedule == LrSchedule::kConstant) return static_cast<float>(peak);

  const int64_t decay_steps = train.steps - 1 - train.warmup_steps;
  // With no decay span (warmup covers the run) the peak is kept.
  double progress = decay_steps <= 0 ? 0.0
                                     : static_cast<double>(step - train.warmup_steps) /
                                           static_cast<double>(decay_steps);
  progress = std::clamp(progress, 0.0, 1.0);
  const double floor = train.min_lr_ratio;
  double fraction = 1.0;  // of the span between the floor and the peak
  if (train.schedule == LrSchedule::kCosine) {
    fraction = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  } else {
    fraction = 1.0 - progress;
  }
  return static_cast<float>(peak * (floor + (1.0 - floor) * fraction));
}

}  // namespace cf::trainer
