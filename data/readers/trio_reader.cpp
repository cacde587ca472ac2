#include "data/readers/trio_reader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "data/corpus_layout.h"
#include "data/readers/action_names.h"
#include "data/readers/header_columns.h"
#include "data/readers/item_features.h"
#include "data/readers/number_fields.h"
#include "data/readers/row_rejects.h"

namespace cf::data {

namespace {

namespace fs = std::filesystem;

std::string trio_folder_checked(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    throw UserError(folder +
                    ": the trio format expects a folder holding behavior_data.csv, "
                    "item_data.csv and activity_data.csv");
  }
  return folder;
}

std::string file_in(const std::string& folder, const char* name) {
  return (fs::path(trio_folder_checked(folder)) / name).string();
}

}  // namespace

TrioReader::TrioReader(const std::string& folder, RejectSink rejects)
    : rejects_(std::move(rejects)),
      files_{file_in(folder, "behavior_data.csv"), file_in(folder, "item_data.csv"),
             file_in(folder, "activity_data.csv")},
      behaviour_(files_[0]) {
  load_items(files_[1]);
  joins_on_request_ = std::all_of(items_.begin(), items_.end(), [](const ItemInfo& info) {
    return layout::is_storable_vocab_entry(info.category) &&
           layout::is_storable_vocab_entry(info.features);
  });
  load_activities(files_[2]);
  const HeaderColumns header(behaviour_, splitter_,
                             "user_id,item_id,activity_id,behavior,timestamp,purchase");
  column_count_ = header.count();
  user_column_ = header.require("user_id");
  item_column_ = header.require("item_id");
  activity_column_ = header.require("activity_id");
  behaviour_column_ = header.require("behavior");
  timestamp_column_ = header.require("timestamp");
  purchase_column_ = header.require("purchase");
}

void TrioReader::load_items(const std::string& path) {
  LineReader lines(path);
  FieldSplitter splitter(',', true);
  const HeaderColumns header(lines, splitter, "item_id,category,price");
  const size_t item_column = header.require("item_id");
  const size_t category_column = header.require("category");
  const size_t price_column = header.require("price");
  std::string_view line;
  while (lines.next_line(line)) {
    if (is_blank_line(line)) continue;
    const int64_t number = lines.line_number();
    if (!splitter.split(line)) {
      report_reject(rejects_, "bad_quoting", path, number);
      continue;
    }
    if (splitter.size() != header.count()) {
      report_reject(rejects_, "wrong_field_count", path, number);
      continue;
    }
    const std::string_view item = splitter[item_column];
    if (item.empty()) {
      report_reject(rejects_, "empty_field", path, number);
      continue;
    }
    double price = 0.0;
    if (!parse_price(splitter[price_column], price)) {
      report_reject(rejects_, "bad_price", path, number);
      continue;
    }
    bool inserted = false;
    item_ids_.insert(item, &inserted);
    if (!inserted) {  // the first definition wins; a second one is a data error worth counting
      report_reject(rejects_, "duplicate_item", path, number);
      continue;
    }
    ItemInfo info{std::string(splitter[category_column]), price, ""};
    append_item_feature(info.features, "category", info.category);
    items_.push_back(std::move(info));
  }
}

void TrioReader::load_activities(const std::string& path) {
  LineReader lines(path);
  FieldSplitter splitter(',', true);
  const HeaderColumns header(lines, splitter, "activity_id,type");
  const size_t activity_column = header.require("activity_id");
  std::string_view line;
  while (lines.next_line(line)) {
    if (is_blank_line(line)) continue;
    const int64_t number = lines.line_number();
    if (!splitter.split(line)) {
      report_reject(rejects_, "bad_quoting", path, number);
    } else if (splitter.size() != header.count()) {
      report_reject(rejects_, "wrong_field_count", path, number);
    } else if (splitter[activity_column].empty()) {
      report_reject(rejects_, "empty_field", path, number);
    } else {
      activity_ids_.insert(splitter[activity_column]);
    }
  }
}

bool TrioReader::next(RawEvent& event) {
  std::string_view line;
  while (behaviour_.next_line(line)) {
    if (is_blank_line(line)) continue;
    ++rows_read_;
    const int64_t number = behaviour_.line_number();
    const char* reason = nullptr;
    const std::string* action = nullptr;
    int64_t timestamp = 0;
    double purchase = 0.0;
    if (!splitter_.split(line)) {
      reason = "bad_quoting";
    } else if (splitter_.size() != column_count_) {
      reason = "wrong_field_count";
    } else if (splitter_[user_column_].empty() || splitter_[item_column_].empty() ||
               splitter_[behaviour_column_].empty() || splitter_[timestamp_column_].empty() ||
               splitter_[purchase_column_].empty()) {
      reason = "empty_field";
    } else if ((action = canonical_action_for(splitter_[behaviour_column_])) == nullptr) {
      reason = "unknown_action";
    } else if (!parse_int64(splitter_[timestamp_column_], timestamp)) {
      reason = "bad_timestamp";
    } else if (!parse_finite_double(splitter_[purchase_column_], purchase)) {
      reason = "bad_label";
    } else if (!splitter_[activity_column_].empty() &&
               activity_ids_.find(splitter_[activity_column_]) == StringIndex::kAbsent) {
      reason = "unknown_activity";
    }
    if (reason != nullptr) {
      report_reject(rejects_, reason, files_[0], number);
      continue;
    }
    const std::string_view item = splitter_[item_column_];
    event.user.assign(splitter_[user_column_]);
    event.item.assign(item);
    event.action = *action;
    event.activity.assign(splitter_[activity_column_]);
    event.timestamp = timestamp;
    event.purchase_label = purchase > 0.0 ? 1 : 0;
    event.line = number;
    if (joins_on_request_) {
      RawLogReader::join_item(item, event.category, event.item_features, event.price);  // unset
    } else {
      join_item(item, event.category, event.item_features, event.price);
    }
    return true;
  }
  return false;
}

void TrioReader::join_item(std::string_view item, std::string& category, std::string& features,
                           double& price) const {
  if (const uint32_t found = item_ids_.find(item); found != StringIndex::kAbsent) {
    category = items_[found].category;
    features = items_[found].features;
    price = items_[found].price;
  } else {
    RawLogReader::join_item(item, category, features, price);  // not in the table: nothing
  }
}

}  // namespace cf::data
