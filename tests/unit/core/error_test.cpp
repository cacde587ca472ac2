#include "core/error.h"

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(SingleLine, EscapesLineBreaksAndOtherControlCharacters) {
  EXPECT_EQ(cf::single_line("no/such.csv: no such file"), "no/such.csv: no such file");
  EXPECT_EQ(cf::single_line("a\nb.csv: no such file"), "a\\nb.csv: no such file");
  EXPECT_EQ(cf::single_line("x\r\ty"), "x\\r\\ty");
  EXPECT_EQ(cf::single_line(std::string("nul\0bell\a del\x7F", 14)), "nul\\x00bell\\x07 del\\x7F");
  EXPECT_EQ(cf::single_line("caf\xC3\xA9"), "caf\xC3\xA9");  // text beyond ASCII stays as it is
}

}  // namespace
