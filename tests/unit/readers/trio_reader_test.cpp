// Trio reader: the join with item_data and activity_data, row rejects, header errors, CRLF.
#include <gtest/gtest.h>

#include "reader_test_support.h"

namespace cf::data {
namespace {

using testing::expect_events;
using testing::expect_rejects;
using testing::expect_user_error;
using testing::kNoPrice;
using testing::read_all;
using testing::TempDir;

TEST(TrioReader, JoinsSideTablesAndRejectsBadRows) {
  const auto result = read_all(RawFormat::kTrio, testing::fixture("trio"));
  // Columns come by name: the fixture's behaviour header starts with an email column and puts
  // behavior before activity_id; item i9 is not in item_data (category "", no price).
  expect_events(result.events, {
                                   {"u1", "i1", "c1", "view", "", 1700000000, 9.99, 0, 2},
                                   {"u1", "i2", "c2", "view", "A1", 1700000060, kNoPrice, 0, 3},
                                   {"u1", "i1", "c1", "cart", "A1", 1700000120, 9.99, 0, 4},
                                   {"u1", "i1", "c1", "buy", "A1", 1700000180, 9.99, 1, 5},
                                   {"u2", "i9", "", "fav", "", 1700000300, kNoPrice, 0, 6},
                                   {"u3", "i,3", "c1", "buy", "A2", 1700000800, 5.0, 1, 12},
                               });
  expect_rejects(result.rejects, {
                                     {"bad_price", "item_data.csv", 5},
                                     {"duplicate_item", "item_data.csv", 6},
                                     {"unknown_action", "behavior_data.csv", 7},
                                     {"bad_timestamp", "behavior_data.csv", 8},
                                     {"unknown_activity", "behavior_data.csv", 9},
                                     {"wrong_field_count", "behavior_data.csv", 10},
                                     {"empty_field", "behavior_data.csv", 11},
                                     {"bad_label", "behavior_data.csv", 13},
                                     {"bad_quoting", "behavior_data.csv", 14},
                                 });
  EXPECT_EQ(result.rows_read, 13);
  EXPECT_EQ(result.bytes_read, result.bytes_total);
  ASSERT_EQ(result.source_files.size(), 3u);
  EXPECT_TRUE(result.source_files[0].ends_with("behavior_data.csv"));
  EXPECT_TRUE(result.source_files[1].ends_with("item_data.csv"));
  EXPECT_TRUE(result.source_files[2].ends_with("activity_data.csv"));
}

// Writes a trio folder; the behaviour file's bytes are given whole so tests control line endings.
void write_trio(const TempDir& dir, const std::string& behaviour,
                const std::string& items = "item_id,category,price\ni1,c1,2.5\n",
                const std::string& activities = "activity_id,type\nA1,coupon\n") {
  dir.write("behavior_data.csv", behaviour);
  dir.write("item_data.csv", items);
  dir.write("activity_data.csv", activities);
}

TEST(TrioReader, ReadsCrlfFilesWithoutTrailingNewline) {
  TempDir dir;
  write_trio(dir,
             "user_id,item_id,activity_id,behavior,timestamp,purchase\r\n"
             "u1,i1,A1,cart,10,0\r\n"
             "u1,i1,,buy,11,3",
             "item_id,category,price\r\ni1,c1,2.5\r\n", "activity_id,type\r\nA1,coupon\r\n");
  const auto result = read_all(RawFormat::kTrio, dir.path());
  expect_events(result.events, {
                                   {"u1", "i1", "c1", "cart", "A1", 10, 2.5, 0, 2},
                                   {"u1", "i1", "c1", "buy", "", 11, 2.5, 1, 3},
                               });
  EXPECT_TRUE(result.rejects.empty());
}

TEST(TrioReader, MissingHeaderColumnNamesFileAndColumn) {
  TempDir dir;
  write_trio(dir, "user_id,item_id,activity_id,behavior,purchase\nu1,i1,,view,0\n");
  expect_user_error([&] { read_all(RawFormat::kTrio, dir.path()); },
                    {"behavior_data.csv", "\"timestamp\""});
  write_trio(dir, "user_id,item_id,activity_id,behavior,timestamp,purchase\n",
             "item_id,price\ni1,2\n");
  expect_user_error([&] { read_all(RawFormat::kTrio, dir.path()); },
                    {"item_data.csv", "\"category\""});
  write_trio(dir, "user_id,item_id,activity_id,behavior,timestamp,purchase\n",
             "item_id,category,price\n", "id,type\nA1,coupon\n");
  expect_user_error([&] { read_all(RawFormat::kTrio, dir.path()); },
                    {"activity_data.csv", "\"activity_id\""});
}

TEST(TrioReader, EmptyOrMissingFilesAreUserErrors) {
  TempDir dir;
  write_trio(dir, "");
  expect_user_error([&] { read_all(RawFormat::kTrio, dir.path()); },
                    {"behavior_data.csv", "empty file"});
  std::filesystem::remove(dir.path() + "/item_data.csv");
  expect_user_error([&] { read_all(RawFormat::kTrio, dir.path()); },
                    {"item_data.csv", "no such file"});
  expect_user_error([&] { read_all(RawFormat::kTrio, dir.path() + "/item_data.csv"); },
                    {"item_data.csv", "expects a folder"});
}

TEST(TrioReader, HeaderOnlyFileYieldsNoEvents) {
  TempDir dir;
  write_trio(dir, "user_id,item_id,activity_id,behavior,timestamp,purchase\n");
  const auto result = read_all(RawFormat::kTrio, dir.path());
  EXPECT_TRUE(result.events.empty());
  EXPECT_EQ(result.rows_read, 0);
}

TEST(TrioReader, ItemDataCategoryBecomesTheItemFeature) {
  const auto result = read_all(RawFormat::kTrio, testing::fixture("trio"));
  // i9 is not in item_data.csv; i1's second definition (category c9) is a rejected duplicate.
  EXPECT_EQ(testing::item_features_of(result.events), (testing::FeatureLists{{"category:c1"},
                                                                             {"category:c2"},
                                                                             {"category:c1"},
                                                                             {"category:c1"},
                                                                             {},
                                                                             {"category:c1"}}));
  TempDir dir;
  write_trio(dir, "user_id,item_id,activity_id,behavior,timestamp,purchase\nu1,i1,,view,10,0\n",
             "item_id,category,price\ni1,,2.5\n");
  EXPECT_EQ(testing::item_features_of(read_all(RawFormat::kTrio, dir.path()).events),
            (testing::FeatureLists{{}}));  // an empty category is no feature
}

}  // namespace
}  // namespace cf::data
