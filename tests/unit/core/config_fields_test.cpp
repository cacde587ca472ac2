// The shared config readers and writers: what each type accepts, what it refuses (and how that
// is described), and strings that need quoting written and read back unchanged.
#include "core/config_fields.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace cf::config_fields {
namespace {

RawValue scalar(const std::string& yaml) { return RawValue::of(YAML::Load(yaml)); }

// "expected|found" of the WrongType a reader throws, or "" when it throws none.
template <class Read>
std::string wrong_type_of(Read&& read) {
  try {
    read();
  } catch (const WrongType& wrong) {
    return wrong.expected + "|" + wrong.found.describe();
  }
  return "";
}

TEST(ConfigFields, RawValuesDescribeTheirShape) {
  EXPECT_EQ(scalar("abc").describe(), "'abc'");
  EXPECT_EQ(scalar("'quoted text'").describe(), "'quoted text'");
  EXPECT_EQ(scalar("~").describe(), "nothing");
  EXPECT_EQ(scalar("[1, 2]").describe(), "a list");
  EXPECT_EQ(scalar("{a: 1}").describe(), "a map");
  EXPECT_EQ(RawValue::of(YAML::Node()).describe(), "nothing");
}

TEST(ConfigFields, IntegersAreExactAndInRange) {
  EXPECT_EQ(read_integer<int32_t>(scalar("42")), 42);
  EXPECT_EQ(read_integer<int32_t>(scalar("+7")), 7);
  EXPECT_EQ(read_integer<int64_t>(scalar("-3")), -3);
  EXPECT_EQ(read_integer<int64_t>(scalar("1e5")), 100000);  // exact, in exponent form
  EXPECT_EQ(read_integer<uint64_t>(scalar("18446744073709551615")), UINT64_MAX);
  EXPECT_EQ(wrong_type_of([] { read_integer<int32_t>(scalar("2.5")); }), "an integer|'2.5'");
  EXPECT_EQ(wrong_type_of([] { read_integer<int32_t>(scalar("99999999999")); }),
            "an integer in range|'99999999999'");
  EXPECT_EQ(wrong_type_of([] { read_integer<uint64_t>(scalar("-1")); }),
            "a non-negative integer|'-1'");
  EXPECT_EQ(wrong_type_of([] { read_integer<int64_t>(scalar("0x10")); }), "an integer|'0x10'");
  EXPECT_EQ(wrong_type_of([] { read_integer<int64_t>(scalar("~")); }), "an integer|nothing");
  EXPECT_EQ(wrong_type_of([] { read_integer<int64_t>(scalar("[1]")); }), "an integer|a list");
}

TEST(ConfigFields, NumbersAreFinite) {
  EXPECT_EQ(read_float(scalar("0.1")), 0.1f);
  EXPECT_EQ(read_double(scalar("0.1")), 0.1);
  EXPECT_EQ(read_double(scalar("+1e-3")), 1e-3);
  EXPECT_EQ(wrong_type_of([] { read_float(scalar("abc")); }), "a number|'abc'");
  EXPECT_EQ(wrong_type_of([] { read_double(scalar("0.5x")); }), "a number|'0.5x'");
  EXPECT_EQ(wrong_type_of([] { read_double(scalar("nan")); }), "a finite number|'nan'");
  EXPECT_EQ(wrong_type_of([] { read_float(scalar("1e39")); }), "a number|'1e39'");
  EXPECT_EQ(wrong_type_of([] { read_double(scalar("")); }), "a number|nothing");
}

TEST(ConfigFields, BoolsStringsNamesAndChoices) {
  EXPECT_TRUE(read_bool(scalar("Yes")));
  EXPECT_TRUE(read_bool(scalar("on")));
  EXPECT_FALSE(read_bool(scalar("FALSE")));
  EXPECT_EQ(wrong_type_of([] { read_bool(scalar("maybe")); }), "true or false|'maybe'");
  EXPECT_EQ(read_string(scalar("'123'")), "123");
  EXPECT_EQ(read_string(scalar("\"\"")), "");
  EXPECT_EQ(wrong_type_of([] { read_string(scalar("~")); }), "a string|nothing");
  EXPECT_EQ(read_names(scalar("[email, 'a,b']")), (std::vector<std::string>{"email", "a,b"}));
  EXPECT_TRUE(read_names(scalar("[]")).empty());
  EXPECT_EQ(wrong_type_of([] { read_names(scalar("[a, '']")); }), "a list of names|a list");
  EXPECT_EQ(wrong_type_of([] { read_names(scalar("[a, [b]]")); }), "a list of names|a list");
  EXPECT_EQ(wrong_type_of([] { read_names(scalar("email")); }), "a list of names|'email'");
  EXPECT_EQ(read_choice(scalar("linear"), {"cosine", "linear"}), 1u);
  EXPECT_EQ(wrong_type_of([] {
              read_choice(scalar("Linear"), {"cosine", "linear"});
            }),
            "one of cosine, linear|'Linear'");
}

TEST(ConfigFields, ShortestDecimalsReadBackExactly) {
  EXPECT_EQ(shortest_decimal(0.1f), "0.1");
  EXPECT_EQ(shortest_decimal(0.1), "0.1");
  EXPECT_EQ(shortest_decimal(1.0f / 3.0f), "0.33333334");
  EXPECT_EQ(shortest_decimal(1e-8f), "1e-08");
  for (float value : {1.0f / 3.0f, 7.77e-5f, 1e-12f, 3.4e38f}) {
    EXPECT_EQ(read_float(scalar(shortest_decimal(value))), value);
  }
}

TEST(ConfigFields, DocumentAndKeyErrorsNameTheOrigin) {
  try {
    load_document("a: [1, 2\n", "cfg.yaml");
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cfg.yaml: invalid YAML at line ", 0), 0u) << e.what();
  }
  const YAML::Node root = load_document("? [a, b]\n: 1\n", "cfg.yaml");
  try {
    key_name(root.begin()->first, "cfg.yaml");
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cfg.yaml: the key at line 1 must be a plain name, got a list");
  }
}

// Strings the writer must quote or escape, including ones that look like other YAML types.
TEST(ConfigFields, StringsThatNeedQuotingRoundTrip) {
  const std::vector<std::string> tricky = {"runs/a: b",
                                           "runs/#1 # not a comment",
                                           "say \"hi\" 'there'",
                                           "  leading spaces",
                                           "trailing  ",
                                           "caf\xc3\xa9/\xe2\x82\xac/\xe6\x97\xa5\xe6\x9c\xac",
                                           "",
                                           "null",
                                           "~",
                                           "123",
                                           "yes",
                                           "1e5",
                                           "- item",
                                           "[a, b]",
                                           "{a: b}",
                                           "&anchor",
                                           "*alias",
                                           "!tag",
                                           "%dir",
                                           "@at",
                                           "`tick",
                                           "? key",
                                           "| block",
                                           "> folded",
                                           "tab\there",
                                           "two\nlines",
                                           "\x01control",
                                           "back\\slash"};
  YAML::Emitter out;
  out << YAML::BeginSeq;
  for (const auto& text : tricky) write_value(out, text);
  out << YAML::EndSeq;
  ASSERT_TRUE(out.good()) << out.GetLastError();
  const YAML::Node back = load_document(out.c_str(), "written");
  ASSERT_EQ(back.size(), tricky.size()) << out.c_str();
  for (size_t i = 0; i < tricky.size(); ++i) {
    EXPECT_EQ(read_string(RawValue::of(back[i])), tricky[i]) << out.c_str();
  }
}

TEST(ConfigFields, NumbersBoolsAndNameListsRoundTrip) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "f" << YAML::Value;
  write_value(out, 1.0f / 3.0f);
  out << YAML::Key << "d" << YAML::Value;
  write_value(out, 0.75);
  out << YAML::Key << "i" << YAML::Value;
  write_value(out, int64_t{-123456789012});
  out << YAML::Key << "u" << YAML::Value;
  write_value(out, UINT64_MAX);
  out << YAML::Key << "b" << YAML::Value;
  write_value(out, false);
  out << YAML::Key << "names" << YAML::Value;
  write_value(out, std::vector<std::string>{"email", "a, b", "#x"});
  out << YAML::Key << "none" << YAML::Value;
  write_value(out, std::vector<std::string>{});
  out << YAML::EndMap;
  const YAML::Node back = load_document(out.c_str(), "written");
  EXPECT_EQ(read_float(RawValue::of(back["f"])), 1.0f / 3.0f);
  EXPECT_EQ(read_double(RawValue::of(back["d"])), 0.75);
  EXPECT_EQ(read_integer<int64_t>(RawValue::of(back["i"])), -123456789012);
  EXPECT_EQ(read_integer<uint64_t>(RawValue::of(back["u"])), UINT64_MAX);
  EXPECT_FALSE(read_bool(RawValue::of(back["b"])));
  EXPECT_EQ(read_names(RawValue::of(back["names"])),
            (std::vector<std::string>{"email", "a, b", "#x"}));
  EXPECT_TRUE(read_names(RawValue::of(back["none"])).empty());
}

}  // namespace
}  // namespace cf::config_fields
