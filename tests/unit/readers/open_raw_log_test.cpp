// Format names, the reader factory's argument checks, and action synonyms.
#include <gtest/gtest.h>

#include "data/readers/action_names.h"
#include "reader_test_support.h"

namespace cf::data {
namespace {

TEST(RawFormatNames, RoundTripEveryFormat) {
  for (RawFormat format :
       {RawFormat::kTrio, RawFormat::kTaobao, RawFormat::kRees46, RawFormat::kUserItem,
        RawFormat::kUserItems, RawFormat::kYoochoose, RawFormat::kDiginetica}) {
    EXPECT_EQ(parse_raw_format(raw_format_name(format)), format);
  }
  EXPECT_EQ(raw_format_name(RawFormat::kUserItems), "user_items");
}

TEST(RawFormatNames, UnknownNameListsTheValidOnes) {
  testing::expect_user_error([] { parse_raw_format("csv"); },
                             {"\"csv\"", "trio", "taobao", "rees46", "user_item", "user_items",
                              "yoochoose", "diginetica"});
}

TEST(OpenRawLog, AttributesOnlyWithUserItemFormats) {
  RawSourceSpec spec;
  spec.format = RawFormat::kTaobao;
  spec.path = testing::fixture("taobao/UserBehavior.csv");
  spec.item_attributes = testing::fixture("user_items/item2attributes.json");
  testing::expect_user_error([&] { open_raw_log(spec, nullptr); },
                             {"item2attributes.json", "taobao"});
}

TEST(OpenRawLog, WorksWithoutARejectSink) {
  RawSourceSpec spec;
  spec.format = RawFormat::kTaobao;
  spec.path = testing::fixture("taobao/UserBehavior.csv");
  auto reader = open_raw_log(spec, nullptr);
  RawEvent event;
  int events = 0;
  while (reader->next(event)) ++events;
  EXPECT_EQ(events, 5);
  EXPECT_EQ(reader->rows_read(), 9);
}

TEST(ActionNames, MapsSynonymsIgnoringCase) {
  const std::pair<const char*, const char*> cases[] = {
      {"pv", "view"},  {"Click", "view"},   {"view", "view"},        {"fav", "fav"},
      {"LIKE", "fav"}, {"favorite", "fav"}, {"add_to_cart", "cart"}, {"cart", "cart"},
      {"buy", "buy"},  {"Purchase", "buy"}, {"order", "buy"},
  };
  for (const auto& [raw, canonical] : cases) {
    const std::string* action = canonical_action_for(raw);
    ASSERT_NE(action, nullptr) << raw;
    EXPECT_EQ(*action, canonical) << raw;
  }
  EXPECT_EQ(canonical_action_for("remove_from_cart"), nullptr);
  EXPECT_EQ(canonical_action_for(""), nullptr);
  EXPECT_EQ(canonical_action_for("views"), nullptr);
}

}  // namespace
}  // namespace cf::data
