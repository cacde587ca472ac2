// UserItemReader: order-only "user item" (BERT4Rec/SASRec) and "user item item ..." (S3-Rec) lines.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/raw_event.h"
#include "data/readers/line_reader.h"
#include "data/readers/string_index.h"

namespace cf::data {

// Fields are separated by runs of blanks. With `items_per_line` false every line is exactly
// "user item"; with it true a line is "user item1 item2 ..." and yields one event per item.
// These sources have no time: timestamp is the event's ordinal within its user (0, 1, 2, ...
// across all of that user's lines), so a stable sort by time keeps the file order. Every event
// is a "view" (implicit feedback).
// `attributes_path` (optional) is a JSON object {"<item>": [attribute ids]} as S3-Rec ships
// (Beauty_item2attributes.json); an item's category is its FIRST attribute id (in S3-Rec's
// files that is a category, the brand comes last) and its item features are all of its
// attribute ids as "attr:<id>"; items not listed get category "" and no features.
class UserItemReader final : public RawLogReader {
 public:
  UserItemReader(const std::string& path, const std::string& attributes_path, bool items_per_line,
                 RejectSink rejects);

  bool next(RawEvent& event) override;
  uint64_t bytes_read() const override { return lines_.bytes_read(); }
  uint64_t bytes_total() const override { return lines_.bytes_total(); }
  int64_t rows_read() const override { return rows_read_; }
  std::vector<std::string> source_files() const override { return files_; }
  std::string checked_item_table() const override { return attributes_path_; }
  bool item_table_lists(std::string_view item) const override {
    return attributed_items_.find(item) != StringIndex::kAbsent;
  }

 private:
  void load_attributes(const std::string& path);
  bool next_line_of_fields();  // reads lines until one is well formed; false at end of file
  int64_t& ordinal_counter(std::string_view user);

  RejectSink rejects_;
  bool items_per_line_;
  LineReader lines_;
  std::vector<std::string> files_;
  std::string attributes_path_;             // "" when none was given
  StringIndex attributed_items_;            // items listed in the attributes file
  std::vector<std::string> item_category_;  // by attributed_items_ index
  std::vector<std::string> item_features_;  // by attributed_items_ index
  StringIndex users_;
  std::vector<int64_t> next_ordinal_;  // by users_ index: events emitted so far for that user
  std::string counter_user_;           // user of the last event (fast path for adjacent lines)
  uint32_t counter_index_ = StringIndex::kAbsent;
  std::vector<std::string_view> fields_;  // of the current line
  size_t next_field_ = 0;                 // next item field of the current line to emit
  int64_t rows_read_ = 0;
};

}  // namespace cf::data
