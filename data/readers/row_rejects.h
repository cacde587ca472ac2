// report_reject: hands one malformed row to a reader's RejectSink with a bounded excerpt.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "data/raw_event.h"

namespace cf::data {

// Longest excerpt of an offending row passed to the reject sink.
inline constexpr size_t kRejectExcerptBytes = 120;

// Sends one RowReject to `sink` (if set); the excerpt is `row` cut to kRejectExcerptBytes on a
// UTF-8 character boundary, with "..." appended when cut.
void report_reject(const RejectSink& sink, std::string_view reason, const std::string& file,
                   int64_t line, std::string_view row);

}  // namespace cf::data
