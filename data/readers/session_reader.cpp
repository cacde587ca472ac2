#include "data/readers/session_reader.h"

#include <cmath>

#include "data/readers/header_columns.h"
#include "data/readers/number_fields.h"
#include "data/readers/row_rejects.h"
#include "data/readers/utc_time.h"

namespace cf::data {

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

SessionReader::SessionReader(const std::string& path, Layout layout, RejectSink rejects)
    : rejects_(std::move(rejects)),
      layout_(layout),
      lines_(path),
      // YooChoose is plain TSV; Diginetica is a CSV dialect, so quotes get the CSV meaning.
      splitter_(layout == Layout::kYoochoose ? '\t' : ';', layout == Layout::kDiginetica) {
  if (layout_ == Layout::kYoochoose) {
    const HeaderColumns header(lines_, splitter_, "SessionId\tItemId\tTime");
    column_count_ = header.count();
    session_column_ = header.require("SessionId");
    item_column_ = header.require("ItemId");
    time_column_ = header.require("Time");
  } else {
    const HeaderColumns header(lines_, splitter_, "session_id;user_id;item_id;timeframe;eventdate");
    column_count_ = header.count();
    session_column_ = header.require("session_id");
    item_column_ = header.require("item_id");
    time_column_ = header.require("timeframe");
    date_column_ = header.require("eventdate");
  }
}

bool SessionReader::parse_time(int64_t& timestamp) const {
  if (layout_ == Layout::kYoochoose) {
    double seconds = 0.0;
    // The bound keeps the conversion to int64 defined; real logs are around 1.4e9.
    if (!parse_finite_double(splitter_[time_column_], seconds) || std::fabs(seconds) > 1e15) {
      return false;
    }
    timestamp = static_cast<int64_t>(std::floor(seconds));
    return true;
  }
  int64_t day_start = 0, offset_ms = 0;
  if (!parse_iso_date(splitter_[date_column_], day_start) ||
      !parse_int64(splitter_[time_column_], offset_ms)) {
    return false;
  }
  timestamp = day_start + floor_div(offset_ms, 1000);
  return true;
}

bool SessionReader::next(RawEvent& event) {
  std::string_view line;
  while (lines_.next_line(line)) {
    if (is_blank_line(line)) continue;
    ++rows_read_;
    const int64_t number = lines_.line_number();
    const char* reason = nullptr;
    int64_t timestamp = 0;
    if (!splitter_.split(line)) {
      reason = "bad_quoting";
    } else if (splitter_.size() != column_count_) {
      reason = "wrong_field_count";
    } else if (splitter_[session_column_].empty() || splitter_[item_column_].empty() ||
               splitter_[time_column_].empty() ||
               (layout_ == Layout::kDiginetica && splitter_[date_column_].empty())) {
      reason = "empty_field";
    } else if (!parse_time(timestamp)) {
      reason = "bad_timestamp";
    }
    if (reason != nullptr) {
      report_reject(rejects_, reason, lines_.path(), number);
      continue;
    }
    event.user.assign(splitter_[session_column_]);
    event.item.assign(splitter_[item_column_]);
    event.category.clear();
    event.item_features.clear();  // session logs carry nothing about items
    event.action = canonical_actions()[1];
    event.activity.clear();
    event.timestamp = timestamp;
    event.price = std::nan("");
    event.purchase_label = -1;
    event.line = number;
    return true;
  }
  return false;
}

}  // namespace cf::data
