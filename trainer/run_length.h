// Run length and validation cadence in optimizer steps: a run is train.steps long, or
// train.epochs passes over the eligible sequences (epochs x the sampler's steps per epoch);
// validation runs every validation.every steps, or once per epoch when that is 0.
#pragma once
#include <cstdint>

#include "trainer/config.h"

namespace cf::trainer {

// The steps the run trains for. UserError naming the config file when epochs x steps_per_epoch
// does not fit in 64 bits.
int64_t run_length_steps(const Config& config, int64_t steps_per_epoch);
// Steps between validations (>= 1).
int64_t validation_interval_steps(const Config& config, int64_t steps_per_epoch);

}  // namespace cf::trainer
