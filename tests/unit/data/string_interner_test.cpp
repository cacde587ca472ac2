// StringInterner against a std::unordered_map reference, through many table growths.
#include "data/string_interner.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace cf::data {
namespace {

TEST(StringInterner, AssignsIdsInFirstAppearanceOrder) {
  StringInterner s;
  EXPECT_EQ(s.intern("b"), 0);
  EXPECT_EQ(s.intern("a"), 1);
  EXPECT_EQ(s.intern("b"), 0);
  EXPECT_EQ(s.intern(""), 2);
  EXPECT_EQ(s.intern(std::string("x\0y", 3)), 3);
  EXPECT_EQ(s.intern(std::string("x\0z", 3)), 4);
  EXPECT_EQ(s.size(), 5);
  EXPECT_EQ(s.at(1), "a");
  EXPECT_EQ(s.at(3), std::string("x\0y", 3));
  EXPECT_EQ(s.find("a"), 1);
  EXPECT_EQ(s.find("c"), -1);
}

TEST(StringInterner, AgreesWithAHashMapThroughGrowth) {
  std::mt19937_64 rng(11);
  std::unordered_map<std::string, int32_t> reference;
  StringInterner s;
  for (int i = 0; i < 200'000; ++i) {
    // Short numeric-looking ids and longer ones, with many repeats.
    std::string key = (rng() % 3 == 0 ? "item-long-prefix-" : "") + std::to_string(rng() % 60'000);
    auto [it, inserted] = reference.emplace(key, static_cast<int32_t>(reference.size()));
    ASSERT_EQ(s.intern(key), it->second) << key;
  }
  ASSERT_EQ(s.size(), static_cast<int32_t>(reference.size()));
  for (const auto& [key, id] : reference) {
    EXPECT_EQ(s.find(key), id);
    EXPECT_EQ(s.at(id), key);
  }
}

}  // namespace
}  // namespace cf::data
