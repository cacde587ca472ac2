// User scores: sessions on hand-made timestamps, item categories, next-item mass and purchase
// probabilities of a tiny random model, checked against an independent per-user computation
// (the model's incremental decoder plus a softmax written here) and against corpora whose
// activity channel was edited by hand.
#include "marketing/user_scores.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/corpus_writer.h"
#include "trainer/model/model.h"
#include "unit/eval/eval_test_corpus.h"
#include "unit/user_error_of.h"

namespace cf::marketing {
namespace {

using eval::testing::ScratchDir;

data::Sequence with_times(const std::vector<int64_t>& timestamps) {
  data::Sequence s;
  s.timestamp = timestamps;
  const size_t n = timestamps.size();
  s.item.assign(n, 1);
  s.action.assign(n, 1);
  s.category.assign(n, 1);
  s.time_gap.assign(n, 1);
  s.activity.assign(n, 0);
  s.purchase.assign(n, 0);
  return s;
}

TEST(UserScores, CurrentSessionBegin) {
  // Gaps 100, 1900, 100, 100: the session starts after the 1900 s gap.
  const data::Sequence s = with_times({0, 100, 2000, 2100, 2200});
  EXPECT_EQ(current_session_begin(s, 1800, true), 2);
  EXPECT_EQ(current_session_begin(s, 1900, true), 0);  // a gap equal to the limit stays in
  EXPECT_EQ(current_session_begin(s, 99, true), 4);
  EXPECT_EQ(current_session_begin(with_times({0, 1800, 3600}), 1800, true), 0);
  EXPECT_EQ(current_session_begin(with_times({0, 1801, 3601}), 1800, true), 1);
  EXPECT_EQ(current_session_begin(with_times({0, 1800, 3601}), 1800, true), 2);
  EXPECT_EQ(current_session_begin(with_times({42}), 1800, true), 0);
  // Order-only corpora: the last event alone.
  EXPECT_EQ(current_session_begin(s, 1800, false), 4);
  EXPECT_EQ(current_session_begin(with_times({1, 2, 3}), 1800, false), 2);
  EXPECT_EQ(current_session_begin(with_times({7}), 1800, false), 0);
}

// ---- corpora ------------------------------------------------------------------------------

// make_eval_corpus with each user's last two events 5000 s after the earlier ones (so the
// current session under a 1800 s gap is the last two events, or the whole of a shorter user),
// and the activity channel given by activity(k, length).
data::CorpusContents sessioned_corpus(const std::function<int32_t(int, int)>& activity,
                                      const std::string& time_source = "timestamps",
                                      int users = 30) {
  data::CorpusContents c = eval::testing::make_eval_corpus(users);
  for (size_t s = 0; s + 1 < c.offsets.size(); ++s) {
    const int length = static_cast<int>(c.offsets[s + 1] - c.offsets[s]);
    for (int k = 0; k < length; ++k) {
      const size_t e = static_cast<size_t>(c.offsets[s] + k);
      c.timestamp[e] =
          1'600'000'000 + static_cast<int64_t>(s) * 100'000 + k * 60 + (k >= length - 2 ? 5000 : 0);
      c.activity[e] = activity(k, length);
    }
  }
  c.provenance.time_source = time_source;
  return c;
}

int32_t no_activity(int, int) { return 0; }

trainer::ModelConfig scoring_model_config() {
  trainer::ModelConfig m = eval::testing::tiny_eval_model_config(/*propensity_head=*/true);
  m.action_head = true;
  return m;
}

class UserScoresModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    corpus_ = open("plain.h5", sessioned_corpus(no_activity));
    model_ = std::make_unique<trainer::Model>(scoring_model_config(), corpus_->vocab_sizes());
    model_->init_weights(23);
    // Scaled up from N(0, 0.02) so scores clearly differ between users, but not so far that
    // probabilities round to exactly 0 or 1 in double.
    for (float& p : model_->params()) p *= 4.f;
    options_.batch_rows = 7;  // several batches, the last one partial
  }

  std::unique_ptr<data::CorpusReader> open(const std::string& name,
                                           const data::CorpusContents& contents) {
    const std::string path = dir_.file(name);
    data::write_corpus(path, contents);
    return data::CorpusReader::open(path);
  }

  // Final hidden state of user `s`'s whole history (last max_len events) through the
  // incremental decoder: a code path independent of the batched forward pass.
  std::vector<float> decoder_hidden(const data::CorpusReader& corpus, int64_t s) const {
    data::Sequence seq;
    corpus.read_sequence(s, seq);
    auto decoder = model_->make_decoder();
    const int32_t n = std::min(seq.length(), model_->config().max_len);
    std::vector<float> hidden;
    for (int32_t e = seq.length() - n; e < seq.length(); ++e) {
      const size_t i = static_cast<size_t>(e);
      hidden = decoder->append(seq.item[i], seq.action[i], seq.category[i], seq.time_gap[i],
                               seq.activity[i]);
    }
    return hidden;
  }

  std::vector<double> probability(const data::CorpusReader& corpus, PurchaseHead head,
                                  Exposure exposure, int32_t activity = 0) {
    return purchase_probability(*model_, corpus, head, exposure, activity, options_);
  }

  ScratchDir dir_{"user_scores"};
  std::unique_ptr<data::CorpusReader> corpus_;
  std::unique_ptr<trainer::Model> model_;
  ScoringOptions options_;
};

TEST_F(UserScoresModelTest, NextItemMassOfTheWholeCatalogueIsOne) {
  const int32_t items = corpus_->vocab_sizes().items;
  const std::vector<double> all = next_item_mass(
      *model_, *corpus_, std::vector<uint8_t>(static_cast<size_t>(items), 1), options_);
  ASSERT_EQ(static_cast<int64_t>(all.size()), corpus_->num_sequences());
  for (size_t u = 0; u < all.size(); ++u) EXPECT_NEAR(all[u], 1.0, 1e-9) << u;
  // Padding is not an item: marking it alone gives no mass.
  std::vector<uint8_t> pad_only(static_cast<size_t>(items), 0);
  pad_only[0] = 1;
  for (double m : next_item_mass(*model_, *corpus_, pad_only, options_)) EXPECT_EQ(m, 0.0);
}

TEST_F(UserScoresModelTest, MassesOfAPartitionSumToOne) {
  const int32_t items = corpus_->vocab_sizes().items;
  const std::vector<int32_t> category = item_categories(*corpus_);
  ASSERT_EQ(static_cast<int32_t>(category.size()), items);
  const int32_t categories = corpus_->vocab_sizes().categories;
  std::vector<double> total(static_cast<size_t>(corpus_->num_sequences()), 0.0);
  for (int32_t c = 0; c < categories; ++c) {  // category 0: items never seen with one
    std::vector<uint8_t> in_set(static_cast<size_t>(items), 0);
    for (int32_t i = 0; i < items; ++i)
      in_set[static_cast<size_t>(i)] = category[static_cast<size_t>(i)] == c;
    const std::vector<double> mass = next_item_mass(*model_, *corpus_, in_set, options_);
    ASSERT_EQ(mass.size(), total.size());
    for (size_t u = 0; u < mass.size(); ++u) {
      EXPECT_GE(mass[u], 0.0);
      EXPECT_LE(mass[u], 1.0);
      total[u] += mass[u];
    }
  }
  for (size_t u = 0; u < total.size(); ++u) EXPECT_NEAR(total[u], 1.0, 1e-9) << u;
}

TEST_F(UserScoresModelTest, NextItemMassMatchesAnIndependentSoftmax) {
  const int32_t items = corpus_->vocab_sizes().items;
  std::vector<uint8_t> in_set(static_cast<size_t>(items), 0);
  for (int32_t i = 1; i < items; i += 3) in_set[static_cast<size_t>(i)] = 1;
  const std::vector<double> mass = next_item_mass(*model_, *corpus_, in_set, options_);
  std::vector<float> scores(static_cast<size_t>(items));
  for (int64_t s = 0; s < corpus_->num_sequences(); ++s) {
    const std::vector<float> hidden = decoder_hidden(*corpus_, s);
    model_->item_scores(hidden.data(), 1, scores.data());
    double top = -INFINITY;
    for (int32_t i = 1; i < items; ++i) top = std::max(top, double(scores[static_cast<size_t>(i)]));
    double all = 0, selected = 0;
    for (int32_t i = 1; i < items; ++i) {
      const double p = std::exp(double(scores[static_cast<size_t>(i)]) - top);
      all += p;
      if (in_set[static_cast<size_t>(i)]) selected += p;
    }
    EXPECT_NEAR(mass[static_cast<size_t>(s)], selected / all, 1e-5) << s;
  }
}

TEST_F(UserScoresModelTest, MaxUsersAndBatchSizeDoNotChangeScores) {
  const int32_t items = corpus_->vocab_sizes().items;
  std::vector<uint8_t> in_set(static_cast<size_t>(items), 0);
  in_set[1] = in_set[2] = in_set[5] = 1;
  const std::vector<double> full = next_item_mass(*model_, *corpus_, in_set, options_);
  ScoringOptions first = options_;
  first.max_users = 11;
  first.batch_rows = 4;
  std::vector<std::pair<int64_t, int64_t>> calls;
  const std::vector<double> part =
      next_item_mass(*model_, *corpus_, in_set, first,
                     [&](int64_t done, int64_t total) { calls.emplace_back(done, total); });
  ASSERT_EQ(part.size(), 11u);
  EXPECT_EQ(users_to_score(*corpus_, first), 11);
  for (size_t u = 0; u < part.size(); ++u) EXPECT_NEAR(part[u], full[u], 1e-6) << u;
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), std::make_pair(int64_t{11}, int64_t{11}));
  first.max_users = 1000;
  EXPECT_EQ(users_to_score(*corpus_, first), corpus_->num_sequences());
}

TEST_F(UserScoresModelTest, PurchaseProbabilitiesAreProbabilities) {
  for (PurchaseHead head : {PurchaseHead::kPropensity, PurchaseHead::kNextAction}) {
    for (Exposure exposure : {Exposure::kAsLogged, Exposure::kNone, Exposure::kActivity}) {
      const std::vector<double> p = probability(*corpus_, head, exposure, 1);
      ASSERT_EQ(static_cast<int64_t>(p.size()), corpus_->num_sequences());
      for (double v : p) {
        EXPECT_GT(v, 0.0) << purchase_head_name(head);
        EXPECT_LT(v, 1.0) << purchase_head_name(head);
      }
    }
  }
  EXPECT_STREQ(purchase_head_name(PurchaseHead::kPropensity), "propensity");
  EXPECT_STREQ(purchase_head_name(PurchaseHead::kNextAction), "next-action");
}

TEST_F(UserScoresModelTest, HeadsMatchAnIndependentComputation) {
  const std::vector<double> propensity =
      probability(*corpus_, PurchaseHead::kPropensity, Exposure::kAsLogged);
  const std::vector<double> next_action =
      probability(*corpus_, PurchaseHead::kNextAction, Exposure::kAsLogged);
  const int32_t actions = corpus_->vocab_sizes().actions;
  const int32_t buy = 4;  // canonical_actions(): view fav cart buy
  ASSERT_EQ(corpus_->action_names()[buy], "buy");
  std::vector<float> logits(static_cast<size_t>(actions));
  for (int64_t s = 0; s < corpus_->num_sequences(); ++s) {
    const std::vector<float> hidden = decoder_hidden(*corpus_, s);
    float logit = 0;
    model_->propensity_logits(hidden.data(), 1, &logit);
    EXPECT_NEAR(propensity[static_cast<size_t>(s)], 1.0 / (1.0 + std::exp(-double(logit))), 1e-5)
        << s;
    model_->action_logits(hidden.data(), 1, logits.data());
    // Softmax over every action column (column 0 is padding at -inf: probability 0).
    double top = -INFINITY, sum = 0;
    for (float l : logits) top = std::max(top, double(l));
    for (float l : logits) sum += std::exp(double(l) - top);
    EXPECT_NEAR(next_action[static_cast<size_t>(s)], std::exp(double(logits[buy]) - top) / sum,
                1e-5)
        << s;
  }
}

TEST_F(UserScoresModelTest, NoExposureEqualsTheLogWhenNothingWasLogged) {
  for (PurchaseHead head : {PurchaseHead::kPropensity, PurchaseHead::kNextAction}) {
    const std::vector<double> logged = probability(*corpus_, head, Exposure::kAsLogged);
    const std::vector<double> none = probability(*corpus_, head, Exposure::kNone);
    ASSERT_EQ(none.size(), logged.size());
    for (size_t u = 0; u < none.size(); ++u) EXPECT_EQ(none[u], logged[u]) << u;
  }
}

TEST_F(UserScoresModelTest, ActivityExposureSetsTheCurrentSession) {
  // Expected inputs written by hand: activity 1 on the last two events (the whole of a user with
  // fewer), the current session under the 1800 s gap.
  auto session = open("session.h5", sessioned_corpus([](int k, int length) {
                        return k >= std::max(0, length - 2) ? 1 : 0;
                      }));
  for (PurchaseHead head : {PurchaseHead::kPropensity, PurchaseHead::kNextAction}) {
    const std::vector<double> exposed = probability(*corpus_, head, Exposure::kActivity, 1);
    const std::vector<double> none = probability(*corpus_, head, Exposure::kNone);
    const std::vector<double> expected = probability(*session, head, Exposure::kAsLogged);
    ASSERT_EQ(exposed.size(), expected.size());
    int differ = 0;
    for (size_t u = 0; u < exposed.size(); ++u) {
      EXPECT_NEAR(exposed[u], expected[u], 1e-12) << u;
      differ += exposed[u] != none[u];
    }
    // The activity embedding of a random model is not zero: every user's score moves.
    EXPECT_EQ(differ, static_cast<int>(exposed.size())) << purchase_head_name(head);
  }
}

TEST_F(UserScoresModelTest, NoExposureClearsOnlyTheCurrentSession) {
  // Logged: a coupon on the first event and on the last one.
  auto logged =
      open("logged.h5",
           sessioned_corpus([](int k, int length) { return k == 0 || k == length - 1 ? 1 : 0; }));
  // Expected after clearing the session (the last two events, or all of a short user).
  auto cleared =
      open("cleared.h5",
           sessioned_corpus([](int k, int length) { return k == 0 && k < length - 2 ? 1 : 0; }));
  const std::vector<double> none = probability(*logged, PurchaseHead::kPropensity, Exposure::kNone);
  const std::vector<double> expected =
      probability(*cleared, PurchaseHead::kPropensity, Exposure::kAsLogged);
  const std::vector<double> as_logged =
      probability(*logged, PurchaseHead::kPropensity, Exposure::kAsLogged);
  int differ = 0;
  for (size_t u = 0; u < none.size(); ++u) {
    EXPECT_NEAR(none[u], expected[u], 1e-12) << u;
    differ += none[u] != as_logged[u];
  }
  EXPECT_GT(differ, 0);
}

TEST_F(UserScoresModelTest, OrderOnlyCorporaExposeTheLastEventAlone) {
  auto order = open("order.h5", sessioned_corpus(no_activity, "order"));
  auto last =
      open("last.h5",
           sessioned_corpus([](int k, int length) { return k == length - 1 ? 1 : 0; }, "order"));
  const std::vector<double> exposed =
      probability(*order, PurchaseHead::kNextAction, Exposure::kActivity, 1);
  const std::vector<double> expected =
      probability(*last, PurchaseHead::kNextAction, Exposure::kAsLogged);
  for (size_t u = 0; u < exposed.size(); ++u) EXPECT_NEAR(exposed[u], expected[u], 1e-12) << u;
}

TEST(UserScores, ItemCategoriesAreTheMostFrequentCategoryOfEachItem) {
  ScratchDir dir("item_categories");
  data::CorpusContents c = eval::testing::make_eval_corpus(4, 6);  // items 1..5
  // Overwrite the events: 2 users of 5 events each, (item, category) pairs chosen here.
  const std::vector<std::pair<int32_t, int32_t>> events = {
      {1, 2}, {1, 2}, {1, 1}, {2, 3}, {3, 0},  // user 0
      {3, 0}, {3, 0}, {3, 4}, {2, 3}, {2, 1},  // user 1
  };
  // item 1: c2 x2, c1 x1 -> 2; item 2: c3 x2, c1 x1 -> 3; item 3: none x3, c4 x1 -> 4
  // (unknown categories do not count); items 4 and 5 never occur -> 0.
  c.item.clear();
  c.category.clear();
  for (const auto& [item, category] : events) {
    c.item.push_back(item);
    c.category.push_back(category);
  }
  const size_t n = events.size();
  c.action.assign(n, 1);
  c.time_gap.assign(n, 1);
  c.activity.assign(n, 0);
  c.purchase.assign(n, 0);
  c.timestamp.resize(n);
  for (size_t e = 0; e < n; ++e) c.timestamp[e] = 1000 + static_cast<int64_t>(e);
  c.offsets = {0, 5, 10};
  c.user_keys.resize(2);
  c.label_loo.assign(2, 0);
  c.label_time.assign(2, 0);
  c.time_train_length.assign(2, 0);
  c.item_count.assign(6, 0);
  const std::string path = dir.file("categories.h5");
  data::write_corpus(path, c);
  auto corpus = data::CorpusReader::open(path);
  EXPECT_EQ(item_categories(*corpus), (std::vector<int32_t>{0, 2, 3, 4, 0, 0}));
}

TEST(UserScores, ParsePurchaseHeadKnowsBothNames) {
  EXPECT_EQ(parse_purchase_head("propensity"), PurchaseHead::kPropensity);
  EXPECT_EQ(parse_purchase_head("next-action"), PurchaseHead::kNextAction);
  EXPECT_EQ(cf::testing::user_error_of([] { parse_purchase_head("next_action"); }),
            "--head: must be propensity or next-action (got 'next_action')");
  EXPECT_EQ(cf::testing::user_error_of([] { parse_purchase_head(""); }),
            "--head: must be propensity or next-action (got '')");
}

TEST(UserScores, ChoosePurchaseHeadPrefersPropensityAndNamesWhatIsMissing) {
  const data::VocabSizes vocab{31, 5, 5, 16, 2};
  auto model_with = [&](bool propensity, bool action) {
    trainer::ModelConfig config = eval::testing::tiny_eval_model_config(propensity);
    config.action_head = action;
    return trainer::Model(config, vocab);
  };
  const trainer::Model both = model_with(true, true), propensity_only = model_with(true, false),
                       action_only = model_with(false, true), neither = model_with(false, false);
  const std::optional<PurchaseHead> by_default, propensity = PurchaseHead::kPropensity,
                                                next_action = PurchaseHead::kNextAction;
  EXPECT_EQ(choose_purchase_head(both, by_default, "ck", "--campaign"), PurchaseHead::kPropensity);
  EXPECT_EQ(choose_purchase_head(both, next_action, "ck", "--campaign"), PurchaseHead::kNextAction);
  EXPECT_EQ(choose_purchase_head(propensity_only, by_default, "ck", "--campaign"),
            PurchaseHead::kPropensity);
  EXPECT_EQ(choose_purchase_head(action_only, by_default, "ck", "--campaign"),
            PurchaseHead::kNextAction);
  EXPECT_EQ(choose_purchase_head(action_only, next_action, "ck", "--campaign"),
            PurchaseHead::kNextAction);

  const std::string no_propensity =
      "--coupon: checkpoint runs/a/step_3 has no propensity head (fine-tune one with task.kind: "
      "propensity, or use --head next-action)";
  const std::string no_head =
      "--campaign: checkpoint runs/a/step_3 has neither a propensity head nor a next-action "
      "head, which this needs (fine-tune with task.kind: propensity)";
  EXPECT_EQ(cf::testing::user_error_of([&] {
              choose_purchase_head(action_only, propensity, "runs/a/step_3", "--coupon");
            }),
            no_propensity);
  EXPECT_EQ(cf::testing::user_error_of(
                [&] { choose_purchase_head(neither, propensity, "runs/a/step_3", "--coupon"); }),
            no_propensity);
  EXPECT_EQ(cf::testing::user_error_of(
                [&] { choose_purchase_head(neither, by_default, "runs/a/step_3", "--campaign"); }),
            no_head);
  // Asking for the next-action head of a model without one gets the same line.
  EXPECT_EQ(cf::testing::user_error_of([&] {
              choose_purchase_head(propensity_only, next_action, "runs/a/step_3", "--campaign");
            }),
            no_head);
}

}  // namespace
}  // namespace cf::marketing
