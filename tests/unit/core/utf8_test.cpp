#include "core/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_TRUE(cf::is_valid_utf8(""));
  EXPECT_TRUE(cf::is_valid_utf8("plain ascii 123"));
  EXPECT_TRUE(cf::is_valid_utf8("caf\xC3\xA9"));                        // U+00E9
  EXPECT_TRUE(cf::is_valid_utf8("\xE2\x82\xAC"));                       // U+20AC
  EXPECT_TRUE(cf::is_valid_utf8("\xED\x9F\xBF\xEE\x80\x80"));           // U+D7FF, U+E000
  EXPECT_TRUE(cf::is_valid_utf8("\xF0\x90\x80\x80 \xF4\x8F\xBF\xBF"));  // U+10000, U+10FFFF
  EXPECT_TRUE(cf::is_valid_utf8(std::string("a\0b", 3)));               // NUL is a character
}

TEST(Utf8, RejectsWhatStrictDecodersReject) {
  for (const std::string bad : {
           "caf\xE9",           // Latin-1
           "\x80",              // a lone continuation byte
           "\xC3",              // cut before its continuation
           "\xE2\x82",          // cut three-byte sequence
           "\xC0\xAF",          // overlong '/'
           "\xC1\xBF",          // overlong
           "\xE0\x9F\xBF",      // overlong three-byte form
           "\xF0\x8F\xBF\xBF",  // overlong four-byte form
           "\xED\xA0\x80",      // surrogate U+D800
           "\xED\xBF\xBF",      // surrogate U+DFFF
           "\xF4\x90\x80\x80",  // above U+10FFFF
           "\xF5\x80\x80\x80",  // no such lead byte
           "\xFF",              //
           "ok\xE2\x28\xA1",    // a continuation replaced by ASCII
       }) {
    EXPECT_FALSE(cf::is_valid_utf8(bad)) << ::testing::PrintToString(bad);
  }
}

TEST(Utf8, ReplacementKeepsGoodCharactersAndMarksEveryBadByte) {
  EXPECT_EQ(cf::with_invalid_utf8_replaced("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(cf::with_invalid_utf8_replaced("caf\xE9.csv"), "caf\xEF\xBF\xBD.csv");
  EXPECT_EQ(cf::with_invalid_utf8_replaced("\xC0\xAF!"), "\xEF\xBF\xBD\xEF\xBF\xBD!");
  EXPECT_EQ(cf::with_invalid_utf8_replaced("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_TRUE(cf::is_valid_utf8(cf::with_invalid_utf8_replaced("\xF4\x90\x80\x80\xFF")));
}

}  // namespace
