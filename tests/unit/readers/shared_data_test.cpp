// Readers on the real public samples in CARTFORMER_SHARED_DATA; counts from its README.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "reader_test_support.h"

namespace cf::data {
namespace {

struct Summary {
  int64_t events = 0;
  int64_t rows_read = 0;
  std::vector<RowReject> rejects;
  std::set<std::string> users, items, categories;
  std::map<std::string, int64_t> actions;
  int64_t min_timestamp = INT64_MAX, max_timestamp = INT64_MIN;
  bool bytes_all_read = false;
};

// Streams a source without keeping its events (some have hundreds of thousands).
Summary summarise(RawFormat format, const std::string& path, const std::string& attributes = "",
                  const std::function<void(const RawEvent&)>& check = nullptr) {
  RawSourceSpec spec;
  spec.format = format;
  spec.path = path;
  spec.item_attributes = attributes;
  Summary summary;
  auto reader =
      open_raw_log(spec, [&](const RowReject& reject) { summary.rejects.push_back(reject); });
  RawEvent event;
  while (reader->next(event)) {
    ++summary.events;
    summary.users.insert(event.user);
    summary.items.insert(event.item);
    if (!event.category.empty()) summary.categories.insert(event.category);
    ++summary.actions[event.action];
    summary.min_timestamp = std::min(summary.min_timestamp, event.timestamp);
    summary.max_timestamp = std::max(summary.max_timestamp, event.timestamp);
    if (check) check(event);
  }
  summary.rows_read = reader->rows_read();
  summary.bytes_all_read = reader->bytes_read() == reader->bytes_total();
  return summary;
}

// The path of a shared sample, or "" after GTEST_SKIP-worthy absence.
std::string shared_file(const std::string& relative) {
  const std::filesystem::path path = std::filesystem::path(testing::shared_data_dir()) / relative;
  return std::filesystem::exists(path) ? path.string() : "";
}

#define REQUIRE_SHARED(var, relative)                                                       \
  const std::string var = shared_file(relative);                                            \
  if (var.empty()) {                                                                        \
    GTEST_SKIP() << "shared data absent: " << testing::shared_data_dir() << "/" << relative \
                 << " (set CARTFORMER_SHARED_DATA)";                                        \
  }

TEST(SharedData, TaobaoUserBehaviorSample) {
  REQUIRE_SHARED(path, "taobao-userbehavior-sample/UserBehavior.csv");
  bool first = true;
  const Summary s = summarise(RawFormat::kTaobao, path, "", [&](const RawEvent& e) {
    if (!first) return;
    first = false;  // README: 1,2268318,2520377,pv,1511544070
    EXPECT_EQ(e.user, "1");
    EXPECT_EQ(e.item, "2268318");
    EXPECT_EQ(e.category, "2520377");
    EXPECT_EQ(e.action, "view");
    EXPECT_EQ(e.timestamp, 1511544070);
  });
  EXPECT_EQ(s.events, 4321);
  EXPECT_EQ(s.rows_read, 4321);
  EXPECT_EQ(s.users.size(), 43u);
  EXPECT_EQ(s.items.size(), 3276u);
  EXPECT_EQ(s.categories.size(), 567u);
  EXPECT_EQ(s.actions, (std::map<std::string, int64_t>{
                           {"view", 3926}, {"cart", 190}, {"fav", 128}, {"buy", 77}}));
  EXPECT_TRUE(s.bytes_all_read);
  EXPECT_TRUE(s.rejects.empty());
}

TEST(SharedData, Rees46OctoberSample) {
  REQUIRE_SHARED(path, "rees46-2019oct-sample/2019-Oct.csv");
  int64_t priced = 0;
  const Summary s = summarise(RawFormat::kRees46, path, "", [&](const RawEvent& e) {
    if (!std::isnan(e.price)) ++priced;
  });
  // The sample was cut mid-row: its last line (17,436) lacks user_session and ends in a
  // truncated user id. The README counts that row (17,435 rows, 4,505 users, 17,056 views);
  // the reader rightly rejects it, so one row, one view and that one-row "user" go.
  EXPECT_EQ(s.rows_read, 17435);
  ASSERT_EQ(s.rejects.size(), 1u);
  EXPECT_EQ(s.rejects[0].reason, "wrong_field_count");
  EXPECT_EQ(s.rejects[0].line, 17436);
  EXPECT_EQ(s.events, 17434);
  EXPECT_EQ(s.users.size(), 4504u);
  EXPECT_EQ(s.items.size(), 6493u);
  EXPECT_EQ(s.categories.size(), 434u);
  EXPECT_EQ(s.actions,
            (std::map<std::string, int64_t>{{"view", 17055}, {"cart", 165}, {"buy", 214}}));
  EXPECT_EQ(priced, 17434);
  // "first ~3 hours" of 2019-10-01 UTC.
  EXPECT_EQ(s.min_timestamp, 1569888000);
  EXPECT_LT(s.max_timestamp, 1569888000 + 4 * 3600);
  EXPECT_TRUE(s.bytes_all_read);
}

TEST(SharedData, Bert4RecBeauty) {
  REQUIRE_SHARED(path, "amazon-beauty-bert4rec/beauty.txt");
  std::map<std::string, int64_t> next_ordinal;
  bool ordinals_consecutive = true;
  const Summary s = summarise(RawFormat::kUserItem, path, "", [&](const RawEvent& e) {
    ordinals_consecutive &= e.timestamp == next_ordinal[e.user]++;
  });
  EXPECT_EQ(s.events, 353962);
  EXPECT_EQ(s.rows_read, 353962);
  EXPECT_EQ(s.users.size(), 40226u);
  EXPECT_EQ(s.items.size(), 54542u);
  EXPECT_TRUE(ordinals_consecutive);
  EXPECT_EQ(s.actions, (std::map<std::string, int64_t>{{"view", 353962}}));
  EXPECT_TRUE(s.rejects.empty());
}

TEST(SharedData, S3RecBeautyWithAttributes) {
  REQUIRE_SHARED(path, "amazon-s3rec/Beauty.txt");
  REQUIRE_SHARED(attributes, "amazon-s3rec/Beauty_item2attributes.json");
  int64_t without_category = 0;
  const Summary s = summarise(RawFormat::kUserItems, path, attributes, [&](const RawEvent& e) {
    without_category += e.category.empty() ? 1 : 0;
  });
  EXPECT_EQ(s.rows_read, 22363);
  EXPECT_EQ(s.events, 198502);
  EXPECT_EQ(s.users.size(), 22363u);
  EXPECT_EQ(s.items.size(), 12101u);
  // Every item is listed in the attributes file; the first ids are a subset of its 637 ids
  // (443 distinct, counted independently with Python's json module).
  EXPECT_EQ(without_category, 0);
  EXPECT_EQ(s.categories.size(), 443u);
  EXPECT_TRUE(s.rejects.empty());
}

TEST(SharedData, YoochooseTrainFullAndTest) {
  REQUIRE_SHARED(train, "yoochoose-100k/yoochoose-clicks-100k_train_full.txt");
  REQUIRE_SHARED(test, "yoochoose-100k/yoochoose-clicks-100k_test.txt");
  const Summary t = summarise(RawFormat::kYoochoose, train);
  EXPECT_EQ(t.events, 70278);
  EXPECT_EQ(t.users.size(), 17794u);
  EXPECT_EQ(t.items.size(), 2933u);
  EXPECT_TRUE(t.rejects.empty());
  const Summary v = summarise(RawFormat::kYoochoose, test);
  EXPECT_EQ(v.events, 13568);
  EXPECT_TRUE(v.rejects.empty());
  // Time split, last day = test: every test click is later than every training click.
  EXPECT_GT(v.min_timestamp, t.max_timestamp);
}

TEST(SharedData, DigineticaSample) {
  REQUIRE_SHARED(path, "diginetica-sample/sample_train-item-views.csv");
  const Summary s = summarise(RawFormat::kDiginetica, path);
  EXPECT_EQ(s.events, 12391);
  EXPECT_EQ(s.rows_read, 12391);
  EXPECT_EQ(s.users.size(), 2986u);
  EXPECT_EQ(s.items.size(), 7139u);
  EXPECT_TRUE(s.bytes_all_read);
  EXPECT_TRUE(s.rejects.empty());
}

}  // namespace
}  // namespace cf::data
