// report_reject: hands one malformed row to a reader's RejectSink.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "data/raw_event.h"

namespace cf::data {

// Sends a RowReject for line `line` of `file` to `sink` (if set).
void report_reject(const RejectSink& sink, std::string_view reason, const std::string& file,
                   int64_t line);

}  // namespace cf::data
