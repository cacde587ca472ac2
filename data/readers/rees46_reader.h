// Rees46Reader: the REES46 multi-category store event CSV (header row, UTC date-times).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/raw_event.h"
#include "data/readers/csv_line.h"
#include "data/readers/line_reader.h"

namespace cf::data {

// Header event_time,event_type,product_id,category_id,category_code,brand,price,user_id,
// user_session; columns are found by name and category_code, user_session are never read.
// event_type view/cart/purchase -> view/cart/buy; remove_from_cart is rejected as
// "unsupported_action" (the corpus has no removal action). category = category_id; item
// features "category:<category_id>" and "brand:<brand>" (each when non-empty; the brand
// column is optional).
class Rees46Reader final : public RawLogReader {
 public:
  Rees46Reader(const std::string& path, RejectSink rejects);

  bool next(RawEvent& event) override;
  uint64_t bytes_read() const override { return lines_.bytes_read(); }
  uint64_t bytes_total() const override { return lines_.bytes_total(); }
  int64_t rows_read() const override { return rows_read_; }
  std::vector<std::string> source_files() const override { return {lines_.path()}; }

 private:
  RejectSink rejects_;
  LineReader lines_;
  FieldSplitter splitter_{',', true};
  size_t column_count_ = 0;
  size_t time_column_ = 0, type_column_ = 0, product_column_ = 0, category_column_ = 0,
         price_column_ = 0, user_column_ = 0;
  std::optional<size_t> brand_column_;
  int64_t rows_read_ = 0;
};

}  // namespace cf::data
