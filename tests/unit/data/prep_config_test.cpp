// Prep YAML configs: strict keys, types and ranges, path resolution, and the resolved YAML.
#include "data/prep_config.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "unit/data/data_test_support.h"

namespace cf::data {
namespace {

std::string error_of(const std::string& yaml, const std::string& origin = "cfg/prep.yaml") {
  try {
    parse_prep_config(yaml, origin);
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a UserError for: " << yaml;
  return "";
}

TEST(PrepConfig, ReadsEveryKey) {
  PrepConfig c = parse_prep_config(
      "format: taobao\n"
      "input: data/UserBehavior.csv\n"
      "item_attributes: /abs/attrs.json\n"
      "personal_columns: [email, phone]\n"
      "key_file: ../keys/user.key\n"
      "output: out/corpus.h5\n"
      "max_reject_fraction: 0.05\n"
      "min_sequence_length: 5\n"
      "max_events_per_user: 200\n"
      "time_split_quantile: 0.8\n"
      "time_split_cutoff: 1511568000\n",
      "configs/data/x.yaml");
  EXPECT_EQ(c.format, "taobao");
  EXPECT_EQ(c.input, "configs/data/data/UserBehavior.csv");  // relative to the file
  EXPECT_EQ(c.item_attributes, "/abs/attrs.json");
  EXPECT_EQ(c.personal_columns, (std::vector<std::string>{"email", "phone"}));
  EXPECT_EQ(c.key_file, "configs/keys/user.key");
  EXPECT_EQ(c.output, "configs/data/out/corpus.h5");
  EXPECT_EQ(c.max_reject_fraction, 0.05);
  EXPECT_EQ(c.min_sequence_length, 5);
  EXPECT_EQ(c.max_events_per_user, 200);
  EXPECT_EQ(c.time_split_quantile, 0.8);
  EXPECT_EQ(c.time_split_cutoff, 1511568000);
  EXPECT_EQ(prep_config_keys().size(), 11u);
}

TEST(PrepConfig, AbsentKeysStayUnsetAndCommaListsAreAccepted) {
  PrepConfig c = parse_prep_config("personal_columns: email,phone\n", "p.yaml");
  EXPECT_EQ(c.personal_columns, (std::vector<std::string>{"email", "phone"}));
  EXPECT_FALSE(c.format.has_value());
  EXPECT_FALSE(c.min_sequence_length.has_value());
  EXPECT_FALSE(parse_prep_config("", "p.yaml").input.has_value());
}

TEST(PrepConfig, ErrorsNameTheFileAndTheKey) {
  EXPECT_EQ(error_of("min_seq_len: 3\n")
                .rfind("cfg/prep.yaml: unknown key 'min_seq_len' (valid "
                       "keys: format, input,",
                       0),
            0u);
  EXPECT_EQ(error_of("min_sequence_length: three\n"),
            "cfg/prep.yaml: key 'min_sequence_length': expected an integer, got 'three'");
  EXPECT_EQ(error_of("min_sequence_length: 0\n"),
            "cfg/prep.yaml: key 'min_sequence_length': must be within [1, 1000000], got 0");
  EXPECT_EQ(error_of("max_reject_fraction: 1.5\n"),
            "cfg/prep.yaml: key 'max_reject_fraction': must be within [0, 1], got 1.5");
  EXPECT_EQ(error_of("time_split_quantile: 0\n"),
            "cfg/prep.yaml: key 'time_split_quantile': must be within (0, 1], got 0");
  EXPECT_EQ(error_of("max_events_per_user: -1\n"),
            "cfg/prep.yaml: key 'max_events_per_user': must be 0 (no cap) or a positive count, "
            "got -1");
  EXPECT_EQ(error_of("input: [a, b]\n"), "cfg/prep.yaml: key 'input': expected a single value");
  EXPECT_EQ(error_of("personal_columns: {a: 1}\n"),
            "cfg/prep.yaml: key 'personal_columns': expected a list of names");
  const std::string format = error_of("format: csv\n");
  EXPECT_EQ(format.rfind("cfg/prep.yaml: key 'format': unknown raw log format \"csv\"", 0), 0u)
      << format;
  EXPECT_EQ(error_of("- a\n- b\n"), "cfg/prep.yaml: expected a mapping of prep settings");
  EXPECT_EQ(error_of("format: [trio\n").rfind("cfg/prep.yaml: invalid YAML at line ", 0), 0u);
}

TEST(PrepConfig, AKeyGivenTwiceIsAnError) {
  EXPECT_EQ(error_of("min_sequence_length: 3\nmin_sequence_length: 4\n"),
            "cfg/prep.yaml: key 'min_sequence_length' appears twice");
}

// Found by tests/fuzz/fuzz_prep_config (regressions/fuzz_prep_config/complex_key): a key that
// is a map or list made yaml-cpp's conversion exception escape instead of a UserError.
TEST(PrepConfig, KeysThatAreNotNamesAreUserErrors) {
  EXPECT_EQ(error_of("min_sequence_length: 3\n? x_reject_fraction: 0.01\n"),
            "cfg/prep.yaml: the key at line 2 must be a plain name, got a map");
  EXPECT_EQ(error_of("? [a, b]\n: 1\n"),
            "cfg/prep.yaml: the key at line 1 must be a plain name, got a list");
}

TEST(PrepConfig, MissingFileIsAUserErrorNamingIt) {
  try {
    load_prep_config("/nonexistent/prep.yaml");
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("/nonexistent/prep.yaml: ", 0), 0u) << e.what();
  }
}

TEST(PrepConfig, ResolvedYamlReadsBackAsTheSameSettings) {
  PrepOptions o;
  RawSourceSpec spec;
  spec.format = RawFormat::kUserItems;
  spec.path = "/data/Beauty.txt";
  spec.item_attributes = "/data/attrs.json";
  spec.personal_columns = {"email"};
  o.sources = {spec};
  o.output_path = "/out/c.h5";
  o.user_key = "secret-key-material-0123456789";
  o.user_key_source = "environment";
  o.max_reject_fraction = 0.02;
  o.min_sequence_length = 4;
  o.max_events_per_user = 100;
  o.time_split_quantile = 0.75;
  o.time_split_cutoff = 1234;
  const std::string yaml = resolved_prep_yaml(o);
  EXPECT_EQ(yaml.find("secret-key-material"), std::string::npos);
  EXPECT_NE(yaml.find("environment"), std::string::npos);
  PrepConfig c = parse_prep_config(yaml, "/elsewhere/resolved.yaml");
  EXPECT_EQ(c.format, "user_items");
  EXPECT_EQ(c.input, "/data/Beauty.txt");
  EXPECT_EQ(c.item_attributes, "/data/attrs.json");
  EXPECT_EQ(c.personal_columns, std::vector<std::string>{"email"});
  EXPECT_EQ(c.output, "/out/c.h5");
  EXPECT_EQ(c.max_reject_fraction, 0.02);
  EXPECT_EQ(c.min_sequence_length, 4);
  EXPECT_EQ(c.max_events_per_user, 100);
  EXPECT_EQ(c.time_split_quantile, 0.75);
  EXPECT_EQ(c.time_split_cutoff, 1234);
}

// The resolved settings are written with YAML::Emitter: paths and column names that need quoting
// read back unchanged.
TEST(PrepConfig, ResolvedYamlRoundTripsStringsThatNeedQuoting) {
  for (const std::string& path :
       {std::string("/data/a: b.csv"), std::string("/data/#1 # not a comment.csv"),
        std::string("/data/\"double\" and 'single'.csv"), std::string("/data/  padded  .csv"),
        std::string("/data/caf\xc3\xa9/\xe2\x82\xac/\xe6\x97\xa5\xe6\x9c\xac.csv"),
        std::string("/data/- [x]: {y}.csv")}) {
    SCOPED_TRACE(path);
    PrepOptions o;
    RawSourceSpec spec;
    spec.format = RawFormat::kTrio;
    spec.path = path;
    spec.item_attributes = path + ".json";
    spec.personal_columns = {"e-mail: home", "#phone", "a,b", "  padded"};
    o.sources = {spec};
    o.output_path = path + ".h5";
    o.user_key_source = "key-file";
    const std::string yaml = resolved_prep_yaml(o);
    PrepConfig c = parse_prep_config(yaml, "/elsewhere/resolved.yaml");
    EXPECT_EQ(c.input, path) << yaml;
    EXPECT_EQ(c.item_attributes, path + ".json");
    EXPECT_EQ(c.output, path + ".h5");
    EXPECT_EQ(c.personal_columns, spec.personal_columns);
  }
}

}  // namespace
}  // namespace cf::data
