// CharTokenizer (data/text/char_tokenizer.h): exact round trips of multibyte UTF-8 (CJK, 4-byte
// emoji, mixed ASCII), unseen characters through their bytes, deterministic training, stored
// pieces read back, damaged pieces refused, and decode always giving UTF-8.
#include "data/text/char_tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/utf8.h"

namespace cf::data::text {
namespace {

const std::vector<std::string> kTraining = {"头层牛皮柔软皮质，表面纹理清晰",
                                            "手包女手拿包2018新款", "柔软皮质，色泽柔和自然",
                                            "soft leather 皮质 😀😀", "纹理清晰"};

TEST(CharTokenizer, FrequentCharactersGetTheirOwnTokensMostFrequentFirst) {
  const CharTokenizer tok = CharTokenizer::train(kTraining, {2, 8000});
  // 皮 and 质 appear 4 and 3 times: the most frequent characters come first.
  ASSERT_GT(tok.characters(), 0);
  EXPECT_EQ(tok.pieces()[size_t(kFirstCharToken)], "皮");
  EXPECT_EQ(tok.encode("皮"), std::vector<int32_t>{kFirstCharToken});
  // 😀 (4 bytes) appears twice: one token. 头 once: below min_count, so its 3 bytes.
  EXPECT_EQ(tok.encode("😀").size(), 1u);
  EXPECT_EQ(tok.encode("头"), (std::vector<int32_t>{kFirstByteToken + 0xE5, kFirstByteToken + 0xA4,
                                                    kFirstByteToken + 0xB4}));
  EXPECT_EQ(tok.pieces()[size_t(kPadToken)], "<pad>");
  EXPECT_EQ(tok.pieces()[size_t(kSeparatorToken)], "<sep>");
  EXPECT_EQ(tok.pieces()[size_t(kFirstByteToken + 0xAB)], "<0xAB>");
}

TEST(CharTokenizer, EveryWellFormedStringRoundTrips) {
  const CharTokenizer tok = CharTokenizer::train(kTraining);
  for (const std::string text : {"头层牛皮柔软皮质，表面纹理清晰", "never seen: ß ü Ω 𝄞 😀 \t\n", "",
                                 "2018新款 A4", "\xF0\x9F\x98\x80\xE4\xB8\xAD", "x"}) {
    ASSERT_TRUE(is_valid_utf8(text));
    EXPECT_EQ(tok.decode(tok.encode(text)), text);
  }
}

TEST(CharTokenizer, TrainingIsDeterministicAndBounded) {
  const CharTokenizer a = CharTokenizer::train(kTraining, {1, 5});
  const CharTokenizer b = CharTokenizer::train(kTraining, {1, 5});
  EXPECT_EQ(a.pieces(), b.pieces());
  EXPECT_EQ(a.characters(), 5);
  EXPECT_EQ(CharTokenizer::train(kTraining, {100, 8000}).characters(), 0);
}

TEST(CharTokenizer, StoredPiecesReadBackAndDamagedOnesAreRefused) {
  const CharTokenizer tok = CharTokenizer::train(kTraining);
  const CharTokenizer back = CharTokenizer::from_pieces(tok.pieces(), "corpus.h5");
  EXPECT_EQ(back.encode("皮质纹理 new"), tok.encode("皮质纹理 new"));

  auto refused = [](std::vector<std::string> pieces, const std::string& why) {
    try {
      CharTokenizer::from_pieces(std::move(pieces), "corpus.h5");
      ADD_FAILURE() << "accepted: " << why;
    } catch (const UserError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("corpus.h5: not a character tokenizer: ", 0), 0u) << what;
      EXPECT_NE(what.find(why), std::string::npos) << what;
    }
  };
  std::vector<std::string> p = tok.pieces();
  p[size_t(kSeparatorToken)] = "<SEP>";
  refused(p, "piece 2 is not <sep>");
  p = tok.pieces();
  p.push_back(p[size_t(kFirstCharToken)]);
  refused(p, "a character appears twice");
  p = tok.pieces();
  p.push_back("ab");
  refused(p, "is not one well-formed UTF-8 character");
  p = tok.pieces();
  p.push_back("\xE4\xB8");
  refused(p, "is not one well-formed UTF-8 character");
  refused({"<pad>"}, "fewer pieces than its fixed tokens");
}

// A sampler may emit byte tokens that form no character: decode still gives UTF-8 (U+FFFD for
// each stray byte), and specials are left out.
TEST(CharTokenizer, DecodeAlwaysGivesUtf8) {
  const CharTokenizer tok = CharTokenizer::train(kTraining);
  const std::vector<int32_t> stray = {kBeginToken, kFirstByteToken + 0xE4, kFirstCharToken,
                                      kFirstByteToken + 0x80, kEndToken};
  const std::string text = tok.decode(stray);
  EXPECT_TRUE(is_valid_utf8(text));
  EXPECT_EQ(text, "\xEF\xBF\xBD" + tok.pieces()[size_t(kFirstCharToken)] + "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace cf::data::text
