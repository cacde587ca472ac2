#include "data/readers/rees46_reader.h"

#include "data/readers/header_columns.h"
#include "data/readers/item_features.h"
#include "data/readers/number_fields.h"
#include "data/readers/row_rejects.h"
#include "data/readers/utc_time.h"

namespace cf::data {

namespace {

// REES46 uses its own small vocabulary; anything else is a row error, not a synonym to guess.
const std::string* rees46_action(std::string_view event_type, bool& unsupported) {
  unsupported = false;
  const std::vector<std::string>& names = canonical_actions();
  if (event_type == "view") return &names[1];
  if (event_type == "cart") return &names[3];
  if (event_type == "purchase") return &names[4];
  unsupported = event_type == "remove_from_cart";
  return nullptr;
}

}  // namespace

Rees46Reader::Rees46Reader(const std::string& path, RejectSink rejects)
    : rejects_(std::move(rejects)), lines_(path) {
  const HeaderColumns header(lines_, splitter_,
                             "event_time,event_type,product_id,category_id,category_code,brand,"
                             "price,user_id,user_session");
  column_count_ = header.count();
  time_column_ = header.require("event_time");
  type_column_ = header.require("event_type");
  product_column_ = header.require("product_id");
  category_column_ = header.require("category_id");
  price_column_ = header.require("price");
  user_column_ = header.require("user_id");
  brand_column_ = header.find("brand");
}

bool Rees46Reader::next(RawEvent& event) {
  std::string_view line;
  while (lines_.next_line(line)) {
    if (is_blank_line(line)) continue;
    ++rows_read_;
    const int64_t number = lines_.line_number();
    const char* reason = nullptr;
    const std::string* action = nullptr;
    bool unsupported = false;
    int64_t timestamp = 0;
    double price = 0.0;
    if (!splitter_.split(line)) {
      reason = "bad_quoting";
    } else if (splitter_.size() != column_count_) {
      reason = "wrong_field_count";
    } else if (splitter_[time_column_].empty() || splitter_[type_column_].empty() ||
               splitter_[product_column_].empty() || splitter_[user_column_].empty()) {
      reason = "empty_field";
    } else if ((action = rees46_action(splitter_[type_column_], unsupported)) == nullptr) {
      reason = unsupported ? "unsupported_action" : "unknown_action";
    } else if (!parse_utc_datetime(splitter_[time_column_], timestamp)) {
      reason = "bad_timestamp";
    } else if (!parse_price(splitter_[price_column_], price)) {
      reason = "bad_price";
    }
    if (reason != nullptr) {
      report_reject(rejects_, reason, lines_.path(), number);
      continue;
    }
    event.user.assign(splitter_[user_column_]);
    event.item.assign(splitter_[product_column_]);
    event.category.assign(splitter_[category_column_]);
    event.item_features.clear();
    append_item_feature(event.item_features, "category", splitter_[category_column_]);
    if (brand_column_) append_item_feature(event.item_features, "brand", splitter_[*brand_column_]);
    event.action = *action;
    event.activity.clear();
    event.timestamp = timestamp;
    event.price = price;
    event.purchase_label = -1;
    event.line = number;
    return true;
  }
  return false;
}

}  // namespace cf::data
