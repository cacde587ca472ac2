#include "data/readers/taobao_reader.h"

#include <cmath>

#include "data/readers/action_names.h"
#include "data/readers/item_features.h"
#include "data/readers/number_fields.h"
#include "data/readers/row_rejects.h"

namespace cf::data {

namespace {

constexpr size_t kUser = 0, kItem = 1, kCategory = 2, kBehaviour = 3, kTimestamp = 4;
constexpr size_t kFieldCount = 5;

}  // namespace

TaobaoReader::TaobaoReader(const std::string& path, RejectSink rejects)
    : rejects_(std::move(rejects)), lines_(path) {}

bool TaobaoReader::next(RawEvent& event) {
  std::string_view line;
  while (lines_.next_line(line)) {
    if (is_blank_line(line)) continue;
    const int64_t number = lines_.line_number();
    const bool first_line = first_line_;
    first_line_ = false;
    const char* reason = nullptr;
    const std::string* action = nullptr;
    int64_t timestamp = 0;
    if (!splitter_.split(line)) {
      reason = "bad_quoting";
    } else if (splitter_.size() != kFieldCount) {
      reason = "wrong_field_count";
    } else if (splitter_[kUser].empty() || splitter_[kItem].empty() ||
               splitter_[kBehaviour].empty() || splitter_[kTimestamp].empty()) {
      reason = "empty_field";
    } else if ((action = canonical_action_for(splitter_[kBehaviour])) == nullptr) {
      reason = "unknown_action";
    } else if (!parse_int64(splitter_[kTimestamp], timestamp)) {
      reason = "bad_timestamp";
    }
    if (reason != nullptr) {
      // A header row ("user_id,item_id,category_id,behavior,timestamp") added by some exports.
      int64_t number_field = 0;
      if (first_line && action == nullptr && splitter_.size() == kFieldCount &&
          !parse_int64(splitter_[kUser], number_field) &&
          !parse_int64(splitter_[kTimestamp], number_field)) {
        continue;
      }
      ++rows_read_;
      report_reject(rejects_, reason, lines_.path(), number);
      continue;
    }
    ++rows_read_;
    event.user.assign(splitter_[kUser]);
    event.item.assign(splitter_[kItem]);
    event.category.assign(splitter_[kCategory]);
    event.item_features.clear();
    append_item_feature(event.item_features, "category", splitter_[kCategory]);
    event.action = *action;
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
