// Date and date-time parsing against unix times computed independently (Python calendar.timegm).
#include "data/readers/utc_time.h"

#include <gtest/gtest.h>

#include <ctime>

namespace cf::data {
namespace {

int64_t datetime(const char* text) {
  int64_t seconds = 0;
  EXPECT_TRUE(parse_utc_datetime(text, seconds)) << text;
  return seconds;
}

TEST(UtcTime, MatchesReferenceUnixTimes) {
  EXPECT_EQ(datetime("1970-01-01 00:00:00 UTC"), 0);
  EXPECT_EQ(datetime("2019-10-01 00:00:00 UTC"), 1569888000);
  EXPECT_EQ(datetime("2019-10-01 02:03:04 UTC"), 1569895384);
  EXPECT_EQ(datetime("2020-02-29 23:59:59 UTC"), 1583020799);
  EXPECT_EQ(datetime("1969-12-31 23:59:59"), -1);
  EXPECT_EQ(datetime("1900-03-01T00:00:00Z"), -2203891200);
  EXPECT_EQ(datetime("2400-02-29 12:00:00"), 13574606400);
  EXPECT_EQ(datetime("0001-01-01 00:00:00"), -62135596800);
}

TEST(UtcTime, AgreesWithTimegmOnEveryDayOfSeveralYears) {
  for (int64_t day = days_from_civil(1999, 1, 1); day < days_from_civil(2005, 1, 1); ++day) {
    const std::time_t t = static_cast<std::time_t>(day * 86400);
    std::tm parts{};
    gmtime_r(&t, &parts);
    EXPECT_EQ(days_from_civil(parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday), day);
  }
}

TEST(UtcTime, ParsesIsoDates) {
  int64_t seconds = 0;
  ASSERT_TRUE(parse_iso_date("2016-05-09", seconds));
  EXPECT_EQ(seconds, 1462752000);
  ASSERT_TRUE(parse_iso_date("2016-02-29", seconds));
  EXPECT_EQ(seconds, 1456704000);
}

TEST(UtcTime, RejectsMalformedOrImpossibleTimes) {
  int64_t seconds = 0;
  for (const char* bad :
       {"", "2019-10-01", "2019-10-01 00:00", "2019-10-32 00:00:00", "2019-02-29 00:00:00",
        "1900-02-29 00:00:00", "2019-13-01 00:00:00", "2019-10-01 24:00:00", "2019-10-01 00:60:00",
        "2019-10-01 00:00:60", "2019-10-01 00:00:00 CET", "2019-10-01 00:00:00+02:00",
        "2019/10/01 00:00:00", "20x9-10-01 00:00:00"}) {
    EXPECT_FALSE(parse_utc_datetime(bad, seconds)) << bad;
  }
  for (const char* bad : {"2016-5-9", "2016-05-09 ", "2016-00-10", "2015-02-29", "NA"}) {
    EXPECT_FALSE(parse_iso_date(bad, seconds)) << bad;
  }
}

}  // namespace
}  // namespace cf::data
