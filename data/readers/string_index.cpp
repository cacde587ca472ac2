#include "data/readers/string_index.h"

#include <functional>

#include "core/error.h"

namespace cf::data {

uint64_t StringIndex::hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

void StringIndex::rehash(size_t slot_count) {
  slots_.assign(slot_count, Slot{0, kAbsent});
  mask_ = slot_count - 1;
  for (uint32_t index = 0; index < size(); ++index) {
    const uint64_t hash = hash_of(key(index));
    uint64_t position = hash & mask_;
    while (slots_[position].index != kAbsent) position = (position + 1) & mask_;
    slots_[position] = Slot{static_cast<uint32_t>(hash >> 32), index};
  }
}

uint32_t StringIndex::find(std::string_view key_text) const {
  const uint64_t hash = hash_of(key_text);
  const uint32_t tag = static_cast<uint32_t>(hash >> 32);
  for (uint64_t position = hash & mask_;; position = (position + 1) & mask_) {
    const Slot& slot = slots_[position];
    if (slot.index == kAbsent) return kAbsent;
    if (slot.tag == tag && key(slot.index) == key_text) return slot.index;
  }
}

uint32_t StringIndex::insert(std::string_view key_text, bool* inserted) {
  if (inserted != nullptr) *inserted = false;
  const uint64_t hash = hash_of(key_text);
  const uint32_t tag = static_cast<uint32_t>(hash >> 32);
  uint64_t position = hash & mask_;
  for (;; position = (position + 1) & mask_) {
    const Slot& slot = slots_[position];
    if (slot.index == kAbsent) break;
    if (slot.tag == tag && key(slot.index) == key_text) return slot.index;
  }
  CF_CHECK(size() < kAbsent - 1, "StringIndex: more than 2^32 - 2 keys");
  const uint32_t index = static_cast<uint32_t>(size());
  arena_.append(key_text);
  offsets_.push_back(arena_.size());
  if (inserted != nullptr) *inserted = true;
  // Keep the load at most 1/2 so probe runs stay short.
  if (2 * size() > slots_.size()) {
    rehash(slots_.size() * 2);
  } else {
    slots_[position] = Slot{tag, index};
  }
  return index;
}

}  // namespace cf::data
