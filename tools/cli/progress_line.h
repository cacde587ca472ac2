// The progress line of a training step, as `train` and `sweep` print it on stderr.
#pragma once
#include <string>

#include "trainer/train_loop.h"

namespace cf::cli {

// "step    20/300 | loss 5.1234 | val ndcg@10 0.0312 hr@10 0.0800 | lr 2.00e-03 | 12.3k tok/s |
// norm 0.84 | ETA 1m 02s" (no newline).
std::string step_progress_line(const trainer::StepReport& report);

}  // namespace cf::cli
