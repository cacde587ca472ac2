// REES46 reader on a CRLF fixture without a trailing newline (as the real export is).
#include <gtest/gtest.h>

#include "reader_test_support.h"

namespace cf::data {
namespace {

TEST(Rees46Reader, ParsesUtcTimesPricesAndRejectsBadRows) {
  const auto result = testing::read_all(RawFormat::kRees46, testing::fixture("rees46/events.csv"));
  testing::expect_events(
      result.events,
      {
          {"541312140", "44600062", "2103807459595387724", "view", "", 1569888000, 35.79, -1, 2},
          {"554748717", "3900821", "2053013552326770905", "cart", "", 1569895384, 33.20, -1, 3},
          {"554748717", "3900821", "2053013552326770905", "buy", "", 1569895440, 33.20, -1, 5},
          // Quoted brand with a comma; empty category_id.
          {"550050854", "1307067", "", "view", "", 1583020799, 251.74, -1, 10},
      });
  testing::expect_rejects(result.rejects, {
                                              {"unsupported_action", "events.csv", 4},
                                              {"unknown_action", "events.csv", 6},
                                              {"bad_timestamp", "events.csv", 7},
                                              {"bad_price", "events.csv", 8},
                                              {"wrong_field_count", "events.csv", 9},
                                          });
  EXPECT_EQ(result.rows_read, 9);
  EXPECT_EQ(result.bytes_read, result.bytes_total);
}

TEST(Rees46Reader, ColumnsAreFoundByName) {
  testing::TempDir dir;
  const std::string path = dir.write("reordered.csv",
                                     "user_id,price,event_type,event_time,product_id,category_id\n"
                                     "9,1.5,view,2019-10-01 00:00:05 UTC,77,3\n");
  const auto result = testing::read_all(RawFormat::kRees46, path);
  testing::expect_events(result.events, {{"9", "77", "3", "view", "", 1569888005, 1.5, -1, 2}});
}

TEST(Rees46Reader, WrongHeaderIsAUserErrorNamingTheFile) {
  testing::TempDir dir;
  const std::string path = dir.write("2019-Oct.csv", "1,2268318,2520377,pv,1511544070\n");
  testing::expect_user_error([&] { testing::read_all(RawFormat::kRees46, path); },
                             {"2019-Oct.csv", "\"event_time\""});
  const std::string empty = dir.write("empty.csv", "");
  testing::expect_user_error([&] { testing::read_all(RawFormat::kRees46, empty); },
                             {"empty.csv", "empty file"});
}

TEST(Rees46Reader, CategoryAndBrandBecomeItemFeatures) {
  const auto result = testing::read_all(RawFormat::kRees46, testing::fixture("rees46/events.csv"));
  EXPECT_EQ(testing::item_features_of(result.events),
            (testing::FeatureLists{
                {"category:2103807459595387724", "brand:shiseido"},
                {"category:2053013552326770905", "brand:aqua"},
                {"category:2053013552326770905", "brand:aqua"},
                {"brand:lenovo, inc"},  // no category_id
            }));
  testing::TempDir dir;
  const std::string no_brand =
      dir.write("reordered.csv",
                "user_id,price,event_type,event_time,product_id,category_id\n"
                "9,1.5,view,2019-10-01 00:00:05 UTC,77,3\n"
                "9,1.5,view,2019-10-01 00:00:06 UTC,78,\n");
  EXPECT_EQ(testing::item_features_of(testing::read_all(RawFormat::kRees46, no_brand).events),
            (testing::FeatureLists{{"category:3"}, {}}));
}

}  // namespace
}  // namespace cf::data
