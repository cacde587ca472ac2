// run_prep: the prep pipeline over real files, via the per-format readers (open_raw_log).
#include "data/prep.h"

namespace cf::data {

// Kept apart from prep.cpp so code that feeds the pipeline its own readers (tests, benchmarks)
// does not pull in every file-format reader.
PrepReport run_prep(const PrepOptions& options, const PrepProgress& progress) {
  return run_prep_with(options, open_raw_log, progress);
}

}  // namespace cf::data
