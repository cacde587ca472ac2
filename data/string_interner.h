// StringInterner: maps distinct strings to dense ids 0, 1, 2, ... in order of first appearance.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cf::data {

// Prep looks up every raw user, item, category and activity id of every row, so this is an
// open-addressing table over one character arena instead of a node-based
// std::unordered_map<std::string, int>: one allocation-free probe per lookup, and memory of
// about (string bytes + 48 bytes) per distinct string.
class StringInterner {
 public:
  StringInterner();
  // The id of `s`, assigning the next free id on first sight.
  int32_t intern(std::string_view s);
  // The id of `s` or -1 when it was never interned.
  int32_t find(std::string_view s) const;
  int32_t size() const { return static_cast<int32_t>(entries_.size()); }
  std::string_view at(int32_t id) const {
    return std::string_view(arena_.data() + entries_[id].start, entries_[id].length);
  }

 private:
  struct Entry {
    uint64_t start;
    uint32_t length;
  };
  static uint64_t hash(std::string_view s);
  // A slot packs the upper 32 hash bits (compared before touching the string, so a probe
  // usually costs one cache miss) with id + 1 in the lower bits; 0 = empty.
  static uint64_t pack(uint64_t h, int32_t id) {
    return (h & 0xFFFFFFFF00000000ull) | static_cast<uint32_t>(id + 1);
  }
  void grow();
  std::string arena_;
  std::vector<Entry> entries_;
  std::vector<uint64_t> slots_;   // size is a power of two
  std::vector<uint64_t> hashes_;  // full hash per id, for rehashing on growth
};

}  // namespace cf::data
