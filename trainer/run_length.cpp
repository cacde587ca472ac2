#include "trainer/run_length.h"

#include <algorithm>
#include <limits>
#include <string>

#include "core/error.h"

namespace cf::trainer {

int64_t run_length_steps(const Config& config, int64_t steps_per_epoch) {
  const int64_t epochs = config.train.epochs;
  if (epochs <= 0) return config.train.steps;
  CF_CHECK(steps_per_epoch >= 1, "an epoch has at least one step");
  if (epochs > std::numeric_limits<int64_t>::max() / steps_per_epoch) {
    throw UserError(config.source_path + ": key 'train.epochs' (" + std::to_string(epochs) +
                    ") x " + std::to_string(steps_per_epoch) +
                    " steps per epoch is more steps than a run can count");
  }
  return epochs * steps_per_epoch;
}

int64_t validation_interval_steps(const Config& config, int64_t steps_per_epoch) {
  return config.validation.every > 0 ? config.validation.every
                                     : std::max<int64_t>(1, steps_per_epoch);
}

}  // namespace cf::trainer
