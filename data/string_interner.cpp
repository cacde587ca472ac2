#include "data/string_interner.h"

#include <cstring>

#include "core/error.h"

namespace cf::data {

StringInterner::StringInterner() : slots_(1024, 0) {}

uint64_t StringInterner::hash(std::string_view s) {
  // 8 bytes at a time with a multiply-xorshift mix; ids are short, so the tail loop is cheap.
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xFF51AFD7ED558CCDull);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    h = (h ^ word) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * 0xC2B2AE3D27D4EB4Full;
  h ^= h >> 29;
  h *= 0x165667B19E3779F9ull;
  h ^= h >> 32;
  return h;
}

int32_t StringInterner::find(std::string_view s) const {
  const uint64_t h = hash(s);
  const uint64_t tag = h & 0xFFFFFFFF00000000ull;
  const size_t mask = slots_.size() - 1;
  for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
    const uint64_t entry = slots_[slot];
    if (entry == 0) return -1;
    const int32_t id = static_cast<int32_t>(static_cast<uint32_t>(entry)) - 1;
    if ((entry & 0xFFFFFFFF00000000ull) == tag && at(id) == s) return id;
  }
}

int32_t StringInterner::intern(std::string_view s) {
  const uint64_t h = hash(s);
  const uint64_t tag = h & 0xFFFFFFFF00000000ull;
  const size_t mask = slots_.size() - 1;
  size_t slot = h & mask;
  for (;; slot = (slot + 1) & mask) {
    const uint64_t entry = slots_[slot];
    if (entry == 0) break;
    const int32_t id = static_cast<int32_t>(static_cast<uint32_t>(entry)) - 1;
    if ((entry & 0xFFFFFFFF00000000ull) == tag && at(id) == s) return id;
  }
  CF_CHECK(entries_.size() < 0x7FFFFFFEu, "more than 2^31 distinct strings");
  const int32_t id = size();
  entries_.push_back(Entry{arena_.size(), static_cast<uint32_t>(s.size())});
  hashes_.push_back(h);
  arena_.append(s);
  slots_[slot] = pack(h, id);
  // Keep the load factor at most 1/2 so probe sequences stay short.
  if (static_cast<size_t>(size()) * 2 > slots_.size()) grow();
  return id;
}

void StringInterner::grow() {
  std::vector<uint64_t> bigger(slots_.size() * 2, 0);
  const size_t mask = bigger.size() - 1;
  for (int32_t id = 0; id < size(); ++id) {
    size_t slot = hashes_[id] & mask;
    while (bigger[slot] != 0) slot = (slot + 1) & mask;
    bigger[slot] = pack(hashes_[id], id);
  }
  slots_.swap(bigger);
}

}  // namespace cf::data
