// FieldSplitter, split_comma_list, split_on_blanks and LineReader against hand-computed splits.
#include "data/readers/csv_line.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/readers/line_reader.h"
#include "reader_test_support.h"

namespace cf::data {
namespace {

std::vector<std::string> split(FieldSplitter& splitter, std::string_view line) {
  EXPECT_TRUE(splitter.split(line)) << line;
  return {splitter.fields().begin(), splitter.fields().end()};
}

TEST(FieldSplitter, SplitsPlainFieldsIncludingEmptyOnes) {
  FieldSplitter comma(',', true);
  EXPECT_EQ(split(comma, "a,b,c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split(comma, ",x,,"), (std::vector<std::string>{"", "x", "", ""}));
  EXPECT_EQ(split(comma, ""), (std::vector<std::string>{""}));
  FieldSplitter tab('\t', false);
  EXPECT_EQ(split(tab, "1\t2.5\t"), (std::vector<std::string>{"1", "2.5", ""}));
}

TEST(FieldSplitter, HonoursRfc4180Quotes) {
  FieldSplitter comma(',', true);
  EXPECT_EQ(split(comma, R"("a,b",c)"), (std::vector<std::string>{"a,b", "c"}));
  EXPECT_EQ(split(comma, R"(x,"say ""hi""","",z)"),
            (std::vector<std::string>{"x", "say \"hi\"", "", "z"}));
  EXPECT_EQ(split(comma, R"("a""b","c""d")"), (std::vector<std::string>{"a\"b", "c\"d"}));
  EXPECT_EQ(split(comma, R"(1,"2",)"), (std::vector<std::string>{"1", "2", ""}));
  // A quote inside an unquoted field is data.
  EXPECT_EQ(split(comma, R"(5"6,7)"), (std::vector<std::string>{"5\"6", "7"}));
}

TEST(CsvQuotedField, QuotesOnlyWhatNeedsItAndReadsBackExactly) {
  EXPECT_EQ(csv_quoted_field("plain text 中文"), "plain text 中文");
  EXPECT_EQ(csv_quoted_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_quoted_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  const std::vector<std::string> fields = {"", "x", "a,b", "q\"uote", "line\rend", "好,\"货\""};
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + csv_quoted_field(fields[i]);
  FieldSplitter split(',', true);
  ASSERT_TRUE(split.split(line));
  ASSERT_EQ(split.size(), fields.size());
  for (size_t i = 0; i < fields.size(); ++i) EXPECT_EQ(split[i], fields[i]) << i;
}

TEST(FieldSplitter, RejectsMalformedQuotes) {
  FieldSplitter comma(',', true);
  EXPECT_FALSE(comma.split(R"(a,"unterminated)"));
  EXPECT_FALSE(comma.split(R"("closed"junk,b)"));
  // With quoting off, quotes are ordinary characters.
  FieldSplitter plain(',', false);
  EXPECT_EQ(split(plain, R"("a,b")"), (std::vector<std::string>{"\"a", "b\""}));
}

TEST(FieldSplitter, TrimmedBlanksMayStandAroundFieldsAndQuotes) {
  FieldSplitter comma(',', true, FieldSplitter::Blanks::kTrimmed);
  EXPECT_EQ(split(comma, "u1, \"a,b\" ,\tc "), (std::vector<std::string>{"u1", "a,b", "c"}));
  EXPECT_EQ(split(comma, " x ,y,  "), (std::vector<std::string>{"x", "y", ""}));   // no quotes
  EXPECT_EQ(split(comma, "\" a \" , b"), (std::vector<std::string>{" a ", "b"}));  // quoted: data
  EXPECT_EQ(split(comma, "  \"say \"\"hi\"\"\"  "), (std::vector<std::string>{"say \"hi\""}));
  EXPECT_FALSE(comma.split("\"a\" x,b"));  // text, not just blanks, after the closing quote
  // Kept blanks are data, and a quote after one is an ordinary character.
  FieldSplitter kept(',', true);
  EXPECT_EQ(split(kept, " \"a\", b "), (std::vector<std::string>{" \"a\"", " b "}));
}

TEST(SplitCommaList, KeepsTheNonEmptyEntriesInOrder) {
  EXPECT_EQ(split_comma_list("email,phone"), (std::vector<std::string>{"email", "phone"}));
  EXPECT_EQ(split_comma_list(",a,,b,"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(split_comma_list(" a"), (std::vector<std::string>{" a"}));
  EXPECT_EQ(split_comma_list("\"x,y\""), (std::vector<std::string>{"\"x", "y\""}));  // no quoting
  EXPECT_TRUE(split_comma_list("").empty());
  EXPECT_TRUE(split_comma_list(",,,").empty());
}

TEST(SplitOnBlanks, CollapsesRunsOfSpacesAndTabs) {
  std::vector<std::string_view> fields;
  split_on_blanks("  1 \t 22   333\t", fields);
  EXPECT_EQ(std::vector<std::string>(fields.begin(), fields.end()),
            (std::vector<std::string>{"1", "22", "333"}));
  split_on_blanks(" \t ", fields);
  EXPECT_TRUE(fields.empty());
}

std::vector<std::string> all_lines(LineReader& reader) {
  std::vector<std::string> lines;
  std::string_view line;
  while (reader.next_line(line)) lines.emplace_back(line);
  return lines;
}

TEST(LineReader, StripsLfAndCrlfAndKeepsAnUnterminatedLastLine) {
  testing::TempDir dir;
  const std::string bytes = "ab\r\ncd\n\r\nlast";
  LineReader reader(dir.write("mixed.txt", bytes));
  EXPECT_EQ(reader.bytes_total(), bytes.size());
  EXPECT_EQ(all_lines(reader), (std::vector<std::string>{"ab", "cd", "", "last"}));
  EXPECT_EQ(reader.line_number(), 4);
  EXPECT_EQ(reader.bytes_read(), bytes.size());
}

TEST(LineReader, HandlesLinesLongerThanItsBufferAndBufferBoundaries) {
  testing::TempDir dir;
  std::string bytes;
  std::vector<std::string> expected;
  for (int i = 0; i < 200; ++i) {
    expected.push_back(
        std::string(static_cast<size_t>(i * 7 % 150), static_cast<char>('a' + i % 26)));
    bytes += expected.back() + (i % 3 == 0 ? "\r\n" : "\n");
  }
  LineReader reader(dir.write("long.txt", bytes), 64);  // many lines exceed 64 bytes
  EXPECT_EQ(all_lines(reader), expected);
  EXPECT_EQ(reader.bytes_read(), bytes.size());
}

TEST(LineReader, EmptyFileHasNoLines) {
  testing::TempDir dir;
  LineReader reader(dir.write("empty.txt", ""));
  EXPECT_TRUE(all_lines(reader).empty());
  EXPECT_EQ(reader.bytes_total(), 0u);
}

TEST(LineReader, MissingFileOrFolderIsAUserErrorNamingIt) {
  testing::TempDir dir;
  testing::expect_user_error([&] { LineReader reader(dir.path() + "/nope.csv"); },
                             {"nope.csv", "no such file"});
  testing::expect_user_error([&] { LineReader reader(dir.path()); },
                             {dir.path(), "not a regular file"});
}

}  // namespace
}  // namespace cf::data
