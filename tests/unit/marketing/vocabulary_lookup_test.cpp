// Vocabulary lookups: raw ids to tokens (padding never matches, the error lists what there is)
// and item-list files (comments, blank lines, CRLF, unknown and repeated ids, the errors).
#include "marketing/vocabulary_lookup.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "unit/eval/eval_test_corpus.h"
#include "unit/user_error_of.h"

namespace cf::marketing {
namespace {

using cf::testing::user_error_of;
using eval::testing::ScratchDir;

const std::vector<std::string> kCategories = {"<pad>", "shoes", "bags", "hats"};

TEST(VocabularyLookup, TokenNamedFindsTheRawIdsToken) {
  EXPECT_EQ(token_named(kCategories, "shoes", "--category", "a category", "c.h5"), 1);
  EXPECT_EQ(token_named(kCategories, "hats", "--category", "a category", "c.h5"), 3);
}

TEST(VocabularyLookup, TokenNamedErrorNamesFlagCorpusAndWhatThereIs) {
  EXPECT_EQ(
      user_error_of([] { token_named(kCategories, "socks", "--category", "a category", "c.h5"); }),
      "--category 'socks': not a category of c.h5 (it has 3: shoes, bags, hats)");
  // Padding is not a raw id anyone can ask for.
  EXPECT_EQ(
      user_error_of([] { token_named(kCategories, "<pad>", "--category", "a category", "c.h5"); }),
      "--category '<pad>': not a category of c.h5 (it has 3: shoes, bags, hats)");
  // Matching is exact: no case folding, no trimming.
  EXPECT_EQ(
      user_error_of([] { token_named(kCategories, "Shoes ", "--category", "a category", "c.h5"); }),
      "--category 'Shoes ': not a category of c.h5 (it has 3: shoes, bags, hats)");
  EXPECT_EQ(user_error_of([] {
              token_named({"<pad>"}, "a1", "--campaign", "a campaign (activity)", "d/c.h5");
            }),
            "--campaign 'a1': not a campaign (activity) of d/c.h5 (it has 0)");
}

TEST(VocabularyLookup, TokenNamedErrorListsAtMostTenRawIds) {
  std::vector<std::string> ten = {"<pad>"};
  for (int i = 1; i <= 10; ++i) ten.push_back("a" + std::to_string(i));
  EXPECT_EQ(user_error_of([&] { token_named(ten, "zz", "--coupon", "an activity", "c.h5"); }),
            "--coupon 'zz': not an activity of c.h5 (it has 10: a1, a2, a3, a4, a5, a6, a7, a8, "
            "a9, a10)");
  std::vector<std::string> eleven = ten;
  eleven.push_back("a11");
  EXPECT_EQ(user_error_of([&] { token_named(eleven, "zz", "--coupon", "an activity", "c.h5"); }),
            "--coupon 'zz': not an activity of c.h5 (it has 11: a1, a2, a3, a4, a5, a6, a7, a8, "
            "a9, a10, ...)");
  EXPECT_EQ(token_named(eleven, "a11", "--coupon", "an activity", "c.h5"), 11);
}

class ItemListTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) const {
    const std::string path = dir_.file(name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  ScratchDir dir_{"item_list"};
  const std::vector<std::string> items_ = {"<pad>", "sku-1", "sku-2", "sku-3", "sku-4", "10"};
};

TEST_F(ItemListTest, ReadsIdsSkippingCommentsAndBlankLinesAndDroppingCarriageReturns) {
  const std::string path =
      write("brand.txt", "# brand X\nsku-2\r\n\nsku-9\n10\n#sku-1\nsku-2\n sku-3\nsku-4\r\n\r\n");
  const ItemList list = read_item_list(path, items_);
  EXPECT_EQ(list.in_set, (std::vector<uint8_t>{0, 0, 1, 0, 1, 1}));
  EXPECT_EQ(list.found, 4);    // sku-2 (twice), 10, sku-4
  EXPECT_EQ(list.unknown, 2);  // sku-9, " sku-3" (blanks are part of the id)
}

TEST_F(ItemListTest, PaddingIsNeverAnItem) {
  const ItemList list = read_item_list(write("pad.txt", "<pad>\nsku-1\n"), items_);
  EXPECT_EQ(list.in_set, (std::vector<uint8_t>{0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(list.found, 1);
  EXPECT_EQ(list.unknown, 1);
}

TEST_F(ItemListTest, ErrorsNameTheFile) {
  const std::string missing = dir_.file("missing.txt");
  EXPECT_EQ(user_error_of([&] { read_item_list(missing, items_); }),
            missing + ": cannot open the item list");
  const std::string none = write("none.txt", "# only unknown ids\nsku-9\nnope\r\n\n");
  EXPECT_EQ(user_error_of([&] { read_item_list(none, items_); }),
            none + ": none of its 2 item ids is in the corpus vocabulary");
  const std::string empty = write("empty.txt", "");
  EXPECT_EQ(user_error_of([&] { read_item_list(empty, items_); }),
            empty + ": none of its 0 item ids is in the corpus vocabulary");
}

}  // namespace
}  // namespace cf::marketing
