// TaobaoReader: Alibaba's UserBehavior.csv (no header): user,item,category,behavior,timestamp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/raw_event.h"
#include "data/readers/csv_line.h"
#include "data/readers/line_reader.h"

namespace cf::data {

// behavior is pv/cart/fav/buy (other words of action_names.h are accepted too); timestamp is
// integer unix seconds. The file has no header; a first line that is clearly one (user and
// timestamp not integers, behaviour no known action) is skipped, not rejected.
class TaobaoReader final : public RawLogReader {
 public:
  TaobaoReader(const std::string& path, RejectSink rejects);

  bool next(RawEvent& event) override;
  uint64_t bytes_read() const override { return lines_.bytes_read(); }
  uint64_t bytes_total() const override { return lines_.bytes_total(); }
  int64_t rows_read() const override { return rows_read_; }
  std::vector<std::string> source_files() const override { return {lines_.path()}; }

 private:
  RejectSink rejects_;
  LineReader lines_;
  FieldSplitter splitter_{',', true};
  bool first_line_ = true;
  int64_t rows_read_ = 0;
};

}  // namespace cf::data
