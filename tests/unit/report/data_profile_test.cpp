// Data profile of a hand-written five-user corpus: every number of the JSON computed by hand.
#include "report/data_profile.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/corpus_writer.h"
#include "data/raw_event.h"
#include "unit/eval/eval_test_corpus.h"

namespace cf::report {
namespace {

using eval::testing::ScratchDir;

constexpr int32_t kView = 1, kFav = 2, kCart = 3, kBuy = 4;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Event {
  int32_t action, item;
};

// Items i1..i5 (tokens 1..5), priced 10, 20, unknown, 40, 5. Purchases are the buy events.
//   U0 (7 events): view i1, buy i1, view i2, cart i2, buy i1, view i3, buy i2
//   U1 (3): view i2, cart i2, buy i2
//   U2 (1): view i4
//   U3 (5): fav i3, view i3, cart i3, buy i3, buy i5
//   U4 (2): view i5, buy i5
data::CorpusContents profile_corpus_contents(bool with_prices) {
  const std::vector<std::vector<Event>> users = {
      {{kView, 1}, {kBuy, 1}, {kView, 2}, {kCart, 2}, {kBuy, 1}, {kView, 3}, {kBuy, 2}},
      {{kView, 2}, {kCart, 2}, {kBuy, 2}},
      {{kView, 4}},
      {{kFav, 3}, {kView, 3}, {kCart, 3}, {kBuy, 3}, {kBuy, 5}},
      {{kView, 5}, {kBuy, 5}},
  };
  data::CorpusContents c;
  c.offsets.push_back(0);
  int64_t e = 0;
  for (size_t u = 0; u < users.size(); ++u) {
    for (size_t k = 0; k < users[u].size(); ++k, ++e) {
      c.item.push_back(users[u][k].item);
      c.action.push_back(users[u][k].action);
      c.category.push_back(users[u][k].item % 2 + 1);
      c.time_gap.push_back(k == 0 ? 1 : 5);
      c.activity.push_back(0);
      c.timestamp.push_back(1'700'000'000 + e * 100);
      c.purchase.push_back(users[u][k].action == kBuy ? 1 : 0);
    }
    c.offsets.push_back(e);
    char key[33];
    std::snprintf(key, sizeof key, "%032x", 0x5000 + static_cast<int>(u));
    c.user_keys.push_back(key);
    c.label_loo.push_back(c.purchase.back());
    c.label_time.push_back(0);
    c.time_train_length.push_back(0);
  }
  c.item_raw = {"<pad>", "i1", "i2", "i3", "i4", "i5"};
  c.category_raw = {"<pad>", "c1", "c2"};
  c.activity_raw = {"<pad>", "promo"};
  c.action_names = data::canonical_actions();
  c.item_count.assign(c.item_raw.size(), 0);
  for (size_t s = 0; s + 1 < c.offsets.size(); ++s) {
    const int32_t length = static_cast<int32_t>(c.offsets[s + 1] - c.offsets[s]);
    const int32_t train = data::visible_length(length, data::Split::kTrain);
    for (int64_t i = c.offsets[s]; i < c.offsets[s] + train; ++i) ++c.item_count[c.item[i]];
  }
  if (with_prices) c.item_price = {kNaN, 10.0, 20.0, kNaN, 40.0, 5.0};
  c.provenance.created_by = "data profile tests";
  c.provenance.source_format = "trio";
  c.provenance.user_key_source = "demo-key";
  c.provenance.time_source = "timestamps";
  return c;
}

class DataProfileTest : public ::testing::Test {
 protected:
  Json profile_of(const data::CorpusContents& contents, const std::string& name) {
    const std::string path = dir_.file(name);
    data::write_corpus(path, contents);
    auto corpus = data::CorpusReader::open(path);
    return profile_corpus(*corpus);
  }
  ScratchDir dir_{"data_profile"};
};

TEST_F(DataProfileTest, CountsAndFunnel) {
  const Json p = profile_of(profile_corpus_contents(true), "counts.h5");
  EXPECT_EQ(p["events"].get<int64_t>(), 18);
  EXPECT_EQ(p["users"].get<int64_t>(), 5);
  EXPECT_EQ(p["items"].get<int64_t>(), 5);
  EXPECT_EQ(p["categories"].get<int64_t>(), 2);
  EXPECT_EQ(p["activities"].get<int64_t>(), 1);
  EXPECT_EQ(p["actions"], (Json{{"view", 7}, {"fav", 1}, {"cart", 3}, {"buy", 7}}));
  EXPECT_EQ(p["purchases"].get<int64_t>(), 7);

  const Json expected_funnel = Json::array({{{"stage", "view"}, {"events", 7}, {"users", 5}},
                                            {{"stage", "cart"}, {"events", 3}, {"users", 3}},
                                            {{"stage", "buy"}, {"events", 7}, {"users", 4}}});
  EXPECT_EQ(p["funnel"], expected_funnel);

  const Json& rates = p["rates"];
  EXPECT_DOUBLE_EQ(rates["cart_per_view"].get<double>(), 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(rates["buy_per_cart"].get<double>(), 7.0 / 3.0);
  EXPECT_DOUBLE_EQ(rates["buy_per_view"].get<double>(), 1.0);
  // Viewers who also cart: U0, U1, U3 of 5 viewers; carters who also buy: all 3.
  EXPECT_DOUBLE_EQ(rates["users_carting_per_viewing"].get<double>(), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(rates["users_buying_per_carting"].get<double>(), 1.0);
}

TEST_F(DataProfileTest, OrderValueUsesThePricesOfPurchasedItems) {
  const Json p = profile_of(profile_corpus_contents(true), "orders.h5");
  const Json& o = p["order_value"];
  EXPECT_EQ(o["available"], true);
  // Purchased: i1, i1, i2 (U0), i2 (U1), i3 (unpriced), i5 (U3), i5 (U4).
  EXPECT_EQ(o["purchases"].get<int64_t>(), 7);
  EXPECT_EQ(o["priced_purchases"].get<int64_t>(), 6);
  EXPECT_DOUBLE_EQ(o["total"].get<double>(), 70.0);
  EXPECT_DOUBLE_EQ(o["mean"].get<double>(), 70.0 / 6.0);
  EXPECT_DOUBLE_EQ(o["median"].get<double>(), 10.0);  // 5 5 10 10 20 20
}

TEST_F(DataProfileTest, OrderValueMedianOfAnOddCount) {
  data::CorpusContents c = profile_corpus_contents(true);
  c.item_price[5] = kNaN;  // i5 unpriced: priced purchases i1 i1 i2 i2 -> 10 10 20 20
  c.item_price[1] = 3.0;   // -> 3 3 20 20
  c.item_price[2] = 8.0;   // -> 3 3 8 8
  c.item_price[3] = 50.0;  // i3 priced now -> 3 3 8 8 50: median 8, mean 72 / 5
  const Json o = profile_of(c, "odd.h5")["order_value"];
  EXPECT_EQ(o["priced_purchases"].get<int64_t>(), 5);
  EXPECT_DOUBLE_EQ(o["median"].get<double>(), 8.0);
  EXPECT_DOUBLE_EQ(o["mean"].get<double>(), 72.0 / 5.0);
  EXPECT_DOUBLE_EQ(o["total"].get<double>(), 72.0);
}

TEST_F(DataProfileTest, OrderValueIsUnavailableWithoutPrices) {
  const Json none = profile_of(profile_corpus_contents(false), "noprices.h5")["order_value"];
  EXPECT_EQ(none["available"], false);
  ASSERT_TRUE(none["reason"].is_string());
  EXPECT_NE(none["reason"].get<std::string>().find("no prices"), std::string::npos)
      << none["reason"];
  EXPECT_FALSE(none.contains("mean"));

  // Prices recorded, but none for a purchased item.
  data::CorpusContents c = profile_corpus_contents(true);
  c.item_price = {kNaN, kNaN, kNaN, kNaN, 40.0, kNaN};  // only i4, never bought
  const Json unpriced = profile_of(c, "unpriced.h5")["order_value"];
  EXPECT_EQ(unpriced["available"], false);
  ASSERT_TRUE(unpriced["reason"].is_string());
  EXPECT_NE(unpriced["reason"].get<std::string>().find("no purchased item has a known price"),
            std::string::npos)
      << unpriced["reason"];
}

TEST_F(DataProfileTest, Repurchase) {
  const Json r = profile_of(profile_corpus_contents(true), "repurchase.h5")["repurchase"];
  // Buyers U0 (3 purchases, i1 twice), U1 (1), U3 (2, different items), U4 (1).
  EXPECT_EQ(r["buyers"].get<int64_t>(), 4);
  EXPECT_EQ(r["repeat_buyers"].get<int64_t>(), 2);
  EXPECT_EQ(r["same_item_repeat_buyers"].get<int64_t>(), 1);
  EXPECT_DOUBLE_EQ(r["rate"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(r["same_item_rate"].get<double>(), 0.25);
}

TEST_F(DataProfileTest, EventsPerUser) {
  const Json e = profile_of(profile_corpus_contents(true), "lengths.h5")["events_per_user"];
  // Lengths 7 3 1 5 2 -> sorted 1 2 3 5 7 (nearest rank: no q * 5 is a whole number here).
  EXPECT_DOUBLE_EQ(e["mean"].get<double>(), 18.0 / 5.0);
  EXPECT_DOUBLE_EQ(e["p10"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(e["p50"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(e["p90"].get<double>(), 7.0);
  EXPECT_DOUBLE_EQ(e["p99"].get<double>(), 7.0);
  EXPECT_EQ(e["max"].get<int64_t>(), 7);
  const Json expected_histogram = Json::array({{{"lower", 1}, {"upper", 2}, {"users", 1}},
                                               {{"lower", 2}, {"upper", 4}, {"users", 2}},
                                               {{"lower", 4}, {"upper", 8}, {"users", 2}}});
  EXPECT_EQ(e["histogram"], expected_histogram);
}

TEST_F(DataProfileTest, HistogramBinsArePowersOfTwoUpToTheLongestUser) {
  // One user of 8 events: bins [1,2) [2,4) [4,8) empty, [8,16) holds it.
  data::CorpusContents c = profile_corpus_contents(true);
  data::CorpusContents one;
  one = c;
  one.offsets = {0, 8};
  one.item.resize(8);
  one.action.resize(8);
  one.category.resize(8);
  one.time_gap.resize(8);
  one.activity.resize(8);
  one.timestamp.resize(8);
  one.purchase.resize(8);
  one.user_keys.resize(1);
  one.label_loo.resize(1);
  one.label_time.resize(1);
  one.time_train_length.resize(1);
  const Json e = profile_of(one, "eight.h5")["events_per_user"];
  const Json expected_histogram = Json::array({{{"lower", 1}, {"upper", 2}, {"users", 0}},
                                               {{"lower", 2}, {"upper", 4}, {"users", 0}},
                                               {{"lower", 4}, {"upper", 8}, {"users", 0}},
                                               {{"lower", 8}, {"upper", 16}, {"users", 1}}});
  EXPECT_EQ(e["histogram"], expected_histogram);
  EXPECT_DOUBLE_EQ(e["p50"].get<double>(), 8.0);
  EXPECT_EQ(e["max"].get<int64_t>(), 8);
}

TEST_F(DataProfileTest, NextPurchaseRateUsesTheTrainingPartOnly) {
  const Json r =
      profile_of(profile_corpus_contents(true), "next.h5")["next_purchase_rate_by_last_action"];
  // Training parts (L - 2 events for L >= 3, else all): U0 view buy view cart buy;
  // U1 view; U2 view; U3 fav view cart; U4 view buy. Pairs (previous -> next is a purchase):
  //   view -> buy (1), buy -> view (0), view -> cart (0), cart -> buy (1)   [U0]
  //   fav -> view (0), view -> cart (0)                                      [U3]
  //   view -> buy (1)                                                        [U4]
  EXPECT_DOUBLE_EQ(r["view"].get<double>(), 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(r["fav"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(r["cart"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r["buy"].get<double>(), 0.0);  // over whole sequences it would be 1/3
}

TEST_F(DataProfileTest, NextPurchaseRateIsNullForAnActionNeverFollowed) {
  // Drop U3 (the only fav): fav has no followers in the training part.
  data::CorpusContents c = profile_corpus_contents(true);
  data::CorpusContents d = c;
  // Keep U0, U1, U2 (events 0..10), U4 (events 16..17).
  auto keep = [&](auto& v) {
    auto copy = v;
    v.assign(copy.begin(), copy.begin() + 11);
    v.insert(v.end(), copy.begin() + 16, copy.end());
  };
  keep(d.item);
  keep(d.action);
  keep(d.category);
  keep(d.time_gap);
  keep(d.activity);
  keep(d.timestamp);
  keep(d.purchase);
  d.offsets = {0, 7, 10, 11, 13};
  d.user_keys.erase(d.user_keys.begin() + 3);
  d.label_loo.erase(d.label_loo.begin() + 3);
  d.label_time.erase(d.label_time.begin() + 3);
  d.time_train_length.erase(d.time_train_length.begin() + 3);
  const Json p = profile_of(d, "nofav.h5");
  EXPECT_TRUE(p["next_purchase_rate_by_last_action"]["fav"].is_null());
  EXPECT_DOUBLE_EQ(p["next_purchase_rate_by_last_action"]["view"].get<double>(), 2.0 / 3.0);
  EXPECT_EQ(p["actions"]["fav"].get<int64_t>(), 0);
}

// data_profile.h documents time_source among the top-level fields.
TEST_F(DataProfileTest, RecordsTheTimeSource) {
  const Json p = profile_of(profile_corpus_contents(true), "time.h5");
  ASSERT_TRUE(p.contains("time_source")) << "documented in data_profile.h, missing in the JSON";
  EXPECT_EQ(p["time_source"], "timestamps");
}

}  // namespace
}  // namespace cf::report
