// TrioReader: behavior_data.csv streamed and joined with item_data.csv and activity_data.csv.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/raw_event.h"
#include "data/readers/csv_line.h"
#include "data/readers/line_reader.h"
#include "data/readers/string_index.h"

namespace cf::data {

// The trio format (synth's output; docs/input-formats.md). Columns are found by header name:
//   behavior_data.csv  user_id,item_id,activity_id,behavior,timestamp,purchase  (streamed)
//   item_data.csv      item_id,category,price        (loaded into a hash map)
//   activity_data.csv  activity_id                   (loaded into a hash set)
// Other columns (email, phone, ...) are never read. An item missing from item_data gets
// category "" and price NaN; an activity id missing from activity_data rejects the row. An
// item's category is also its one item feature, "category:<category>".
class TrioReader final : public RawLogReader {
 public:
  TrioReader(const std::string& folder, RejectSink rejects);

  bool next(RawEvent& event) override;
  uint64_t bytes_read() const override { return behaviour_.bytes_read(); }
  uint64_t bytes_total() const override { return behaviour_.bytes_total(); }
  int64_t rows_read() const override { return rows_read_; }
  std::vector<std::string> source_files() const override { return files_; }
  bool joins_items_on_request() const override { return joins_on_request_; }
  void join_item(std::string_view item, std::string& category, std::string& features,
                 double& price) const override;

 private:
  struct ItemInfo {
    std::string category;
    double price = 0.0;
    std::string features;  // RawEvent::item_features: "category:<category>" when it has one
  };
  void load_items(const std::string& path);
  void load_activities(const std::string& path);

  RejectSink rejects_;
  std::vector<std::string> files_;
  StringIndex item_ids_;  // item id -> position in items_
  std::vector<ItemInfo> items_;
  StringIndex activity_ids_;
  LineReader behaviour_;
  FieldSplitter splitter_{',', true};
  size_t column_count_ = 0;
  size_t user_column_ = 0, item_column_ = 0, activity_column_ = 0, behaviour_column_ = 0,
         timestamp_column_ = 0, purchase_column_ = 0;
  int64_t rows_read_ = 0;
  // Every item's category and features can be stored, so no row is ever rejected for them and
  // prep may join once per item (joins_items_on_request); otherwise next() joins each row, and
  // the rows of an item with unstorable text are rejected one by one as before.
  bool joins_on_request_ = false;
};

}  // namespace cf::data
