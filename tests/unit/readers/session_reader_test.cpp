// YooChoose and Diginetica session readers on hand-made fixtures.
#include <gtest/gtest.h>

#include "reader_test_support.h"

namespace cf::data {
namespace {

using testing::kNoPrice;

TEST(SessionReader, YoochooseDropsFractionalSecondsAndRejectsBadRows) {
  const auto result =
      testing::read_all(RawFormat::kYoochoose, testing::fixture("yoochoose/clicks.tsv"));
  testing::expect_events(result.events,
                         {
                             {"1", "214536502", "", "view", "", 1396860669, kNoPrice, -1, 2},
                             {"1", "214536506", "", "view", "", 1396860886, kNoPrice, -1, 3},
                             {"2", "214662742", "", "view", "", 1396871797, kNoPrice, -1, 4},
                             {"3", "214577561", "", "view", "", 1396871801, kNoPrice, -1, 8},
                         });
  testing::expect_rejects(result.rejects, {
                                              {"wrong_field_count", "clicks.tsv", 5},
                                              {"bad_timestamp", "clicks.tsv", 6},
                                              {"empty_field", "clicks.tsv", 7},
                                          });
  EXPECT_EQ(result.rows_read, 7);
  EXPECT_EQ(result.bytes_read, result.bytes_total);
}

TEST(SessionReader, DigineticaAddsTimeframeToTheDate) {
  const auto result =
      testing::read_all(RawFormat::kDiginetica, testing::fixture("diginetica/item-views.csv"));
  testing::expect_events(result.events,
                         {
                             {"1", "81766", "", "view", "", 1462752526, kNoPrice, -1, 2},
                             {"1", "31331", "", "view", "", 1462753031, kNoPrice, -1, 3},
                             {"2", "32118", "", "view", "", 1462838400, kNoPrice, -1, 4},
                             {"4", "a;b", "", "view", "", 1456704000, kNoPrice, -1, 9},
                         });
  testing::expect_rejects(result.rejects, {
                                              {"wrong_field_count", "item-views.csv", 5},
                                              {"bad_timestamp", "item-views.csv", 6},
                                              {"bad_timestamp", "item-views.csv", 7},
                                              {"empty_field", "item-views.csv", 8},
                                          });
  EXPECT_EQ(result.rows_read, 8);
}

TEST(SessionReader, WrongHeadersAreUserErrors) {
  testing::TempDir dir;
  const std::string comma = dir.write("clicks.csv", "SessionId,ItemId,Time\n1,2,3\n");
  testing::expect_user_error([&] { testing::read_all(RawFormat::kYoochoose, comma); },
                             {"clicks.csv", "\"SessionId\""});
  const std::string no_date = dir.write("views.csv", "session_id;user_id;item_id;timeframe\n");
  testing::expect_user_error([&] { testing::read_all(RawFormat::kDiginetica, no_date); },
                             {"views.csv", "\"eventdate\""});
}

TEST(SessionReader, SessionLogsHaveNoItemFeatures) {
  for (const auto& [format, file] :
       {std::pair{RawFormat::kYoochoose, "yoochoose/clicks.tsv"},
        std::pair{RawFormat::kDiginetica, "diginetica/item-views.csv"}}) {
    const auto result = testing::read_all(format, testing::fixture(file));
    ASSERT_FALSE(result.events.empty());
    for (const RawEvent& event : result.events) EXPECT_EQ(event.item_features, "") << file;
  }
}

}  // namespace
}  // namespace cf::data
