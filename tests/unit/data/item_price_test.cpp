// Item prices: prep keeps each item's mean price at its token (trio item table and per-row
// prices), the reader returns them, corpora without prices read back with none, and a price
// table of the wrong shape is rejected.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/corpus.h"
#include "data/corpus_layout.h"
#include "data/corpus_writer.h"
#include "data/prep.h"
#include "unit/data/data_test_support.h"
#include "unit/eval/eval_test_corpus.h"
#include "unit/user_error_of.h"

namespace cf::data {
namespace {

using cf::testing::user_error_of;
using testing::ScratchDir;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

PrepOptions options_for(const std::string& out, RawFormat format) {
  PrepOptions o = testing::in_memory_prep_options(out, format);
  o.min_sequence_length = 1;
  return o;
}

// Price of each raw item id, read back through the vocabulary; NaN prices kept as NaN.
std::map<std::string, double> prices_by_raw_id(const CorpusReader& r) {
  const std::vector<std::string> raw = r.item_raw_ids();
  const std::vector<double>& prices = r.item_prices();
  EXPECT_EQ(prices.size(), raw.size());
  std::map<std::string, double> out;
  for (size_t t = 1; t < raw.size() && t < prices.size(); ++t) out[raw[t]] = prices[t];
  return out;
}

TEST(ItemPrice, TrioPricesLandAtTheItemsTokens) {
  ScratchDir dir("price_trio");
  const std::string in = dir.file("trio");
  std::filesystem::create_directories(in);
  // "soap" appears in four behaviour rows (two users), "comb" in two; "brush" has an empty
  // price and "ghost" is not in the item table; "soap" is defined twice (the first wins).
  write_text(in + "/behavior_data.csv",
             "user_id,item_id,behavior,activity_id,timestamp,purchase\n"
             "u1,soap,view,,1700000000,0\n"
             "u1,comb,view,,1700000060,0\n"
             "u1,soap,cart,,1700000120,0\n"
             "u1,soap,buy,,1700000180,1\n"
             "u2,brush,view,,1700000200,0\n"
             "u2,soap,view,,1700000260,0\n"
             "u2,ghost,view,,1700000300,0\n"
             "u2,comb,buy,,1700000360,1\n");
  write_text(in + "/item_data.csv",
             "item_id,category,price\n"
             "soap,c1,2.5\n"
             "comb,c2,7\n"
             "brush,c1,\n"
             "soap,c1,100\n");
  write_text(in + "/activity_data.csv", "activity_id,type\nA1,coupon\n");

  PrepOptions o = options_for(dir.file("trio.h5"), RawFormat::kTrio);
  o.sources.front().path = in;
  const PrepReport report = run_prep(o);
  EXPECT_EQ(report.rows_kept, 8);
  auto r = CorpusReader::open(o.output_path);
  const std::vector<double>& prices = r->item_prices();
  ASSERT_EQ(static_cast<int32_t>(prices.size()), r->vocab_sizes().items);
  EXPECT_TRUE(std::isnan(prices[0]));  // padding
  // Tokens by frequency: soap (4), comb (2), brush (1), ghost (1).
  EXPECT_EQ(r->item_raw_ids(),
            (std::vector<std::string>{"<pad>", "soap", "comb", "brush", "ghost"}));
  EXPECT_DOUBLE_EQ(prices[1], 2.5);
  EXPECT_DOUBLE_EQ(prices[2], 7.0);
  EXPECT_TRUE(std::isnan(prices[3]));
  EXPECT_TRUE(std::isnan(prices[4]));
}

TEST(ItemPrice, TrioFixturePrices) {
  const std::filesystem::path trio =
      std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "fixtures" / "trio";
  if (!std::filesystem::exists(trio / "behavior_data.csv")) {
    GTEST_SKIP() << "no trio fixture at " << trio;
  }
  ScratchDir dir("price_fixture");
  PrepOptions o = options_for(dir.file("trio.h5"), RawFormat::kTrio);
  o.sources.front().path = trio.string();
  o.sources.front().personal_columns = {"email"};
  o.max_reject_fraction = 1.0;  // the fixture is full of deliberately broken rows
  run_prep(o);
  auto r = CorpusReader::open(o.output_path);
  ASSERT_EQ(static_cast<int32_t>(r->item_prices().size()), r->vocab_sizes().items);
  EXPECT_TRUE(std::isnan(r->item_prices()[0]));
  const std::map<std::string, double> prices = prices_by_raw_id(*r);
  // item_data.csv: i1 9.99 (a later "i1,c9,1.00" is a duplicate and ignored), i2 no price,
  // "i,3" 5; i9 is not in the item table.
  ASSERT_TRUE(prices.count("i1"));
  EXPECT_DOUBLE_EQ(prices.at("i1"), 9.99);
  ASSERT_TRUE(prices.count("i,3"));
  EXPECT_DOUBLE_EQ(prices.at("i,3"), 5.0);
  for (const char* unpriced : {"i2", "i9"}) {
    if (prices.count(unpriced)) {
      EXPECT_TRUE(std::isnan(prices.at(unpriced))) << unpriced;
    }
  }
}

// Rows carry their own price (as rees46 rows do): the corpus keeps the mean over priced rows.
class PricedLogReader : public RawLogReader {
 public:
  struct Row {
    std::string user, item, action;
    int64_t timestamp;
    double price;
  };
  explicit PricedLogReader(std::vector<Row> rows) : rows_(std::move(rows)) {}
  bool next(RawEvent& event) override {
    if (next_ == rows_.size()) return false;
    const Row& row = rows_[next_++];
    event.user = row.user;
    event.item = row.item;
    event.action = row.action;
    event.timestamp = row.timestamp;
    event.category.clear();
    event.activity.clear();
    event.price = row.price;
    event.purchase_label = -1;
    event.line = static_cast<int64_t>(next_);
    return true;
  }
  uint64_t bytes_read() const override { return next_ * 10; }
  uint64_t bytes_total() const override { return rows_.size() * 10; }
  int64_t rows_read() const override { return static_cast<int64_t>(next_); }
  std::vector<std::string> source_files() const override { return {"memory.csv"}; }

 private:
  std::vector<Row> rows_;
  size_t next_ = 0;
};

TEST(ItemPrice, MeanOverTheRowsThatCarryAPrice) {
  ScratchDir dir("price_mean");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<PricedLogReader::Row> rows = {
      {"a", "x", "view", 1, 2.0}, {"a", "y", "view", 2, nan}, {"b", "x", "view", 3, 4.0},
      {"b", "x", "buy", 4, nan},  {"a", "x", "buy", 5, 9.0},  {"b", "z", "view", 6, 1.5},
      {"a", "y", "cart", 7, nan}, {"b", "z", "view", 8, 2.5},
  };
  PrepOptions o = options_for(dir.file("mean.h5"), RawFormat::kRees46);
  run_prep_with(
      o, [&](const RawSourceSpec&, RejectSink) { return std::make_unique<PricedLogReader>(rows); });
  auto r = CorpusReader::open(o.output_path);
  // Tokens: x (4 events), y (2), z (2).
  ASSERT_EQ(r->item_raw_ids(), (std::vector<std::string>{"<pad>", "x", "y", "z"}));
  const std::vector<double>& prices = r->item_prices();
  ASSERT_EQ(prices.size(), 4u);
  EXPECT_TRUE(std::isnan(prices[0]));
  EXPECT_DOUBLE_EQ(prices[1], (2.0 + 4.0 + 9.0) / 3.0);
  EXPECT_TRUE(std::isnan(prices[2]));  // y: no row had a price
  EXPECT_DOUBLE_EQ(prices[3], (1.5 + 2.5) / 2.0);
}

TEST(ItemPrice, CorpusWithoutPricesReadsBackWithNone) {
  ScratchDir dir("price_none");
  CorpusContents c = eval::testing::make_eval_corpus(10, 7);
  ASSERT_TRUE(c.item_price.empty());
  const std::string path = dir.file("none.h5");
  write_corpus(path, c);
  EXPECT_TRUE(CorpusReader::open(path)->item_prices().empty());

  // Written with prices, they come back exactly, NaNs included.
  c.item_price = {std::nan(""), 1.25, std::nan(""), 3.0, 1e6, 0.0, 0.1};
  const std::string priced = dir.file("priced.h5");
  write_corpus(priced, c);
  auto reader = CorpusReader::open(priced);
  const std::vector<double>& back = reader->item_prices();
  ASSERT_EQ(back.size(), c.item_price.size());
  for (size_t t = 0; t < back.size(); ++t) {
    if (std::isnan(c.item_price[t])) {
      EXPECT_TRUE(std::isnan(back[t])) << t;
    } else {
      EXPECT_EQ(back[t], c.item_price[t]) << t;
    }
  }
}

// corpus.h: item_prices() is "empty when the corpus records no prices (sources without
// prices, ...)": a source whose rows never carry a price.
TEST(ItemPrice, SourceWithoutPricesRecordsNone) {
  ScratchDir dir("price_source_none");
  const std::vector<testing::TestRow> rows = {
      {"a", "x", "view", 1}, {"a", "y", "buy", 2}, {"b", "x", "view", 3}};
  PrepOptions o = options_for(dir.file("taobao.h5"), RawFormat::kTaobao);
  run_prep_with(o, [&](const RawSourceSpec&, RejectSink sink) {
    return std::make_unique<testing::VectorLogReader>(rows, std::move(sink));
  });
  auto r = CorpusReader::open(o.output_path);
  const std::vector<double>& prices = r->item_prices();
  // Either no table, or (at the very least) no known price anywhere.
  for (double p : prices) EXPECT_TRUE(std::isnan(p));
  EXPECT_TRUE(prices.empty()) << "a source without prices wrote a price table of " << prices.size()
                              << " NaNs";
}

// Replaces /stats/item_price with `values` stored as `file_type`.
template <class T>
void replace_price_table(const std::string& path, hid_t file_type, hid_t memory_type,
                         const std::vector<T>& values) {
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  ASSERT_GE(H5Ldelete(file, layout::kStatsItemPrice, H5P_DEFAULT), 0);
  hsize_t n = values.size();
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t dataset = H5Dcreate2(file, layout::kStatsItemPrice, file_type, space, H5P_DEFAULT,
                             H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(dataset, 0);
  ASSERT_GE(H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Dclose(dataset);
  H5Sclose(space);
  H5Fclose(file);
}

TEST(ItemPrice, APriceTableOfTheWrongShapeIsRejected) {
  ScratchDir dir("price_bad");
  CorpusContents c = eval::testing::make_eval_corpus(10, 7);
  c.item_price.assign(7, 2.0);

  const std::string short_table = dir.file("short.h5");
  write_corpus(short_table, c);
  replace_price_table(short_table, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                      std::vector<double>{1.0, 2.0, 3.0});
  std::string m = user_error_of([&] { CorpusReader::open(short_table); });
  EXPECT_NE(m.find(short_table), std::string::npos) << m;
  EXPECT_NE(m.find("/stats/item_price has 3 entries, expected 7"), std::string::npos) << m;

  const std::string long_table = dir.file("long.h5");
  write_corpus(long_table, c);
  replace_price_table(long_table, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, std::vector<float>(8, 1.f));
  m = user_error_of([&] { CorpusReader::open(long_table); });
  EXPECT_NE(m.find(long_table), std::string::npos) << m;
  EXPECT_NE(m.find("/stats/item_price"), std::string::npos) << m;

  const std::string integers = dir.file("int.h5");
  write_corpus(integers, c);
  replace_price_table(integers, H5T_STD_I32LE, H5T_NATIVE_INT32, std::vector<int32_t>(7, 3));
  m = user_error_of([&] { CorpusReader::open(integers); });
  EXPECT_NE(m.find(integers), std::string::npos) << m;
  EXPECT_NE(m.find("/stats/item_price"), std::string::npos) << m;

  // A float32 table of the right length is accepted (read as double).
  const std::string single = dir.file("single.h5");
  write_corpus(single, c);
  replace_price_table(single, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                      std::vector<float>{0.f, 0.5f, 1.5f, 2.f, 2.5f, 3.f, 3.5f});
  auto reader = CorpusReader::open(single);
  EXPECT_EQ(reader->item_prices(), (std::vector<double>{0.0, 0.5, 1.5, 2.0, 2.5, 3.0, 3.5}));
}

}  // namespace
}  // namespace cf::data
