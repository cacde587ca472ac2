// Top-K generation: selection and scores by hand, exclusions, the KV-cache multi-step path
// against full forwards, output formats and history parsing errors.
#include "eval/recommender.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <algorithm>
#include <limits>
#include <random>
#include <set>

#include "core/error.h"
#include "core/json.h"
#include "eval/history_input.h"
#include "trainer/model/model.h"
#include "unit/eval/eval_test_corpus.h"
#include "unit/user_error_of.h"

namespace cf::eval {
namespace {

using cf::testing::user_error_of;

using testing::ScratchDir;

TEST(TopKItems, OrdersByScoreThenTokenAndSkipsExcludedPaddingAndNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  //                          0     1     2     3    4     5     6
  const std::vector<float> s = {9.f, 0.5f, 2.0f, nan, 2.0f, 3.0f, 1.0f};
  EXPECT_EQ(top_k_items(s.data(), 7, {}, 3), (std::vector<int32_t>{5, 2, 4}));
  std::vector<uint8_t> excluded = {0, 0, 0, 0, 0, 1, 0};
  EXPECT_EQ(top_k_items(s.data(), 7, excluded, 4), (std::vector<int32_t>{2, 4, 6, 1}));
  EXPECT_EQ(top_k_items(s.data(), 7, excluded, 10), (std::vector<int32_t>{2, 4, 6, 1, 3}));
}

// The one-pass selection (k <= 64) and the sorting one (k > 64) against a full sort by the
// definition, on catalogues with many ties, NaNs, exclusions, and fewer candidates than k.
TEST(TopKItems, EveryKMatchesAFullSortByTheDefinition) {
  std::mt19937 rng(5);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int32_t n : {1, 2, 8, 70, 500}) {
    for (int trial = 0; trial < 10; ++trial) {
      std::vector<float> s(static_cast<size_t>(n));
      std::vector<uint8_t> excluded(static_cast<size_t>(n));
      for (auto& x : s) x = rng() % 9 == 0 ? nan : float(rng() % 5);
      for (auto& e : excluded) e = rng() % 5 == 0;
      std::vector<int32_t> all;
      for (int32_t j = 1; j < n; ++j)
        if (!excluded[size_t(j)]) all.push_back(j);
      std::sort(all.begin(), all.end(), [&](int32_t a, int32_t b) {
        const bool na = std::isnan(s[a]), nb = std::isnan(s[b]);
        if (na != nb) return nb;
        if (!na && s[a] != s[b]) return s[a] > s[b];
        return a < b;
      });
      for (int k : {0, 1, 3, 10, 64, 65, 100, 600}) {
        const std::vector<int32_t> want(all.begin(),
                                        all.begin() + std::min<size_t>(all.size(), size_t(k)));
        EXPECT_EQ(top_k_items(s.data(), n, excluded, k), want) << "n " << n << " k " << k;
      }
    }
  }
}

TEST(LogSumExp, MatchesTheDirectSumAndIgnoresPadding) {
  const std::vector<float> s = {100.f, 0.f, std::log(3.f)};
  EXPECT_NEAR(log_sum_exp_over_items(s.data(), 3), std::log(4.0), 1e-6);
  const std::vector<float> big = {0.f, 1000.f, 1000.f};
  EXPECT_NEAR(log_sum_exp_over_items(big.data(), 3), 1000.0 + std::log(2.0), 1e-6);
}

TEST(FormatRecommendations, CsvQuotesAndJsonlCarriesEveryField) {
  std::vector<Recommendation> rows(2);
  rows[0].user = "u1";
  rows[0].rank = 1;
  rows[0].item = 2;
  rows[0].score = 0.25f;
  rows[1].user = "u,2";
  rows[1].rank = 2;
  rows[1].item = 1;
  rows[1].score = 0.125f;
  rows[1].step = 3;
  const std::vector<std::string> raw = {"<pad>", "a\"b", "sku-9"};
  EXPECT_EQ(format_recommendations(rows, raw, RecommendationFormat::kCsv),
            "user,rank,item,score,step\nu1,1,sku-9,0.25,1\n\"u,2\",2,\"a\"\"b\",0.125,3\n");
  const std::string jsonl = format_recommendations(rows, raw, RecommendationFormat::kJsonl);
  const auto newline = jsonl.find('\n');
  const Json first = Json::parse(jsonl.substr(0, newline));
  EXPECT_EQ(first.at("user"), "u1");
  EXPECT_EQ(first.at("item"), "sku-9");
  EXPECT_EQ(first.at("rank"), 1);
  EXPECT_EQ(first.at("step"), 1);
  EXPECT_NEAR(first.at("score").get<double>(), 0.25, 1e-7);
  EXPECT_EQ(Json::parse(jsonl.substr(newline + 1)).at("item"), "a\"b");
}

TEST(FormatRecommendations, JsonlWritesIdsThatAreNotUtf8WithReplacementCharacters) {
  // Corpora from before prep rejected such ids may still hold them.
  std::vector<Recommendation> rows(1);
  rows[0].user = "u1";
  rows[0].rank = 1;
  rows[0].item = 1;
  const std::vector<std::string> raw = {"<pad>", "caf\xE9"};
  const std::string jsonl = format_recommendations(rows, raw, RecommendationFormat::kJsonl);
  EXPECT_EQ(Json::parse(jsonl).at("item"), "caf\xEF\xBF\xBD");
}

HistoryVocabulary tiny_vocab() {
  // items: 1=A (category 2), 2=B (category 0), 3=C (category 1)
  return HistoryVocabulary({"<pad>", "A", "B", "C"}, {"<pad>", "view", "fav", "cart", "buy"},
                           {0, 2, 0, 1}, /*default_action=*/1, /*default_time_gap=*/5);
}

TEST(HistoryVocabulary, BuildsHistoriesWithDefaultsAndPurchaseFlags) {
  const HistoryVocabulary vocab = tiny_vocab();
  const data::Sequence h = vocab.make_history({3, 1}, {0, vocab.action_token("BUY", "x")});
  EXPECT_EQ(h.item, (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(h.action, (std::vector<int32_t>{1, 4}));
  EXPECT_EQ(h.category, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(h.time_gap, (std::vector<int32_t>{1, 5}));
  EXPECT_EQ(h.purchase, (std::vector<int8_t>{0, 1}));
  const GenerationInput in = history_from_list("B, C", "me", vocab, "--history");
  EXPECT_EQ(in.user, "me");
  EXPECT_EQ(in.history.item, (std::vector<int32_t>{2, 3}));
}

TEST(HistoryVocabulary, UnknownIdsAndActionsAreOneLineUserErrors) {
  const HistoryVocabulary vocab = tiny_vocab();
  EXPECT_EQ(user_error_of([&] { history_from_list("A,Z9", "u", vocab, "--history"); }),
            "--history: unknown item id 'Z9'");
  EXPECT_EQ(user_error_of([&] { history_from_list("A,,B", "u", vocab, "--history"); }),
            "--history: empty item id in 'A,,B'");
  EXPECT_EQ(user_error_of([&] { vocab.action_token("jump", "f.csv:3"); }),
            "f.csv:3: unknown action 'jump' (known: view, fav, cart, buy)");
}

TEST(HistoriesFromCsv, GroupsRowsByUserInFileOrder) {
  ScratchDir dir("history_csv");
  const std::string path = dir.file("h.csv");
  std::ofstream(path) << "item,user,action\nA,u2,view\nB,u1,\nC,u2,buy\n\n\"A\",u1,cart\n";
  const auto inputs = histories_from_csv(path, tiny_vocab());
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].user, "u2");
  EXPECT_EQ(inputs[0].history.item, (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(inputs[0].history.purchase, (std::vector<int8_t>{0, 1}));
  EXPECT_EQ(inputs[1].user, "u1");
  EXPECT_EQ(inputs[1].history.item, (std::vector<int32_t>{2, 1}));
  EXPECT_EQ(inputs[1].history.action, (std::vector<int32_t>{1, 3}));
}

TEST(HistoriesFromCsv, ErrorsNameFileAndLine) {
  ScratchDir dir("history_csv_bad");
  const std::string path = dir.file("bad.csv");
  std::ofstream(path) << "user,item\nu1,A\nu1,Q\n";
  EXPECT_EQ(user_error_of([&] { histories_from_csv(path, tiny_vocab()); }),
            path + ":3: unknown item id 'Q'");
  std::ofstream(path) << "user,item\nu1,A,extra\n";
  EXPECT_EQ(user_error_of([&] { histories_from_csv(path, tiny_vocab()); }),
            path + ":2: expected 2 fields, found 3");
  std::ofstream(path) << "customer,item\nu1,A\n";
  EXPECT_NE(user_error_of([&] {
              histories_from_csv(path, tiny_vocab());
            }).find(path + ":1: header must name the columns user and item"),
            std::string::npos);
  std::ofstream(path) << "";
  EXPECT_NE(user_error_of([&] { histories_from_csv(path, tiny_vocab()); }).find(path + ": empty"),
            std::string::npos);
  EXPECT_EQ(user_error_of([&] { histories_from_csv(dir.file("none.csv"), tiny_vocab()); }),
            dir.file("none.csv") + ": cannot open for reading");
}

// Hand-written files may put blanks around fields and around quotes; fields are trimmed.
TEST(HistoriesFromCsv, BlanksAroundFieldsAndQuotesAreDropped) {
  ScratchDir dir("history_csv_blanks");
  const std::string path = dir.file("h.csv");
  std::ofstream(path) << " user , item \nu1, \"B\" \n u1 ,\t\" C \"\n";
  const auto inputs = histories_from_csv(path, tiny_vocab());
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0].user, "u1");
  EXPECT_EQ(inputs[0].history.item, (std::vector<int32_t>{2, 3}));
}

// The history CSV used to have its own splitter, which read a quote anywhere as opening or
// closing a quoted run: "A\"B,C" became the one field "AB,C" and an unterminated quote silently
// swallowed the rest of the line. Quotes now follow RFC 4180 as in every other CSV read.
TEST(HistoriesFromCsv, QuotesFollowRfc4180) {
  ScratchDir dir("history_csv_quotes");
  const std::string path = dir.file("h.csv");
  std::ofstream(path) << "user,item\nu1,\"A\"\"B\"\n";  // "A""B": the item id A"B
  EXPECT_EQ(user_error_of([&] { histories_from_csv(path, tiny_vocab()); }),
            path + ":2: unknown item id 'A\"B'");
  std::ofstream(path) << "user,item\nu1,A\"B\n";  // a quote inside an unquoted field is data
  EXPECT_EQ(user_error_of([&] { histories_from_csv(path, tiny_vocab()); }),
            path + ":2: unknown item id 'A\"B'");
  std::ofstream(path) << "user,item\nu1,\"A,B\n";
  EXPECT_EQ(user_error_of([&] { histories_from_csv(path, tiny_vocab()); }),
            path +
                ":2: malformed quotes (an unterminated quoted field, or text after a closing "
                "quote)");
  std::ofstream(path) << "user,\"item\"x\nu1,A\n";
  EXPECT_EQ(user_error_of([&] { histories_from_csv(path, tiny_vocab()); }),
            path +
                ":1: malformed quotes (an unterminated quoted field, or text after a closing "
                "quote)");
}

class RecommenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    contents_ = testing::make_eval_corpus();
    path_ = dir_.file("corpus.h5");
    data::write_corpus(path_, contents_);
    corpus_ = data::CorpusReader::open(path_);
    corpus_->read_sequences(0, corpus_->num_sequences(), sequences_);
  }
  GenerationInput user(int64_t s) const {
    return GenerationInput{"user" + std::to_string(s), sequences_[static_cast<size_t>(s)]};
  }

  ScratchDir dir_{"recommender"};
  data::CorpusContents contents_;
  std::string path_;
  std::unique_ptr<data::CorpusReader> corpus_;
  std::vector<data::Sequence> sequences_;
};

TEST_F(RecommenderTest, SingleStepTopKIsTheModelsSoftmaxOrderWithExclusions) {
  trainer::Model model = testing::make_tiny_model(corpus_->vocab_sizes());
  Recommender recommender(model);
  GenerateOptions options;
  options.k = 5;
  options.max_batch_rows = 3;
  std::vector<GenerationInput> inputs;
  for (int64_t s : {2, 5, 7, 11, 12}) inputs.push_back(user(s));
  const auto rows = recommender.recommend(inputs, options);
  ASSERT_EQ(rows.size(), inputs.size() * 5);

  const int32_t V = corpus_->vocab_sizes().items;
  for (size_t u = 0; u < inputs.size(); ++u) {
    // Reference: one row, full softmax by hand.
    data::Batch one;
    one.resize(1, model.config().max_len);
    data::fill_batch_row(one, 0, inputs[u].history, inputs[u].history.length(), false);
    std::vector<float> hidden, logits(static_cast<size_t>(V));
    model.last_hidden(one, hidden);
    model.item_scores(hidden.data(), 1, logits.data());
    double z = 0;
    for (int32_t j = 1; j < V; ++j) z += std::exp(static_cast<double>(logits[j]));
    for (int r = 0; r < 5; ++r) {
      const Recommendation& rec = rows[u * 5 + r];
      EXPECT_EQ(rec.user, inputs[u].user);
      EXPECT_EQ(rec.rank, r + 1);
      EXPECT_EQ(rec.step, 1);
      EXPECT_NEAR(rec.score, std::exp(static_cast<double>(logits[rec.item])) / z, 1e-5);
      // Everything not listed scores no higher than the last listed item.
      if (r == 4) {
        for (int32_t j = 1; j < V; ++j) {
          bool listed = false;
          for (int q = 0; q < 5; ++q) listed |= rows[u * 5 + q].item == j;
          if (!listed) {
            EXPECT_LE(logits[j], logits[rec.item]) << "user " << u << " item " << j;
          }
        }
      }
    }
  }

  options.exclude_seen = true;
  const auto unseen = recommender.recommend(inputs, options);
  for (const auto& rec : unseen) {
    const size_t u = static_cast<size_t>(&rec - unseen.data()) / 5;
    const auto& h = inputs[u].history.item;
    EXPECT_EQ(std::find(h.begin(), h.end(), rec.item), h.end());
  }
  options.exclude_seen = false;
  options.exclude_bought = true;
  const auto unbought = recommender.recommend(inputs, options);
  bool some_bought_item_was_recommended_before = false;
  for (size_t i = 0; i < unbought.size(); ++i) {
    const auto& h = inputs[i / 5].history;
    for (int32_t t = 0; t < h.length(); ++t) {
      if (h.purchase[t]) {
        EXPECT_NE(unbought[i].item, h.item[t]);
        some_bought_item_was_recommended_before |= rows[i].item == h.item[t];
      }
    }
  }
  EXPECT_TRUE(some_bought_item_was_recommended_before) << "test would not notice a no-op";
}

// A checkpoint with a co-occurrence prior recommends from softmax(logits + w * log(1 + S)) at
// every step; multi-step generation counts the generated items into the history S looks at.
TEST_F(RecommenderTest, TheCooccurrencePriorIsAddedBeforeTheSoftmaxAtEveryStep) {
  trainer::Model model = testing::make_tiny_model(corpus_->vocab_sizes());
  trainer::CooccurrencePrior prior;
  prior.table = trainer::build_cooccurrence_table(*corpus_, data::TrainingSplit());
  prior.weight = 20.0f;  // large enough to reorder the tiny model's top 5
  Recommender plain(model), with_prior(model, {}, prior);
  GenerateOptions options;
  options.k = 5;
  const int32_t V = corpus_->vocab_sizes().items;
  bool prior_changed_a_list = false;
  for (int64_t s : {3, 5, 12}) {
    const GenerationInput input = user(s);
    const auto got = with_prior.recommend({input}, options);
    const auto base = plain.recommend({input}, options);
    data::Batch one;
    one.resize(1, model.config().max_len);
    data::fill_batch_row(one, 0, input.history, input.history.length(), false);
    std::vector<float> hidden, fused(static_cast<size_t>(V));
    model.last_hidden(one, hidden);
    model.item_scores(hidden.data(), 1, fused.data());
    std::vector<std::pair<int32_t, float>> scratch;
    prior.table->add_log_prior(input.history.item.data(), input.history.length(), 20.0f,
                               fused.data(), scratch);
    const double log_z = log_sum_exp_over_items(fused.data(), V);
    const std::vector<int32_t> top = top_k_items(fused.data(), V, std::vector<uint8_t>(size_t(V), 0), 5);
    ASSERT_EQ(got.size(), 5u);
    for (int r = 0; r < 5; ++r) {
      EXPECT_EQ(got[size_t(r)].item, top[size_t(r)]) << "user " << s << " rank " << r + 1;
      EXPECT_NEAR(got[size_t(r)].score, std::exp(double(fused[size_t(top[size_t(r)])]) - log_z), 1e-5);
      prior_changed_a_list |= got[size_t(r)].item != base[size_t(r)].item;
    }
  }
  EXPECT_TRUE(prior_changed_a_list) << "the test would not notice a prior that is never added";

  // Two steps: the second is the single-step list (with the prior) after appending the first
  // step's top item, minus that item.
  GenerateOptions two = options;
  two.steps = 2;
  const GenerationInput input = user(3);
  const auto rows = with_prior.recommend({input}, two);
  ASSERT_EQ(rows.size(), 10u);
  GenerationInput extended = input;
  data::Sequence& h = extended.history;
  const int32_t first = rows[0].item;
  h.item.push_back(first), h.action.push_back(h.action.back()), h.category.push_back(0);
  h.time_gap.push_back(h.time_gap.back()), h.activity.push_back(0), h.purchase.push_back(0);
  h.timestamp.push_back(0);
  GenerateOptions six = options;
  six.k = 6;
  std::vector<Recommendation> expected;
  for (const auto& r : with_prior.recommend({extended}, six)) {
    if (r.item != first && expected.size() < 5) expected.push_back(r);
  }
  for (int r = 0; r < 5; ++r) {
    EXPECT_EQ(rows[size_t(5 + r)].item, expected[size_t(r)].item) << "step 2 rank " << r + 1;
    EXPECT_NEAR(rows[size_t(5 + r)].score, expected[size_t(r)].score, 1e-5);
  }
}

TEST_F(RecommenderTest, MultiStepMatchesFullForwardsOnTheExtendedHistory) {
  trainer::Model model = testing::make_tiny_model(corpus_->vocab_sizes());
  AppendedEventChannels appended;
  appended.item_category.assign(static_cast<size_t>(corpus_->vocab_sizes().items), 0);
  for (size_t j = 1; j < appended.item_category.size(); ++j) appended.item_category[j] = 1 + j % 4;
  appended.action = 1;
  appended.time_gap = 3;
  Recommender recommender(model, appended);
  GenerateOptions multi;
  multi.k = 4;
  multi.steps = 3;
  // A short history (no truncation) and a long one (left-truncated to max_len - 2 events).
  for (int64_t s : {3, 12}) {
    const GenerationInput input = user(s);
    const auto rows = recommender.recommend({input}, multi);
    ASSERT_EQ(rows.size(), 12u);
    GenerationInput extended = input;
    const int32_t keep = model.config().max_len - 2;
    if (extended.history.length() > keep) {
      auto cut = [&](auto& v) { v.erase(v.begin(), v.end() - keep); };
      cut(extended.history.item), cut(extended.history.action), cut(extended.history.category);
      cut(extended.history.time_gap), cut(extended.history.activity);
      cut(extended.history.purchase), cut(extended.history.timestamp);
    }
    std::set<int32_t> generated;
    for (int step = 1; step <= 3; ++step) {
      GenerateOptions single;
      single.k = 4 + static_cast<int>(generated.size());
      const auto reference = recommender.recommend({extended}, single);
      // The same ranking once earlier generated items are dropped.
      std::vector<const Recommendation*> expected;
      for (const auto& r : reference) {
        if (!generated.count(r.item) && expected.size() < 4) expected.push_back(&r);
      }
      for (int r = 0; r < 4; ++r) {
        const Recommendation& got = rows[static_cast<size_t>((step - 1) * 4 + r)];
        EXPECT_EQ(got.step, step);
        EXPECT_EQ(got.rank, r + 1);
        EXPECT_EQ(got.item, expected[r]->item) << "user " << s << " step " << step;
        EXPECT_NEAR(got.score, expected[r]->score, 1e-5);
      }
      const int32_t top = rows[static_cast<size_t>((step - 1) * 4)].item;
      generated.insert(top);
      data::Sequence& h = extended.history;
      h.item.push_back(top);
      h.action.push_back(1);
      h.category.push_back(appended.item_category[top]);
      h.time_gap.push_back(3);
      h.activity.push_back(0);
      h.purchase.push_back(0);
      h.timestamp.push_back(0);
    }
  }
}

TEST_F(RecommenderTest, RejectsEmptyHistoriesAndTooManySteps) {
  trainer::Model model = testing::make_tiny_model(corpus_->vocab_sizes());
  Recommender recommender(model);
  GenerateOptions options;
  GenerationInput empty{"nobody", {}};
  EXPECT_EQ(user_error_of([&] { recommender.recommend({empty}, options); }),
            "user 'nobody': empty history");
  options.steps = model.config().max_len + 1;
  EXPECT_NE(user_error_of([&] { recommender.recommend({user(3)}, options); }).find("--steps"),
            std::string::npos);
}

TEST_F(RecommenderTest, VocabularyFromCorpusLearnsCategoriesAndDefaults) {
  const HistoryVocabulary vocab = HistoryVocabulary::from_corpus(*corpus_);
  const AppendedEventChannels channels = vocab.appended_channels();
  // The test corpus gives item j category 1 + j % 4 everywhere.
  for (size_t j = 1; j < channels.item_category.size(); ++j) {
    if (contents_.item_count[j] > 0) {
      EXPECT_EQ(channels.item_category[j], 1 + int(j) % 4) << j;
    }
  }
  // Actions cycle 1,2,4 by event index: each a third; the most common (ties -> lowest) is 1.
  EXPECT_EQ(channels.action, 1);
  EXPECT_GE(channels.time_gap, 2);
  EXPECT_EQ(vocab.item_token("sku-105", "x"), 5);
}

}  // namespace
}  // namespace cf::eval
