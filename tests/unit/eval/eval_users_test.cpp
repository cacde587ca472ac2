// eval_users.csv: the exact format, a round trip of every UserOutcome field, the error messages of
// read_eval_output (file and line), and the per-user outcomes of a real Evaluator run checked
// against the corpus and against the evaluator's own eval.json metrics.
#include "eval/eval_users.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/corpus.h"
#include "eval/evaluator.h"
#include "trainer/model/model.h"
#include "unit/eval/eval_test_corpus.h"
#include "unit/user_error_of.h"

namespace cf::eval {
namespace {

using cf::testing::user_error_of;
using testing::ScratchDir;

const std::vector<std::string> kScorers = {"model", "popularity", "cooccurrence"};
const std::string kHeader =
    "sequence,history_length,target_item,target_category,last_action,rank_model,"
    "rank_popularity,rank_cooccurrence,propensity_logit,label";

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A minimal eval.json as `cartformer eval` writes it (only what read_eval_output looks at).
Json eval_json(int64_t n_users, bool with_model) {
  Json j = Json::object();
  j["model"] = with_model ? Json{{"hr@10", 0.5}} : Json(nullptr);
  j["baselines"] =
      Json{{"popularity", Json{{"hr@10", 0.1}}}, {"cooccurrence", Json{{"hr@10", 0.2}}}};
  j["protocol"] = Json{{"n_users", n_users}, {"split", "test"}};
  return j;
}

UserOutcome outcome(int64_t sequence, int32_t history, int32_t item, int32_t category,
                    int32_t action, std::vector<int64_t> ranks, double logit, int8_t label) {
  UserOutcome u;
  u.sequence = sequence;
  u.history_length = history;
  u.target_item = item;
  u.target_category = category;
  u.last_action = action;
  u.ranks = std::move(ranks);
  u.propensity_logit = logit;
  u.label = label;
  return u;
}

// An eval output folder with the given eval.json and eval_users.csv text.
struct EvalDir {
  explicit EvalDir(const std::string& tag) : scratch(tag) {}
  std::string dir() const { return scratch.file("eval"); }
  std::string json_path() const { return dir() + "/eval.json"; }
  std::string users_path() const { return dir() + "/eval_users.csv"; }
  void write(const Json& json, const std::string& csv) const {
    std::filesystem::create_directories(dir());
    write_text(json_path(), json.dump(2));
    write_text(users_path(), csv);
  }
  ScratchDir scratch;
};

TEST(EvalUsersCsv, HeaderAndRowsHaveTheDocumentedFormat) {
  const std::vector<UserOutcome> users = {
      outcome(7, 4, 12, 3, 4, {1, 25, 3}, -0.5, 1),
      outcome(9, 2, 5, 0, 1, {100, 2, 7}, std::nan(""), -1),
  };
  EXPECT_EQ(eval_users_csv(kScorers, users), kHeader + "\n" +
                                                 "7,4,12,3,4,1,25,3,-0.5,1\n"
                                                 "9,2,5,0,1,100,2,7,nan,-1\n");
  // No users: the header alone; baselines only: no rank_model column.
  EXPECT_EQ(eval_users_csv({"popularity", "cooccurrence"}, {}),
            "sequence,history_length,target_item,target_category,last_action,rank_popularity,"
            "rank_cooccurrence,propensity_logit,label\n");
}

TEST(EvalUsersCsv, LogitsKeepNineSignificantDigits) {
  const std::vector<UserOutcome> users = {outcome(0, 1, 1, 1, 1, {1, 1, 1}, 1.0 / 3.0, 0),
                                          outcome(1, 1, 1, 1, 1, {1, 1, 1}, -12345.678912345, 0)};
  const std::string csv = eval_users_csv(kScorers, users);
  EXPECT_NE(csv.find(",0.333333333,0\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",-12345.6789,0\n"), std::string::npos) << csv;
}

TEST(EvalUsers, RoundTripKeepsEveryField) {
  EvalDir d("eu_roundtrip");
  const std::vector<UserOutcome> users = {
      outcome(0, 2, 17, 4, 1, {1, 1, 2}, 0.125, 0),
      outcome(3, 11, 30, 1, 4, {250, 1000000, 3}, -7.25, 1),
      outcome(1234567890123, 1, 1, 0, 2, {9, 8, 7}, std::nan(""), -1),
      outcome(12, 49, 2, 2, 3, {10, 11, 12}, 1.0 / 3.0, 1),
  };
  d.write(eval_json(4, true), eval_users_csv(kScorers, users));
  ASSERT_TRUE(is_eval_output_dir(d.dir()));
  const EvalOutput out = read_eval_output(d.dir());
  EXPECT_EQ(out.dir, d.dir());
  EXPECT_EQ(out.scorers, kScorers);
  EXPECT_EQ(out.json, eval_json(4, true));
  ASSERT_EQ(out.users.size(), users.size());
  for (size_t i = 0; i < users.size(); ++i) {
    const UserOutcome& a = users[i];
    const UserOutcome& b = out.users[i];
    EXPECT_EQ(b.sequence, a.sequence) << i;
    EXPECT_EQ(b.history_length, a.history_length) << i;
    EXPECT_EQ(b.target_item, a.target_item) << i;
    EXPECT_EQ(b.target_category, a.target_category) << i;
    EXPECT_EQ(b.last_action, a.last_action) << i;
    EXPECT_EQ(b.ranks, a.ranks) << i;
    EXPECT_EQ(b.label, a.label) << i;
    if (std::isnan(a.propensity_logit)) {
      EXPECT_TRUE(std::isnan(b.propensity_logit)) << i;
    } else {
      EXPECT_NEAR(b.propensity_logit, a.propensity_logit, 1e-9 * std::fabs(a.propensity_logit))
          << i;
    }
  }
  // Values with at most 9 significant digits come back exactly.
  EXPECT_EQ(out.users[0].propensity_logit, 0.125);
  EXPECT_EQ(out.users[1].propensity_logit, -7.25);
}

// A model served with a co-occurrence prior adds the network-alone scorer; the pair reads back.
TEST(EvalUsers, ModelWithoutPriorScorerRoundTrips) {
  EvalDir d("eu_prior");
  const std::vector<std::string> scorers = {"model", "model_without_prior", "popularity",
                                            "cooccurrence"};
  const std::vector<UserOutcome> users = {outcome(5, 3, 2, 1, 1, {1, 3, 4, 6}, 0.5, 0)};
  Json json = eval_json(1, true);
  json["model_without_prior"] = json["model"];
  d.write(json, eval_users_csv(scorers, users));
  const EvalOutput out = read_eval_output(d.dir());
  EXPECT_EQ(out.scorers, scorers);
  EXPECT_EQ(out.users[0].ranks, (std::vector<int64_t>{1, 3, 4, 6}));
  // Without the JSON block the CSV column has nothing to match.
  EvalDir e("eu_prior_missing");
  e.write(eval_json(1, true), eval_users_csv(scorers, users));
  EXPECT_THROW(read_eval_output(e.dir()), UserError);
}

TEST(EvalUsers, BaselinesOnlyRoundTrip) {
  EvalDir d("eu_baselines");
  const std::vector<std::string> scorers = {"popularity", "cooccurrence"};
  const std::vector<UserOutcome> users = {outcome(5, 3, 2, 1, 1, {4, 6}, std::nan(""), 0)};
  d.write(eval_json(1, false), eval_users_csv(scorers, users));
  const EvalOutput out = read_eval_output(d.dir());
  EXPECT_EQ(out.scorers, scorers);
  ASSERT_EQ(out.users.size(), 1u);
  EXPECT_EQ(out.users[0].ranks, (std::vector<int64_t>{4, 6}));
  EXPECT_TRUE(std::isnan(out.users[0].propensity_logit));
  EXPECT_EQ(out.users[0].label, 0);
}

TEST(EvalUsers, IsEvalOutputDirLooksForEvalJson) {
  EvalDir d("eu_isdir");
  EXPECT_FALSE(is_eval_output_dir(d.dir()));  // does not exist
  std::filesystem::create_directories(d.dir());
  EXPECT_FALSE(is_eval_output_dir(d.dir()));  // empty
  write_text(d.users_path(), kHeader + "\n");
  EXPECT_FALSE(is_eval_output_dir(d.dir()));  // only the CSV
  std::filesystem::create_directories(d.json_path());
  EXPECT_FALSE(is_eval_output_dir(d.dir()));  // eval.json is a folder
  std::filesystem::remove(d.json_path());
  write_text(d.json_path(), "{}");
  EXPECT_TRUE(is_eval_output_dir(d.dir()));
}

// The message of read_eval_output on a folder with `json` and `csv`.
std::string read_error(const EvalDir& d, const Json& json, const std::string& csv) {
  d.write(json, csv);
  return user_error_of([&] { read_eval_output(d.dir()); });
}

void expect_contains(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
}

TEST(EvalUsers, MalformedRowsAreNamedByFileAndLine) {
  EvalDir d("eu_rows");
  const std::string good = "1,3,4,1,2,5,6,7,0.5,1\n";
  // Wrong field count on line 3 (one rank missing).
  std::string m =
      read_error(d, eval_json(2, true), kHeader + "\n" + good + "2,3,4,1,2,5,6,0.5,1\n");
  expect_contains(m, d.users_path() + ":3:");
  expect_contains(m, "9 fields, expected 10");
  // A non-numeric rank on line 2.
  m = read_error(d, eval_json(2, true), kHeader + "\n" + "1,3,4,1,2,five,6,7,0.5,1\n" + good);
  expect_contains(m, d.users_path() + ":2:");
  // Rank 0 (ranks start at 1) on line 4.
  m = read_error(d, eval_json(3, true), kHeader + "\n" + good + good + "1,3,4,1,2,5,0,7,0.5,1\n");
  expect_contains(m, d.users_path() + ":4:");
  // Label 2 (labels are -1, 0 or 1) on line 2.
  m = read_error(d, eval_json(1, true), kHeader + "\n" + "1,3,4,1,2,5,6,7,0.5,2\n");
  expect_contains(m, d.users_path() + ":2:");
  // Label -2 and a non-numeric logit.
  m = read_error(d, eval_json(1, true), kHeader + "\n" + "1,3,4,1,2,5,6,7,0.5,-2\n");
  expect_contains(m, d.users_path() + ":2:");
  m = read_error(d, eval_json(1, true), kHeader + "\n" + "1,3,4,1,2,5,6,7,high,1\n");
  expect_contains(m, d.users_path() + ":2:");
  // A header that is not ours.
  m = read_error(d, eval_json(1, true),
                 "user,history_length,target_item,target_category,"
                 "last_action,rank_model,propensity_logit,label\n" +
                     good);
  expect_contains(m, d.users_path() + ":1:");
  // The good row alone is accepted (the failures above are about the bad rows).
  d.write(eval_json(1, true), kHeader + "\n" + good);
  const EvalOutput out = read_eval_output(d.dir());
  ASSERT_EQ(out.users.size(), 1u);
  EXPECT_EQ(out.users[0].ranks, (std::vector<int64_t>{5, 6, 7}));
}

TEST(EvalUsers, MissingOrForeignFilesAreUserErrors) {
  EvalDir d("eu_files");
  std::filesystem::create_directories(d.dir());
  write_text(d.json_path(), eval_json(0, true).dump());
  std::string m = user_error_of([&] { read_eval_output(d.dir()); });
  expect_contains(m, d.users_path());
  expect_contains(m, "missing");

  // eval.json that is not JSON, or JSON that is not an evaluation.
  m = read_error(d, Json(), kHeader + "\n");  // "null"
  expect_contains(m, d.json_path());
  write_text(d.json_path(), "{ this is not json");
  m = user_error_of([&] { read_eval_output(d.dir()); });
  expect_contains(m, d.json_path());
  write_text(d.json_path(), "[1, 2, 3]");
  m = user_error_of([&] { read_eval_output(d.dir()); });
  expect_contains(m, d.json_path());

  // No eval.json at all.
  std::filesystem::remove(d.json_path());
  m = user_error_of([&] { read_eval_output(d.dir()); });
  expect_contains(m, d.json_path());
}

TEST(EvalUsers, CsvThatDisagreesWithTheJsonIsAUserError) {
  EvalDir d("eu_disagree");
  const std::string rows = "1,3,4,1,2,5,6,7,0.5,1\n2,3,4,1,2,5,6,7,0.5,0\n";
  // n_users 3 in eval.json, 2 rows in the CSV.
  std::string m = read_error(d, eval_json(3, true), kHeader + "\n" + rows);
  expect_contains(m, d.users_path());
  expect_contains(m, "2 users");
  expect_contains(m, "3");
  // eval.json of a baselines-only run ("model": null), CSV with rank_model.
  m = read_error(d, eval_json(2, false), kHeader + "\n" + rows);
  expect_contains(m, d.users_path());
  expect_contains(m, "scorers");
  // And the other way round: a model in eval.json, no rank_model column.
  m = read_error(
      d, eval_json(1, true),
      eval_users_csv({"popularity", "cooccurrence"}, {outcome(1, 3, 4, 1, 2, {5, 6}, 0.5, 1)}));
  expect_contains(m, d.users_path());
  expect_contains(m, "scorers");
}

// ---- end to end: the Evaluator's per-user outcomes ----------------------------------------

TEST(EvalUsers, EvaluatorOutcomesMatchTheCorpusAndTheJsonMetrics) {
  ScratchDir dir("eu_e2e");
  const data::CorpusContents contents = testing::make_eval_corpus();
  const std::string path = dir.file("corpus.h5");
  data::write_corpus(path, contents);
  auto corpus = data::CorpusReader::open(path);
  trainer::Model model = testing::make_tiny_model(corpus->vocab_sizes());

  EvalOptions options;
  options.max_batch_rows = 7;
  options.read_chunk = 5;
  Evaluator evaluator(*corpus, options);
  const EvalReport report = evaluator.run(&model);

  EXPECT_EQ(report.scorers, kScorers);
  // One outcome per eligible user (length >= 3; no padding targets in this corpus), in order.
  std::vector<int64_t> eligible;
  for (int64_t s = 0; s < contents.num_sequences(); ++s) {
    if (contents.offsets[s + 1] - contents.offsets[s] >= 3) eligible.push_back(s);
  }
  ASSERT_EQ(report.users.size(), eligible.size());
  EXPECT_EQ(report.json["protocol"]["n_users"].get<int64_t>(),
            static_cast<int64_t>(eligible.size()));

  const int32_t num_items = corpus->vocab_sizes().items;
  for (size_t u = 0; u < report.users.size(); ++u) {
    const UserOutcome& o = report.users[u];
    ASSERT_EQ(o.sequence, eligible[u]);
    const int64_t begin = contents.offsets[o.sequence];
    const int32_t length = static_cast<int32_t>(contents.offsets[o.sequence + 1] - begin);
    EXPECT_EQ(o.history_length, length - 1) << u;  // test split: target = last event
    const size_t target = static_cast<size_t>(begin + o.history_length);
    EXPECT_EQ(o.target_item, contents.item[target]) << u;
    EXPECT_EQ(o.target_category, contents.category[target]) << u;
    EXPECT_EQ(o.last_action, contents.action[target - 1]) << u;
    EXPECT_EQ(o.label, contents.label_loo[static_cast<size_t>(o.sequence)]) << u;
    EXPECT_TRUE(std::isfinite(o.propensity_logit)) << u;
    ASSERT_EQ(o.ranks.size(), 3u);
    for (int64_t rank : o.ranks) {
      EXPECT_GE(rank, 1);
      EXPECT_LT(rank, num_items);
    }
  }

  // HR@10 recomputed from each scorer's per-user ranks equals the JSON's.
  for (size_t s = 0; s < kScorers.size(); ++s) {
    int64_t hits = 0;
    for (const UserOutcome& o : report.users) hits += o.ranks[s] <= 10;
    const double expected = static_cast<double>(hits) / static_cast<double>(report.users.size());
    const Json& metrics = s == 0 ? report.json["model"] : report.json["baselines"][kScorers[s]];
    EXPECT_NEAR(metrics["hr@10"].get<double>(), expected, 1e-12) << kScorers[s];
  }

  // Written beside eval.json and read back, the outcomes are unchanged.
  EvalDir d("eu_e2e_out");
  d.write(report.json, eval_users_csv(report.scorers, report.users));
  const EvalOutput back = read_eval_output(d.dir());
  EXPECT_EQ(back.scorers, report.scorers);
  ASSERT_EQ(back.users.size(), report.users.size());
  for (size_t u = 0; u < back.users.size(); ++u) {
    EXPECT_EQ(back.users[u].sequence, report.users[u].sequence);
    EXPECT_EQ(back.users[u].ranks, report.users[u].ranks);
    EXPECT_EQ(back.users[u].label, report.users[u].label);
    EXPECT_NEAR(back.users[u].propensity_logit, report.users[u].propensity_logit,
                1e-8 * std::max(1.0, std::fabs(report.users[u].propensity_logit)));
  }
}

TEST(EvalUsers, BaselinesOnlyEvaluationHasNoModelColumn) {
  ScratchDir dir("eu_e2e_baselines");
  const std::string path = dir.file("corpus.h5");
  data::write_corpus(path, testing::make_eval_corpus(20));
  auto corpus = data::CorpusReader::open(path);
  Evaluator evaluator(*corpus, EvalOptions{});
  const EvalReport report = evaluator.run(nullptr);
  EXPECT_EQ(report.scorers, (std::vector<std::string>{"popularity", "cooccurrence"}));
  ASSERT_FALSE(report.users.empty());
  for (const UserOutcome& o : report.users) {
    EXPECT_EQ(o.ranks.size(), 2u);
    EXPECT_TRUE(std::isnan(o.propensity_logit));
  }
  EvalDir d("eu_e2e_baselines_out");
  d.write(report.json, eval_users_csv(report.scorers, report.users));
  EXPECT_EQ(read_eval_output(d.dir()).users.size(), report.users.size());
}

}  // namespace
}  // namespace cf::eval
