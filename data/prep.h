// Prep: the pipeline from raw behaviour logs to a tokenized corpus file (options -> report).
#pragma once
#include <string>

#include "data/prep_types.h"

namespace cf::data {

// Runs the pipeline with open_raw_log. Throws UserError (and writes nothing, leaving an
// existing corpus at output_path untouched) on bad options, unreadable inputs, a reject
// fraction above the limit, or no usable events.
PrepReport run_prep(const PrepOptions& options, const PrepProgress& progress = {});
// The same with a caller-supplied reader opener.
PrepReport run_prep_with(const PrepOptions& options, const RawLogOpener& open,
                         const PrepProgress& progress = {});

// Whether `format` carries real timestamps (else only an order, and time gaps are bucket 1).
bool format_has_real_time(RawFormat format);

}  // namespace cf::data
