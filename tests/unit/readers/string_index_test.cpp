// StringIndex against std::unordered_map as the reference, through many growths.
#include "data/readers/string_index.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>

namespace cf::data {
namespace {

TEST(StringIndex, AssignsDenseIndicesInInsertionOrder) {
  StringIndex index;
  bool inserted = false;
  EXPECT_EQ(index.insert("b", &inserted), 0u);
  EXPECT_TRUE(inserted);
  EXPECT_EQ(index.insert("a", &inserted), 1u);
  EXPECT_TRUE(inserted);
  EXPECT_EQ(index.insert("b", &inserted), 0u);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(index.insert("", &inserted), 2u);  // the empty string is a key like any other
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(index.find("a"), 1u);
  EXPECT_EQ(index.find(""), 2u);
  EXPECT_EQ(index.find("c"), StringIndex::kAbsent);
  EXPECT_EQ(index.key(0), "b");
}

TEST(StringIndex, AgreesWithUnorderedMapOnRandomKeys) {
  std::mt19937_64 rng(7);
  StringIndex index;
  std::unordered_map<std::string, uint32_t> reference;
  for (int i = 0; i < 200000; ++i) {
    // Short keys from a small alphabet collide often, long ones exercise the arena.
    const size_t length = rng() % 4 == 0 ? 20 + rng() % 20 : 1 + rng() % 4;
    std::string key;
    for (size_t c = 0; c < length; ++c) key.push_back(static_cast<char>('a' + rng() % 6));
    const auto [slot, is_new] = reference.try_emplace(key, static_cast<uint32_t>(reference.size()));
    bool inserted = false;
    ASSERT_EQ(index.insert(key, &inserted), slot->second) << key;
    ASSERT_EQ(inserted, is_new) << key;
  }
  ASSERT_EQ(index.size(), reference.size());
  for (const auto& [key, value] : reference) {
    ASSERT_EQ(index.find(key), value);
    ASSERT_EQ(index.key(value), key);
  }
  EXPECT_EQ(index.find("zzzz"), StringIndex::kAbsent);
}

}  // namespace
}  // namespace cf::data
