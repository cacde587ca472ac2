// StringIndex: a flat, open-addressing map from strings to dense indices 0, 1, 2, ...
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cf::data {

// Keys live back to back in one arena and the table holds 8-byte slots, so a lookup touches
// about two cache lines; std::unordered_map's node chains cost roughly one more miss, which
// dominated the trio join on 10M-row logs. Lookups take string_views: no temporary strings.
// Indices are assigned in insertion order and never change; there is no erase.
class StringIndex {
 public:
  static constexpr uint32_t kAbsent = UINT32_MAX;

  StringIndex() { rehash(16); }

  // The index of `key`, adding it as index size() when new (then `*inserted` is set to true).
  uint32_t insert(std::string_view key, bool* inserted = nullptr);
  // The index of `key`, or kAbsent.
  uint32_t find(std::string_view key) const;

  size_t size() const { return offsets_.size() - 1; }
  std::string_view key(uint32_t index) const {
    return std::string_view(arena_.data() + offsets_[index], offsets_[index + 1] - offsets_[index]);
  }

 private:
  struct Slot {
    uint32_t tag;    // high half of the key's hash: most mismatches are settled without the arena
    uint32_t index;  // kAbsent marks an empty slot
  };
  static uint64_t hash_of(std::string_view key);
  void rehash(size_t slot_count);

  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
  std::string arena_;
  std::vector<uint64_t> offsets_{0};  // key i is arena_[offsets_[i], offsets_[i + 1])
};

}  // namespace cf::data
