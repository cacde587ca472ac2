#include "data/readers/user_item_reader.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/json.h"
#include "data/readers/csv_line.h"
#include "data/readers/item_features.h"
#include "data/readers/row_rejects.h"

namespace cf::data {

UserItemReader::UserItemReader(const std::string& path, const std::string& attributes_path,
                               bool items_per_line, RejectSink rejects)
    : rejects_(std::move(rejects)), items_per_line_(items_per_line), lines_(path) {
  files_.push_back(path);
  if (!attributes_path.empty()) {
    attributes_path_ = attributes_path;
    files_.push_back(attributes_path);
    load_attributes(attributes_path);
  }
}

void UserItemReader::load_attributes(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw UserError(path + ": no such item-attributes file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open the item-attributes file");
  // Plain nlohmann::json (tree map): cf::Json's insertion-ordered map is linear per key, too
  // slow for objects with many items; the order of this file does not matter.
  nlohmann::json attributes;
  try {
    attributes = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw UserError(path + ": not valid JSON (" + error.what() + ")");
  }
  if (!attributes.is_object()) {
    throw UserError(path + ": expected a JSON object {\"<item>\": [attribute ids]}");
  }
  for (const auto& [item, ids] : attributes.items()) {
    if (!ids.is_array()) {
      throw UserError(path + ": item \"" + item + "\": expected an array of attribute ids");
    }
    std::string category, features;
    bool first = true;
    for (const nlohmann::json& id : ids) {
      std::string text;
      if (id.is_number_integer()) {
        text = std::to_string(id.get<int64_t>());
      } else if (id.is_string()) {
        text = id.get<std::string>();
      } else {
        throw UserError(path + ": item \"" + item +
                        "\": attribute ids must be integers or strings");
      }
      if (first) category = text;
      first = false;
      append_item_feature(features, "attr", text);
    }
    bool inserted = false;
    attributed_items_.insert(item, &inserted);
    if (inserted) {
      item_category_.push_back(std::move(category));
      item_features_.push_back(std::move(features));
    }
  }
}

int64_t& UserItemReader::ordinal_counter(std::string_view user) {
  // Lines of one user are usually adjacent: skip the hash lookup while the user is unchanged.
  if (counter_index_ == StringIndex::kAbsent || user != counter_user_) {
    bool inserted = false;
    counter_index_ = users_.insert(user, &inserted);
    if (inserted) next_ordinal_.push_back(0);
    counter_user_.assign(user);
  }
  return next_ordinal_[counter_index_];
}

bool UserItemReader::next_line_of_fields() {
  std::string_view line;
  while (lines_.next_line(line)) {
    if (is_blank_line(line)) continue;
    ++rows_read_;
    split_on_blanks(line, fields_);
    const bool well_formed = items_per_line_ ? fields_.size() >= 2 : fields_.size() == 2;
    if (!well_formed) {
      report_reject(rejects_, "wrong_field_count", lines_.path(), lines_.line_number());
      continue;
    }
    next_field_ = 1;
    return true;
  }
  return false;
}

bool UserItemReader::next(RawEvent& event) {
  if (next_field_ == 0 || next_field_ >= fields_.size()) {
    if (!next_line_of_fields()) return false;
  }
  const std::string_view user = fields_[0];
  const std::string_view item = fields_[next_field_++];
  int64_t& ordinal = ordinal_counter(user);
  event.user.assign(user);
  event.item.assign(item);
  if (const uint32_t found = attributed_items_.find(item); found != StringIndex::kAbsent) {
    event.category = item_category_[found];
    event.item_features = item_features_[found];
  } else {
    event.category.clear();
    event.item_features.clear();
  }
  event.action = canonical_actions()[1];
  event.activity.clear();
  event.timestamp = ordinal++;
  event.price = std::nan("");
  event.purchase_label = -1;
  event.line = lines_.line_number();
  return true;
}

}  // namespace cf::data
