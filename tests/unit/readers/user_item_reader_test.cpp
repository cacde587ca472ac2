// "user item" and "user item item ..." readers: ordinals as timestamps, attributes as categories.
#include <gtest/gtest.h>

#include "reader_test_support.h"

namespace cf::data {
namespace {

using testing::kNoPrice;

TEST(UserItemReader, NumbersEachUsersEventsInFileOrder) {
  const auto result =
      testing::read_all(RawFormat::kUserItem, testing::fixture("user_item/beauty.txt"));
  // User 1 comes back on line 9 after other users: its ordinal continues at 3.
  testing::expect_events(result.events, {
                                            {"1", "1", "", "view", "", 0, kNoPrice, -1, 1},
                                            {"1", "2", "", "view", "", 1, kNoPrice, -1, 2},
                                            {"1", "3", "", "view", "", 2, kNoPrice, -1, 3},
                                            {"2", "2", "", "view", "", 0, kNoPrice, -1, 4},
                                            {"2", "4", "", "view", "", 1, kNoPrice, -1, 6},
                                            {"1", "7", "", "view", "", 3, kNoPrice, -1, 9},
                                            {"2", "1", "", "view", "", 2, kNoPrice, -1, 10},
                                        });
  testing::expect_rejects(result.rejects, {
                                              {"wrong_field_count", "beauty.txt", 7},
                                              {"wrong_field_count", "beauty.txt", 8},
                                          });
  EXPECT_EQ(result.rows_read, 9);  // the blank line 5 is not a row
  EXPECT_EQ(result.bytes_read, result.bytes_total);
}

TEST(UserItemsReader, ExpandsLinesAndTakesTheFirstAttributeAsCategory) {
  const auto result =
      testing::read_all(RawFormat::kUserItems, testing::fixture("user_items/Beauty.txt"),
                        testing::fixture("user_items/item2attributes.json"));
  testing::expect_events(result.events, {
                                            {"1", "1", "10", "view", "", 0, kNoPrice, -1, 1},
                                            {"1", "2", "11", "view", "", 1, kNoPrice, -1, 1},
                                            {"1", "3", "", "view", "", 2, kNoPrice, -1, 1},
                                            {"2", "4", "12", "view", "", 0, kNoPrice, -1, 2},
                                            {"2", "1", "10", "view", "", 1, kNoPrice, -1, 2},
                                            {"1", "5", "", "view", "", 3, kNoPrice, -1, 4},
                                            {"3", "2", "11", "view", "", 0, kNoPrice, -1, 5},
                                            {"3", "2", "11", "view", "", 1, kNoPrice, -1, 5},
                                            {"3", "6", "", "view", "", 2, kNoPrice, -1, 5},
                                        });
  testing::expect_rejects(result.rejects, {{"wrong_field_count", "Beauty.txt", 3}});
  EXPECT_EQ(result.rows_read, 5);
  ASSERT_EQ(result.source_files.size(), 2u);
  EXPECT_TRUE(result.source_files[1].ends_with("item2attributes.json"));
}

TEST(UserItemsReader, WithoutAttributesCategoriesAreEmpty) {
  const auto result =
      testing::read_all(RawFormat::kUserItems, testing::fixture("user_items/Beauty.txt"));
  ASSERT_EQ(result.events.size(), 9u);
  for (const RawEvent& event : result.events) EXPECT_EQ(event.category, "");
  EXPECT_EQ(result.source_files.size(), 1u);
}

TEST(UserItemReader, TabsCrlfAndNoTrailingNewline) {
  testing::TempDir dir;
  const std::string path = dir.write("ui.txt", "a\tx\r\na  y\r\nb z");
  const auto result = testing::read_all(RawFormat::kUserItem, path);
  testing::expect_events(result.events, {
                                            {"a", "x", "", "view", "", 0, kNoPrice, -1, 1},
                                            {"a", "y", "", "view", "", 1, kNoPrice, -1, 2},
                                            {"b", "z", "", "view", "", 0, kNoPrice, -1, 3},
                                        });
}

TEST(UserItemsReader, BadAttributesFileIsAUserError) {
  testing::TempDir dir;
  const std::string lines = testing::fixture("user_items/Beauty.txt");
  const std::string not_json = dir.write("attrs.json", "{\"1\": [1,");
  testing::expect_user_error([&] { testing::read_all(RawFormat::kUserItems, lines, not_json); },
                             {"attrs.json", "not valid JSON"});
  const std::string not_array = dir.write("attrs2.json", "{\"1\": 5}");
  testing::expect_user_error([&] { testing::read_all(RawFormat::kUserItems, lines, not_array); },
                             {"attrs2.json", "item \"1\""});
  testing::expect_user_error(
      [&] { testing::read_all(RawFormat::kUserItems, lines, dir.path() + "/missing.json"); },
      {"missing.json", "no such"});
}

TEST(UserItemsReader, EveryAttributeIdBecomesAnAttrFeatureOfTheItem) {
  const auto result =
      testing::read_all(RawFormat::kUserItems, testing::fixture("user_items/Beauty.txt"),
                        testing::fixture("user_items/item2attributes.json"));
  // Items 1..6 in file order; the attributes file lists 1, 2, 3 (with no attributes) and 4.
  EXPECT_EQ(testing::item_features_of(result.events), (testing::FeatureLists{
                                                          {"attr:10", "attr:20", "attr:30"},
                                                          {"attr:11"},
                                                          {},
                                                          {"attr:12", "attr:21"},
                                                          {"attr:10", "attr:20", "attr:30"},
                                                          {},
                                                          {"attr:11"},
                                                          {"attr:11"},
                                                          {},
                                                      }));
  const auto without =
      testing::read_all(RawFormat::kUserItems, testing::fixture("user_items/Beauty.txt"));
  for (const RawEvent& event : without.events) EXPECT_EQ(event.item_features, "");
}

TEST(UserItemsReader, StringAttributeIdsAndTheSeparatorInsideOne) {
  testing::TempDir dir;
  const std::string lines = dir.write("seqs.txt", "u a b c\n");
  // A string id holding the feature separator (U+001F) must not split into a second token.
  const std::string attributes =
      dir.write("attrs.json", R"({"a": ["red", 7, ""], "b": ["x\u001fattr:y"], "c": []})");
  const auto result = testing::read_all(RawFormat::kUserItems, lines, attributes);
  EXPECT_EQ(testing::item_features_of(result.events),
            (testing::FeatureLists{{"attr:red", "attr:7"}, {"attr:x attr:y"}, {}}));
  ASSERT_EQ(result.events.size(), 3u);
  EXPECT_EQ(result.events[0].category, "red");
  EXPECT_EQ(result.events[1].category,
            "x\x1f"
            "attr:y");  // the category channel is unchanged

  const std::string bad = dir.write("bad.json", R"({"a": [1, 2.5]})");
  testing::expect_user_error([&] { testing::read_all(RawFormat::kUserItems, lines, bad); },
                             {"bad.json", "item \"a\"", "integers or strings"});
}

TEST(UserItemsReader, TellsPrepWhichItemsItsAttributesFileLists) {
  RawSourceSpec spec;
  spec.format = RawFormat::kUserItems;
  spec.path = testing::fixture("user_items/Beauty.txt");
  spec.item_attributes = testing::fixture("user_items/item2attributes.json");
  const auto reader = open_raw_log(spec, {});
  EXPECT_EQ(reader->checked_item_table(), spec.item_attributes);
  EXPECT_TRUE(reader->item_table_lists("1"));
  EXPECT_TRUE(reader->item_table_lists("3"));  // listed with an empty attribute list
  EXPECT_FALSE(reader->item_table_lists("5"));
  EXPECT_FALSE(reader->item_table_lists("10"));  // an attribute id is not an item

  spec.item_attributes.clear();
  EXPECT_EQ(open_raw_log(spec, {})->checked_item_table(), "");
}

}  // namespace
}  // namespace cf::data
