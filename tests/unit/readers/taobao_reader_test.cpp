// Taobao UserBehavior reader on a hand-made fixture.
#include <gtest/gtest.h>

#include "reader_test_support.h"

namespace cf::data {
namespace {

using testing::kNoPrice;

TEST(TaobaoReader, MapsBehavioursAndRejectsBadRows) {
  const auto result =
      testing::read_all(RawFormat::kTaobao, testing::fixture("taobao/UserBehavior.csv"));
  testing::expect_events(result.events,
                         {
                             {"1", "2268318", "2520377", "view", "", 1511544070, kNoPrice, -1, 1},
                             {"1", "2333346", "2520771", "cart", "", 1511561733, kNoPrice, -1, 2},
                             {"2", "2576651", "149192", "fav", "", 1511572885, kNoPrice, -1, 3},
                             {"2", "3830808", "4181361", "buy", "", 1511593493, kNoPrice, -1, 4},
                             {"3", "4444", "", "view", "", 1511600002, kNoPrice, -1, 9},
                         });
  testing::expect_rejects(result.rejects, {
                                              {"wrong_field_count", "UserBehavior.csv", 5},
                                              {"unknown_action", "UserBehavior.csv", 6},
                                              {"bad_timestamp", "UserBehavior.csv", 7},
                                              {"empty_field", "UserBehavior.csv", 8},
                                          });
  EXPECT_EQ(result.rows_read, 9);
  EXPECT_EQ(result.bytes_read, result.bytes_total);
}

TEST(TaobaoReader, SkipsAHeaderRowButRejectsGarbageLater) {
  testing::TempDir dir;
  const std::string path = dir.write("ub.csv",
                                     "user_id,item_id,category_id,behavior,timestamp\r\n"
                                     "7,8,9,pv,100\r\n"
                                     "user_id,item_id,category_id,behavior,timestamp");
  const auto result = testing::read_all(RawFormat::kTaobao, path);
  testing::expect_events(result.events, {{"7", "8", "9", "view", "", 100, kNoPrice, -1, 2}});
  testing::expect_rejects(result.rejects, {{"unknown_action", "ub.csv", 3}});
  EXPECT_EQ(result.rows_read, 2);
}

TEST(TaobaoReader, MissingFileIsAUserError) {
  testing::expect_user_error(
      [] { testing::read_all(RawFormat::kTaobao, "/nonexistent/UserBehavior.csv"); },
      {"/nonexistent/UserBehavior.csv", "no such file"});
}

TEST(TaobaoReader, CategoryBecomesTheItemFeature) {
  const auto result =
      testing::read_all(RawFormat::kTaobao, testing::fixture("taobao/UserBehavior.csv"));
  EXPECT_EQ(testing::item_features_of(result.events),
            (testing::FeatureLists{{"category:2520377"},
                                   {"category:2520771"},
                                   {"category:149192"},
                                   {"category:4181361"},
                                   {}}));  // line 9 has an empty category
}

}  // namespace
}  // namespace cf::data
