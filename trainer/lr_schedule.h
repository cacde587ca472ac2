// Learning-rate schedules: linear warmup followed by cosine, linear or constant decay.
#pragma once
#include <cstdint>

#include "trainer/config.h"

namespace cf::trainer {

// Learning rate for the optimizer step with 0-based index `step` (the number of steps already
// completed). Warmup ramps linearly from lr/warmup_steps at step 0 to lr at step
// warmup_steps-1; from step warmup_steps the decay falls from lr to lr*min_lr_ratio, reached
// exactly at the last step (steps-1) and held beyond it. Constant stays at lr after warmup.
float lr_at(int64_t step, const TrainSection& train);

}  // namespace cf::trainer
