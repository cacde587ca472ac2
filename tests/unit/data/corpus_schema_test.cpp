// The pure functions of the corpus schema: time-gap buckets, split lengths, channel names.
#include <gtest/gtest.h>

#include <limits>

#include "data/corpus.h"

namespace cf::data {
namespace {

TEST(TimeGapBucket, EdgesFallWhereTheFormatDocumentSaysTheyDo) {
  // (gap in seconds, bucket): the first and last second of every bucket.
  const std::vector<std::pair<int64_t, int>> cases = {
      {-5, 2},      {0, 2},       {1, 3},       {9, 3},
      {10, 4},      {29, 4},      {30, 5},      {59, 5},
      {60, 6},      {179, 6},     {180, 7},     {599, 7},
      {600, 8},     {1799, 8},    {1800, 9},    {3599, 9},
      {3600, 10},   {10799, 10},  {10800, 11},  {43199, 11},
      {43200, 12},  {86399, 12},  {86400, 13},  {259199, 13},
      {259200, 14}, {604799, 14}, {604800, 15}, {int64_t{1} << 40, 15}};
  for (const auto& [gap, bucket] : cases) EXPECT_EQ(time_gap_bucket(gap), bucket) << gap;
}

TEST(TimeGapBucket, IsMonotoneAndStaysInRange) {
  int previous = time_gap_bucket(0);
  for (int64_t gap = 0; gap < 2'000'000; gap += 97) {
    const int b = time_gap_bucket(gap);
    EXPECT_GE(b, previous);
    EXPECT_GE(b, 2);
    EXPECT_LT(b, kNumTimeGapBuckets);
    previous = b;
  }
  EXPECT_EQ(previous, kNumTimeGapBuckets - 1);
}

TEST(TimeGapBucket, GapsBetweenAnyTwoTimesSaturateInsteadOfWrapping) {
  constexpr int64_t kLowest = std::numeric_limits<int64_t>::min();
  constexpr int64_t kHighest = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(time_gap_bucket_between(1000, 1065), time_gap_bucket(65));
  EXPECT_EQ(time_gap_bucket_between(kLowest, kHighest), kNumTimeGapBuckets - 1);
  EXPECT_EQ(time_gap_bucket_between(-5, kHighest), kNumTimeGapBuckets - 1);
  EXPECT_EQ(time_gap_bucket_between(kLowest, 0), kNumTimeGapBuckets - 1);
  EXPECT_EQ(time_gap_bucket_between(kHighest, kLowest), time_gap_bucket(-1));
}

TEST(VisibleLength, LeaveOneOutSplit) {
  EXPECT_EQ(visible_length(10, Split::kTrain), 8);
  EXPECT_EQ(visible_length(10, Split::kValidation), 8);
  EXPECT_EQ(visible_length(10, Split::kTest), 9);
  EXPECT_EQ(visible_length(3, Split::kTrain), 1);
  EXPECT_EQ(visible_length(3, Split::kValidation), 1);
  EXPECT_EQ(visible_length(3, Split::kTest), 2);
  // Shorter sequences are train-only: no validation or test target.
  EXPECT_EQ(visible_length(2, Split::kTrain), 2);
  EXPECT_EQ(visible_length(2, Split::kValidation), 0);
  EXPECT_EQ(visible_length(2, Split::kTest), 0);
  EXPECT_EQ(visible_length(0, Split::kTrain), 0);
}

TEST(ChannelName, NamesEveryChannel) {
  EXPECT_STREQ(channel_name(Channel::kItem), "item");
  EXPECT_STREQ(channel_name(Channel::kAction), "action");
  EXPECT_STREQ(channel_name(Channel::kCategory), "category");
  EXPECT_STREQ(channel_name(Channel::kTimeGap), "time_gap");
  EXPECT_STREQ(channel_name(Channel::kActivity), "activity");
}

}  // namespace
}  // namespace cf::data
