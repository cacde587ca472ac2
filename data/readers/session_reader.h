// SessionReader: anonymous session click logs (YooChoose TSV, Diginetica ';' CSV); user = session.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/raw_event.h"
#include "data/readers/csv_line.h"
#include "data/readers/line_reader.h"

namespace cf::data {

// Both logs have a header row; columns are found by name.
//   YooChoose   SessionId<TAB>ItemId<TAB>Time          Time: unix seconds, fractional part dropped
//   Diginetica  session_id;user_id;item_id;timeframe;eventdate
//               timestamp = eventdate ("YYYY-MM-DD", 00:00 UTC) + floor(timeframe ms / 1000);
//               user_id (mostly "NA") is not read.
// The session id becomes RawEvent.user; every event is a "view"; there is no category.
class SessionReader final : public RawLogReader {
 public:
  enum class Layout { kYoochoose, kDiginetica };
  SessionReader(const std::string& path, Layout layout, RejectSink rejects);

  bool next(RawEvent& event) override;
  uint64_t bytes_read() const override { return lines_.bytes_read(); }
  uint64_t bytes_total() const override { return lines_.bytes_total(); }
  int64_t rows_read() const override { return rows_read_; }
  std::vector<std::string> source_files() const override { return {lines_.path()}; }

 private:
  bool parse_time(int64_t& timestamp) const;

  RejectSink rejects_;
  Layout layout_;
  LineReader lines_;
  FieldSplitter splitter_;
  size_t column_count_ = 0;
  size_t session_column_ = 0, item_column_ = 0;
  size_t time_column_ = 0;  // YooChoose Time, or Diginetica timeframe
  size_t date_column_ = 0;  // Diginetica eventdate
  int64_t rows_read_ = 0;
};

}  // namespace cf::data
