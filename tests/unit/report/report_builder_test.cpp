// Report and comparison documents built from hand-made evaluations over a small written corpus:
// metrics against hand-computed values, breakdown group sizes, the propensity section, paired
// comparisons, the error messages, and run_dir_of_checkpoint.
#include "report/report_builder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/corpus.h"
#include "data/corpus_writer.h"
#include "eval/metrics.h"
#include "unit/eval/eval_test_corpus.h"
#include "unit/user_error_of.h"

namespace cf::report {
namespace {

using cf::testing::user_error_of;
using eval::testing::ScratchDir;

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const std::vector<std::string> kScorers = {"model", "popularity", "cooccurrence"};

Json eval_json(const std::string& fingerprint, int64_t n_users, bool with_model) {
  Json j = Json::object();
  j["model"] = with_model ? Json{{"hr@10", 0.0}} : Json(nullptr);
  j["baselines"] =
      Json{{"popularity", Json{{"hr@10", 0.0}}}, {"cooccurrence", Json{{"hr@10", 0.0}}}};
  j["protocol"] = Json{{"corpus", {{"path", "corpus.h5"}, {"vocab_fingerprint", fingerprint}}},
                       {"n_users", n_users},
                       {"split", "test"},
                       {"target", "last event of each sequence (leave-one-out)"},
                       {"filtering", "history filtered"},
                       {"checkpoint", nullptr}};
  return j;
}

eval::UserOutcome user(int64_t sequence, int32_t history, int32_t category, int32_t action,
                       std::vector<int64_t> ranks, double logit, int8_t label) {
  eval::UserOutcome u;
  u.sequence = sequence;
  u.history_length = history;
  u.target_item = 1 + static_cast<int32_t>(sequence % 20);
  u.target_category = category;
  u.last_action = action;
  u.ranks = std::move(ranks);
  u.propensity_logit = logit;
  u.label = label;
  return u;
}

// Twelve users; ranks per scorer (model, popularity, cooccurrence), history lengths spread over
// every bucket, categories and last actions with distinct counts.
//   model ranks     1 3 10 11 2 100 7 50 1 4 25 9     -> 8 of 12 within 10
//   popularity      20 30 5 40 11 12 1 60 70 10 9 15  -> 4 of 12
//   cooccurrence    2 everywhere                       -> HR@10 1, NDCG@10 1/log2(3), MRR 1/2
const std::vector<int32_t> kHistory = {1, 4, 5, 9, 10, 19, 20, 49, 50, 120, 3, 7};
const std::vector<int64_t> kModelRanks = {1, 3, 10, 11, 2, 100, 7, 50, 1, 4, 25, 9};
const std::vector<int64_t> kPopularityRanks = {20, 30, 5, 40, 11, 12, 1, 60, 70, 10, 9, 15};
const std::vector<int32_t> kCategory = {1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 0};
const std::vector<int32_t> kLastAction = {1, 1, 1, 1, 1, 1, 3, 3, 3, 4, 4, 2};
const std::vector<double> kLogits = {2.0,  -1.0, 0.5, 0.3, 5.0,  1.5,
                                     -0.2, -2.0, 0.1, 0.4, kNaN, -0.5};
const std::vector<int8_t> kLabels = {1, 0, 1, 0, -1, 1, 0, 0, 1, 0, 1, 0};

class ReportBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("corpus.h5");
    data::write_corpus(path_, eval::testing::make_eval_corpus(20, 21));
    corpus_ = data::CorpusReader::open(path_);
    fingerprint_ = corpus_->vocab_fingerprint();
    options_.bootstrap.resamples = 200;
  }

  eval::EvalOutput twelve_users(bool with_logits = true) const {
    eval::EvalOutput e;
    e.dir = dir_.file("eval_a");
    e.json = eval_json(fingerprint_, 12, true);
    e.scorers = kScorers;
    for (size_t u = 0; u < kHistory.size(); ++u) {
      e.users.push_back(user(static_cast<int64_t>(u), kHistory[u], kCategory[u], kLastAction[u],
                             {kModelRanks[u], kPopularityRanks[u], 2},
                             with_logits ? kLogits[u] : kNaN, kLabels[u]));
    }
    return e;
  }

  Json report_of(const eval::EvalOutput& next, const eval::EvalOutput* propensity = nullptr) const {
    ReportInputs in;
    in.corpus = corpus_.get();
    in.next_item = &next;
    in.propensity = propensity;
    return build_report(in, options_);
  }

  ScratchDir dir_{"report_builder"};
  std::string path_, fingerprint_;
  std::unique_ptr<data::CorpusReader> corpus_;
  ReportOptions options_;
};

struct Expected {
  double hr10, ndcg10, mrr;
};

Expected expected_from(const std::vector<int64_t>& ranks) {
  Expected e{0, 0, 0};
  for (int64_t r : ranks) {
    if (r <= 10) {
      e.hr10 += 1;
      e.ndcg10 += 1.0 / std::log2(static_cast<double>(r) + 1.0);
    }
    e.mrr += 1.0 / static_cast<double>(r);
  }
  const double n = static_cast<double>(ranks.size());
  return {e.hr10 / n, e.ndcg10 / n, e.mrr / n};
}

// {estimate, lower, upper} with the given estimate inside [lower, upper] (up to rounding: the
// resampled means of identical values may differ from the estimate in the last bit).
void expect_interval(const Json& interval, double estimate, const std::string& what) {
  ASSERT_TRUE(interval.is_object()) << what;
  EXPECT_NEAR(interval["estimate"].get<double>(), estimate, 1e-12) << what;
  EXPECT_LE(interval["lower"].get<double>(), interval["estimate"].get<double>() + 1e-12) << what;
  EXPECT_GE(interval["upper"].get<double>(), interval["estimate"].get<double>() - 1e-12) << what;
}

TEST_F(ReportBuilderTest, NextItemMetricsAreTheUsersMeans) {
  const eval::EvalOutput next = twelve_users();
  const Json report = report_of(next);
  EXPECT_EQ(report["kind"], "report");
  const Json& n = report["next_item"];
  EXPECT_EQ(n["n_users"].get<int64_t>(), 12);
  EXPECT_EQ(n["scorers"], Json(kScorers));
  const Json& metrics = n["metrics"];

  // Hand counts first, then the general formulas.
  expect_interval(metrics["model"]["hr@10"], 8.0 / 12.0, "model hr@10");
  expect_interval(metrics["popularity"]["hr@10"], 4.0 / 12.0, "popularity hr@10");
  expect_interval(metrics["cooccurrence"]["hr@10"], 1.0, "cooc hr@10");
  expect_interval(metrics["cooccurrence"]["ndcg@10"], 1.0 / std::log2(3.0), "cooc ndcg@10");
  expect_interval(metrics["cooccurrence"]["mrr"], 0.5, "cooc mrr");
  expect_interval(metrics["cooccurrence"]["hr@1"], 0.0, "cooc hr@1");
  expect_interval(metrics["model"]["hr@1"], 2.0 / 12.0, "model hr@1");
  expect_interval(metrics["model"]["hr@50"], 11.0 / 12.0, "model hr@50");
  const std::vector<std::vector<int64_t>> ranks = {kModelRanks, kPopularityRanks,
                                                   std::vector<int64_t>(12, 2)};
  for (size_t s = 0; s < kScorers.size(); ++s) {
    const Expected e = expected_from(ranks[s]);
    const Json& m = metrics[kScorers[s]];
    expect_interval(m["hr@10"], e.hr10, kScorers[s] + " hr@10");
    expect_interval(m["ndcg@10"], e.ndcg10, kScorers[s] + " ndcg@10");
    expect_interval(m["mrr"], e.mrr, kScorers[s] + " mrr");
    for (int k : eval::default_cutoffs()) {
      EXPECT_TRUE(m.contains("hr@" + std::to_string(k))) << k;
      EXPECT_TRUE(m.contains("ndcg@" + std::to_string(k))) << k;
    }
  }
  // The cooccurrence ranks are all equal: every resample has the same mean.
  EXPECT_NEAR(metrics["cooccurrence"]["mrr"]["lower"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(metrics["cooccurrence"]["mrr"]["upper"].get<double>(), 0.5, 1e-12);

  EXPECT_EQ(report["summary"]["data"]["eval_users"].get<int64_t>(), 12);
  EXPECT_EQ(report["summary"]["data"]["users"].get<int64_t>(), 20);
  EXPECT_EQ(report["summary"]["data"]["vocab_fingerprint"], fingerprint_);
  EXPECT_TRUE(report["training"].is_array());
  EXPECT_TRUE(report["training"].empty());
  EXPECT_TRUE(report["data_profile"].is_object());
}

const Json* breakdown(const Json& report, const std::string& by) {
  for (const Json& b : report["next_item"]["breakdowns"]) {
    if (b["by"] == by) return &b;
  }
  ADD_FAILURE() << "no breakdown by " << by;
  return nullptr;
}

TEST_F(ReportBuilderTest, BreakdownByHistoryLengthBuckets) {
  const Json report = report_of(twelve_users());
  const Json* b = breakdown(report, "history_length");
  ASSERT_NE(b, nullptr);
  const Json& groups = (*b)["groups"];
  // History 1 4 3 | 5 9 7 | 10 19 | 20 49 | 50 120.
  ASSERT_EQ(groups.size(), 5u);
  const std::vector<std::string> labels = {"1–4", "5–9", "10–19", "20–49", "50+"};
  const std::vector<int64_t> sizes = {3, 3, 2, 2, 2};
  for (size_t g = 0; g < groups.size(); ++g) {
    EXPECT_EQ(groups[g]["label"], labels[g]) << g;
    EXPECT_EQ(groups[g]["n"].get<int64_t>(), sizes[g]) << g;
  }
  // Model HR@10 within groups: ranks (1 3 25), (10 11 9), (2 100), (7 50), (1 4).
  EXPECT_NEAR(groups[0]["values"]["model"]["hr@10"]["estimate"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(groups[1]["values"]["model"]["hr@10"]["estimate"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(groups[2]["values"]["model"]["hr@10"]["estimate"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(groups[3]["values"]["model"]["hr@10"]["estimate"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(groups[4]["values"]["model"]["hr@10"]["estimate"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(groups[4]["values"]["model"]["ndcg@10"]["estimate"].get<double>(),
              (1.0 + 1.0 / std::log2(5.0)) / 2.0, 1e-12);
  EXPECT_NEAR(groups[2]["values"]["popularity"]["hr@10"]["estimate"].get<double>(), 0.0, 1e-12);

  // Empty buckets are left out.
  eval::EvalOutput short_histories = twelve_users();
  for (auto& u : short_histories.users) u.history_length = 1 + static_cast<int32_t>(u.sequence % 4);
  const Json short_report = report_of(short_histories);
  const Json* only = breakdown(short_report, "history_length");
  ASSERT_NE(only, nullptr);
  ASSERT_EQ((*only)["groups"].size(), 1u);
  EXPECT_EQ((*only)["groups"][0]["label"], "1–4");
  EXPECT_EQ((*only)["groups"][0]["n"].get<int64_t>(), 12);
}

TEST_F(ReportBuilderTest, BreakdownsByCategoryAndLastAction) {
  const Json report = report_of(twelve_users());
  const Json* category = breakdown(report, "category");
  ASSERT_NE(category, nullptr);
  // Categories: c1 x5, c2 x3, c3 x2, none x1, c4 x1 (largest first; ties in token order).
  const Json& groups = (*category)["groups"];
  ASSERT_EQ(groups.size(), 5u);
  const std::vector<std::string> labels = {"c1", "c2", "c3", "(none)", "c4"};
  const std::vector<int64_t> sizes = {5, 3, 2, 1, 1};
  for (size_t g = 0; g < groups.size(); ++g) {
    EXPECT_EQ(groups[g]["label"], labels[g]) << g;
    EXPECT_EQ(groups[g]["n"].get<int64_t>(), sizes[g]) << g;
  }
  // At most two named categories: the rest pooled into "other".
  options_.max_categories = 2;
  const Json pooled_report = report_of(twelve_users());
  const Json* pooled = breakdown(pooled_report, "category");
  ASSERT_NE(pooled, nullptr);
  ASSERT_EQ((*pooled)["groups"].size(), 3u);
  EXPECT_EQ((*pooled)["groups"][2]["label"], "other");
  EXPECT_EQ((*pooled)["groups"][2]["n"].get<int64_t>(), 4);

  const Json* action = breakdown(report, "last_action");
  ASSERT_NE(action, nullptr);
  // view x6, cart x3, buy x2, fav x1.
  const Json& by_action = (*action)["groups"];
  ASSERT_EQ(by_action.size(), 4u);
  EXPECT_EQ(by_action[0]["label"], "view");
  EXPECT_EQ(by_action[0]["n"].get<int64_t>(), 6);
  EXPECT_EQ(by_action[1]["label"], "cart");
  EXPECT_EQ(by_action[1]["n"].get<int64_t>(), 3);
  EXPECT_EQ(by_action[2]["label"], "buy");
  EXPECT_EQ(by_action[2]["n"].get<int64_t>(), 2);
  EXPECT_EQ(by_action[3]["label"], "fav");
  EXPECT_EQ(by_action[3]["n"].get<int64_t>(), 1);
}

TEST_F(ReportBuilderTest, PropensitySectionFromLabelledUsersWithLogits) {
  const Json report = report_of(twelve_users());
  const Json& p = report["propensity"];
  ASSERT_TRUE(p.is_object());
  // Users with label >= 0 and a finite logit: all but #4 (label -1) and #10 (NaN logit).
  std::vector<double> probabilities;
  std::vector<int8_t> labels;
  for (size_t u = 0; u < kLogits.size(); ++u) {
    if (kLabels[u] < 0 || std::isnan(kLogits[u])) continue;
    probabilities.push_back(eval::sigmoid(kLogits[u]));
    labels.push_back(kLabels[u]);
  }
  ASSERT_EQ(labels.size(), 10u);
  EXPECT_EQ(p["model"]["n"].get<int64_t>(), 10);
  EXPECT_EQ(p["model"]["positives"].get<int64_t>(), 4);
  // Positives 2.0 0.5 1.5 0.1 vs negatives -1 0.3 -0.2 -2 0.4 -0.5: 22 of 24 pairs ordered.
  EXPECT_NEAR(eval::roc_auc(probabilities, labels), 22.0 / 24.0, 1e-12);
  expect_interval(p["model"]["auc"], 22.0 / 24.0, "model auc");
  EXPECT_EQ(p["source"], twelve_users().dir);

  // The baseline scores each user with the corpus's next-purchase rate of the last action.
  const Json& rates = report["data_profile"]["next_purchase_rate_by_last_action"];
  const std::vector<std::string> actions = corpus_->action_names();
  std::vector<double> baseline;
  for (size_t u = 0; u < kLogits.size(); ++u) {
    if (kLabels[u] < 0 || std::isnan(kLogits[u])) continue;
    const Json& r = rates[actions[static_cast<size_t>(kLastAction[u])]];
    baseline.push_back(r.is_number() ? r.get<double>() : 0.0);
  }
  const double baseline_auc = eval::roc_auc(baseline, labels);
  if (std::isfinite(baseline_auc)) {
    EXPECT_NEAR(p["baseline"]["auc"]["estimate"].get<double>(), baseline_auc, 1e-12);
  }
}

TEST_F(ReportBuilderTest, NoPropensitySectionWithoutUsableLogits) {
  EXPECT_TRUE(report_of(twelve_users(/*with_logits=*/false))["propensity"].is_null());
  eval::EvalOutput unlabelled = twelve_users();
  for (auto& u : unlabelled.users) u.label = -1;
  EXPECT_TRUE(report_of(unlabelled)["propensity"].is_null());
  // One labelled user with a logit is enough.
  unlabelled.users[3].label = 0;
  EXPECT_TRUE(report_of(unlabelled)["propensity"].is_object());
}

TEST_F(ReportBuilderTest, PropensityFromASecondEvaluationWhenTheFirstHasNone) {
  const eval::EvalOutput next = twelve_users(/*with_logits=*/false);
  eval::EvalOutput second = twelve_users();
  second.dir = dir_.file("eval_propensity");
  const Json report = report_of(next, &second);
  ASSERT_TRUE(report["propensity"].is_object());
  EXPECT_EQ(report["propensity"]["source"], second.dir);
  EXPECT_NEAR(report["propensity"]["model"]["auc"]["estimate"].get<double>(), 22.0 / 24.0, 1e-12);
  EXPECT_EQ(report["summary"]["models"].size(), 2u);
}

TEST_F(ReportBuilderTest, AnEvaluationWithoutUsersIsAUserError) {
  eval::EvalOutput empty = twelve_users();
  empty.users.clear();
  const std::string m = user_error_of([&] { report_of(empty); });
  EXPECT_NE(m.find(empty.dir), std::string::npos) << m;
}

// ---- comparisons -------------------------------------------------------------------------

// Forty users: A ranks 2, 7, 12, ..., 197; B puts every target first.
eval::EvalOutput forty_users(const std::string& dir, const std::string& fingerprint, bool b) {
  eval::EvalOutput e;
  e.dir = dir;
  e.json = eval_json(fingerprint, 40, true);
  e.scorers = kScorers;
  for (int u = 0; u < 40; ++u) {
    const int64_t rank = b ? 1 : 2 + 5 * u;
    const double logit = b ? (u % 3 == 0 ? 1.0 : -1.0) * (1 + u % 5) : 0.1 * u;
    e.users.push_back(user(u, 3 + u % 30, 1 + u % 4, 1 + u % 4, {rank, 3 + u % 17, 5 + u % 7},
                           logit, static_cast<int8_t>(u % 3 == 0)));
  }
  return e;
}

std::vector<double> per_user(const eval::EvalOutput& e, const std::string& metric) {
  std::vector<double> v;
  for (const auto& u : e.users) {
    const double r = static_cast<double>(u.ranks[0]);
    if (metric == "mrr") {
      v.push_back(1.0 / r);
    } else {
      const bool ndcg = metric.rfind("ndcg@", 0) == 0;
      const int k = std::stoi(metric.substr(ndcg ? 5 : 3));
      v.push_back(r <= k ? (ndcg ? 1.0 / std::log2(r + 1.0) : 1.0) : 0.0);
    }
  }
  return v;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

TEST_F(ReportBuilderTest, ComparisonOfABetterModelIsSignificant) {
  const eval::EvalOutput a = forty_users(dir_.file("a"), fingerprint_, false);
  const eval::EvalOutput b = forty_users(dir_.file("b"), fingerprint_, true);
  ComparisonInputs in;
  in.corpus = corpus_.get();
  in.a = &a;
  in.b = &b;
  const Json c = build_comparison(in, options_);
  EXPECT_EQ(c["kind"], "comparison");
  EXPECT_EQ(c["n_users"].get<int64_t>(), 40);
  EXPECT_EQ(c["corpus"]["vocab_fingerprint"], fingerprint_);
  int ranking_metrics = 0;
  bool saw_auc = false;
  for (const Json& m : c["metrics"]) {
    const std::string name = m["metric"].get<std::string>();
    if (name == "propensity auc") {
      saw_auc = true;
      std::vector<double> sa, sb;
      std::vector<int8_t> labels;
      for (size_t u = 0; u < a.users.size(); ++u) {
        sa.push_back(a.users[u].propensity_logit);
        sb.push_back(b.users[u].propensity_logit);
        labels.push_back(a.users[u].label);
      }
      EXPECT_NEAR(m["a"].get<double>(), eval::roc_auc(sa, labels), 1e-12);
      EXPECT_NEAR(m["b"].get<double>(), eval::roc_auc(sb, labels), 1e-12);
      EXPECT_NEAR(m["difference"].get<double>(),
                  eval::roc_auc(sb, labels) - eval::roc_auc(sa, labels), 1e-12);
      continue;
    }
    ++ranking_metrics;
    const double ea = mean(per_user(a, name)), eb = mean(per_user(b, name));
    EXPECT_NEAR(m["a"].get<double>(), ea, 1e-12) << name;
    EXPECT_NEAR(m["b"].get<double>(), eb, 1e-12) << name;
    EXPECT_NEAR(m["difference"].get<double>(), eb - ea, 1e-12) << name;
    EXPECT_GT(m["difference"].get<double>(), 0.0) << name;
    EXPECT_GT(m["lower"].get<double>(), 0.0) << name;
    EXPECT_LE(m["lower"].get<double>(), m["difference"].get<double>()) << name;
    EXPECT_GE(m["upper"].get<double>(), m["difference"].get<double>()) << name;
    EXPECT_TRUE(m["significant"].get<bool>()) << name;
  }
  EXPECT_EQ(ranking_metrics, 2 * static_cast<int>(eval::default_cutoffs().size()) + 1);
  EXPECT_TRUE(saw_auc);
  // Baselines are reported once, from A.
  ASSERT_TRUE(c["baselines"].contains("popularity"));
  EXPECT_FALSE(c["baselines"].contains("model"));
}

TEST_F(ReportBuilderTest, ComparisonOfAModelWithItselfShowsNoDifference) {
  const eval::EvalOutput a = forty_users(dir_.file("a"), fingerprint_, false);
  eval::EvalOutput same = a;
  same.dir = dir_.file("a_again");
  ComparisonInputs in;
  in.corpus = corpus_.get();
  in.a = &a;
  in.b = &same;
  const Json c = build_comparison(in, options_);
  ASSERT_FALSE(c["metrics"].empty());
  for (const Json& m : c["metrics"]) {
    const std::string name = m["metric"].get<std::string>();
    EXPECT_EQ(m["difference"].get<double>(), 0.0) << name;
    EXPECT_EQ(m["lower"].get<double>(), 0.0) << name;
    EXPECT_EQ(m["upper"].get<double>(), 0.0) << name;
    EXPECT_FALSE(m["significant"].get<bool>()) << name;
  }
}

TEST_F(ReportBuilderTest, ComparisonErrors) {
  const eval::EvalOutput a = forty_users(dir_.file("a"), fingerprint_, false);
  ComparisonInputs in;
  in.corpus = corpus_.get();
  in.a = &a;

  eval::EvalOutput other_corpus = forty_users(dir_.file("other"), "f00d" + fingerprint_, true);
  in.b = &other_corpus;
  std::string m = user_error_of([&] { build_comparison(in, options_); });
  EXPECT_NE(m.find("different corpora"), std::string::npos) << m;
  EXPECT_NE(m.find(a.dir), std::string::npos) << m;
  EXPECT_NE(m.find(other_corpus.dir), std::string::npos) << m;

  eval::EvalOutput fewer = forty_users(dir_.file("fewer"), fingerprint_, true);
  fewer.users.pop_back();
  in.b = &fewer;
  m = user_error_of([&] { build_comparison(in, options_); });
  EXPECT_NE(m.find("different users"), std::string::npos) << m;
  EXPECT_NE(m.find(a.dir), std::string::npos) << m;
  EXPECT_NE(m.find(fewer.dir), std::string::npos) << m;

  eval::EvalOutput other_targets = forty_users(dir_.file("targets"), fingerprint_, true);
  other_targets.users[17].target_item += 1;
  in.b = &other_targets;
  m = user_error_of([&] { build_comparison(in, options_); });
  EXPECT_NE(m.find("different users"), std::string::npos) << m;

  eval::EvalOutput other_sequences = forty_users(dir_.file("sequences"), fingerprint_, true);
  std::swap(other_sequences.users[0], other_sequences.users[1]);
  in.b = &other_sequences;
  m = user_error_of([&] { build_comparison(in, options_); });
  EXPECT_NE(m.find("different users"), std::string::npos) << m;

  eval::EvalOutput baselines_only = forty_users(dir_.file("baselines"), fingerprint_, true);
  baselines_only.json["model"] = nullptr;
  baselines_only.scorers = {"popularity", "cooccurrence"};
  for (auto& u : baselines_only.users) u.ranks.erase(u.ranks.begin());
  in.b = &baselines_only;
  m = user_error_of([&] { build_comparison(in, options_); });
  EXPECT_NE(m.find(baselines_only.dir), std::string::npos) << m;
  EXPECT_NE(m.find("baselines-only"), std::string::npos) << m;
  // ... on either side.
  in.a = &baselines_only;
  in.b = &a;
  m = user_error_of([&] { build_comparison(in, options_); });
  EXPECT_NE(m.find(baselines_only.dir), std::string::npos) << m;
}

TEST(ReportBuilder, RunDirOfCheckpoint) {
  EXPECT_EQ(run_dir_of_checkpoint("runs/x/checkpoints/step_5"), "runs/x");
  EXPECT_EQ(run_dir_of_checkpoint("runs/x/checkpoints/step_5/"), "runs/x");
  EXPECT_EQ(run_dir_of_checkpoint("/abs/runs/y/checkpoints/step_120"), "/abs/runs/y");
  EXPECT_EQ(run_dir_of_checkpoint("runs/x/checkpoints/step_4/../step_5"), "runs/x");
  EXPECT_EQ(run_dir_of_checkpoint(""), "");
  EXPECT_EQ(run_dir_of_checkpoint("runs/x"), "");
  EXPECT_EQ(run_dir_of_checkpoint("runs/x/step_5"), "");
  EXPECT_EQ(run_dir_of_checkpoint("runs/x/checkpoints"), "");
  EXPECT_EQ(run_dir_of_checkpoint("runs/x/checkpoints/"), "");
}

}  // namespace
}  // namespace cf::report
