// libFuzzer target: every raw log reader behind open_raw_log, on fuzzed files.
//
// Input: byte 0 picks the format (modulo the seven formats, in the order of kRawFormats); the rest
// is one or more files separated by kPartSeparator:
//   trio        behavior_data.csv, item_data.csv, activity_data.csv (a missing part: no file)
//   user_items  the log, then the optional item-attributes JSON
//   others      the log (further parts are ignored)
// A reader may reject rows through its RejectSink or throw cf::UserError; anything else that
// escapes (another exception, a sanitizer report, a crash) is a finding. Two parts of the
// reader contract (data/raw_event.h, data/readers/row_rejects.h) are checked as well: every
// data row of the log is an event or a reject, and every reject carries a reason and a line (never
// row text).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "data/raw_event.h"
#include "data/readers/row_rejects.h"
#include "fuzz_support.h"

namespace {

using cf::data::RawFormat;

cf::data::RawSourceSpec write_source(const cf::fuzz::ScratchDir& scratch, RawFormat format,
                                     std::string_view files) {
  const auto parts = cf::fuzz::split_parts(files);
  cf::data::RawSourceSpec spec;
  spec.format = format;
  if (format == RawFormat::kTrio) {
    const char* names[] = {"behavior_data.csv", "item_data.csv", "activity_data.csv"};
    for (size_t i = 0; i < parts.size() && i < 3; ++i) scratch.write(names[i], parts[i]);
    spec.path = scratch.path();
    return spec;
  }
  spec.path = scratch.write("log.txt", parts[0]);
  if (format == RawFormat::kUserItems && parts.size() > 1) {
    spec.item_attributes = scratch.write("item2attributes.json", parts[1]);
  }
  return spec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const cf::fuzz::ScratchDir scratch("raw_log_readers");
  scratch.clear();
  const RawFormat format = cf::fuzz::kRawFormats[data[0] % cf::fuzz::kRawFormatCount];
  const std::string_view files(reinterpret_cast<const char*>(data) + 1, size - 1);
  const cf::data::RawSourceSpec spec = write_source(scratch, format, files);

  const std::string log_file =
      format == RawFormat::kTrio ? spec.path + "/behavior_data.csv" : spec.path;
  int64_t log_rejects = 0;  // side tables (trio items, activities) report to the same sink
  auto count_reject = [&](const cf::data::RowReject& reject) {
    // A reject names where and why, never what the row held (it may be personal).
    if (reject.reason.empty() || reject.line < 0) {
      std::fprintf(stderr, "reject without a reason or with a negative line\n");
      __builtin_trap();
    }
    if (reject.file == log_file) ++log_rejects;
  };
  try {
    auto reader = cf::data::open_raw_log(spec, count_reject);
    cf::data::RawEvent event;
    int64_t events = 0;
    while (reader->next(event)) {
      ++events;
      if (reader->joins_items_on_request()) {  // as prep completes such rows
        reader->join_item(event.item, event.category, event.item_features, event.price);
      }
    }
    // user_items turns one row into several events; every other format one row into one.
    const bool one_event_per_row = format != RawFormat::kUserItems;
    if (one_event_per_row && events + log_rejects != reader->rows_read()) {
      std::fprintf(stderr, "%lld events + %lld rejects != %lld rows read\n",
                   static_cast<long long>(events), static_cast<long long>(log_rejects),
                   static_cast<long long>(reader->rows_read()));
      __builtin_trap();
    }
  } catch (const cf::UserError& error) {
    cf::fuzz::note_refusal(error);
    // A structurally wrong file (no header, missing table): the expected way to refuse it.
  }
  return 0;
}
