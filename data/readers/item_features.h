// append_item_feature: how readers build RawEvent::item_features.
#pragma once
#include <string>
#include <string_view>

#include "data/raw_event.h"

namespace cf::data {

// Appends the feature token "<kind>:<value>" to `features`, after a kItemFeatureSeparator when
// it already holds one; an empty value (no category, no brand) adds nothing. A separator byte
// inside the value becomes a space: left in, it would split the value into two tokens, the
// second without its kind (so "acme\x1f" "category:5" could pose as a category). Catalogue
// names have no use for that control character.
inline void append_item_feature(std::string& features, std::string_view kind,
                                std::string_view value) {
  if (value.empty()) return;
  if (!features.empty()) features.push_back(kItemFeatureSeparator);
  features.append(kind);
  features.push_back(':');
  const size_t start = features.size();
  features.append(value);
  for (size_t i = start; i < features.size(); ++i) {
    if (features[i] == kItemFeatureSeparator) features[i] = ' ';
  }
}

}  // namespace cf::data
