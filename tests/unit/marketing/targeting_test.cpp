// Targeting lists: top-N and threshold selection with ties and NaN scores on hand-made scores,
// the CSV text, and whole lists from a tiny model checked against the user scores they are made
// of (item sets and users selected here by hand), with their errors and callbacks.
#include "marketing/targeting.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "data/corpus.h"
#include "data/corpus_writer.h"
#include "trainer/model/model.h"
#include "unit/eval/eval_test_corpus.h"
#include "unit/marketing/scaled_model_fixture.h"
#include "unit/user_error_of.h"

namespace cf::marketing {
namespace {

using cf::testing::user_error_of;

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

TargetSelection top(int64_t n) {
  TargetSelection s;
  s.rule = TargetSelection::Rule::kTop;
  s.top = n;
  return s;
}

TargetSelection at_least(double threshold) {
  TargetSelection s;
  s.rule = TargetSelection::Rule::kThreshold;
  s.threshold = threshold;
  return s;
}

// Users 1 and 3 tie at the top, user 2 has no score, user 5 scores exactly 0.5 like user 4.
const std::vector<double> kScores = {0.2, 0.9, kNaN, 0.9, 0.5, 0.5, -1.0};

TEST(SelectTargets, TopKeepsTheHighestScoresTiesToTheLowerUser) {
  EXPECT_EQ(select_targets(kScores, top(1)), (std::vector<int64_t>{1}));
  EXPECT_EQ(select_targets(kScores, top(3)), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(select_targets(kScores, top(4)), (std::vector<int64_t>{1, 3, 4, 5}));
  // More than there are scores: every user with one, never the NaN one.
  EXPECT_EQ(select_targets(kScores, top(100)), (std::vector<int64_t>{1, 3, 4, 5, 0, 6}));
  EXPECT_TRUE(select_targets({kNaN, kNaN}, top(5)).empty());
  EXPECT_TRUE(select_targets({}, top(5)).empty());
}

TEST(SelectTargets, ThresholdKeepsScoresAtLeastIt) {
  EXPECT_EQ(select_targets(kScores, at_least(0.9)), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(select_targets(kScores, at_least(0.5)), (std::vector<int64_t>{1, 3, 4, 5}));
  EXPECT_EQ(select_targets(kScores, at_least(0.50001)), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(select_targets(kScores, at_least(-1.0)), (std::vector<int64_t>{1, 3, 4, 5, 0, 6}));
  EXPECT_EQ(select_targets(kScores, at_least(-1e9)), (std::vector<int64_t>{1, 3, 4, 5, 0, 6}));
  EXPECT_TRUE(select_targets(kScores, at_least(0.95)).empty());
  EXPECT_TRUE(select_targets({kNaN}, at_least(-1e9)).empty());
  // An infinite score is a score: it sorts first and passes any threshold.
  EXPECT_EQ(select_targets({0.1, kInf, kNaN}, at_least(0.0)), (std::vector<int64_t>{1, 0}));
}

TEST(SelectTargets, RefusesSelectionsOutOfRange) {
  EXPECT_EQ(user_error_of([] { select_targets(kScores, top(0)); }), "--top: must be > 0 (got 0)");
  EXPECT_EQ(user_error_of([] { select_targets(kScores, top(-2)); }), "--top: must be > 0 (got -2)");
  EXPECT_EQ(user_error_of([] { select_targets(kScores, at_least(kNaN)); }),
            "--threshold: must be a number");
  EXPECT_EQ(user_error_of([] { select_targets(kScores, at_least(-kInf)); }),
            "--threshold: must be a number");
}

TEST(TargetingCsv, RanksKeysAndScoresToEightDecimals) {
  TargetingList list;
  list.rows = {
      {4, "key-a", 0.123456789}, {0, "key-b", 0.5}, {2, "key-c", 1e-9}, {3, "key-d", kNaN}};
  EXPECT_EQ(targeting_csv(list),
            "rank,user_key,score\n"
            "1,key-a,0.12345679\n"
            "2,key-b,0.50000000\n"
            "3,key-c,0.00000000\n"
            "4,key-d,\n");
  EXPECT_EQ(targeting_csv(TargetingList{}), "rank,user_key,score\n");
}

TEST(FixedOrBlank, FixedDecimalsOrNothingForUndefinedNumbers) {
  EXPECT_EQ(fixed_or_blank(0.5, 4), "0.5000");
  EXPECT_EQ(fixed_or_blank(1234.5678, 2), "1234.57");
  EXPECT_EQ(fixed_or_blank(-0.25, 1), "-0.2");  // round half to even, as printf does
  EXPECT_EQ(fixed_or_blank(3.0, 0), "3");
  EXPECT_EQ(fixed_or_blank(kNaN, 4), "");
  EXPECT_EQ(fixed_or_blank(kInf, 4), "");
  EXPECT_EQ(fixed_or_blank(-kInf, 4), "");
}

// ---- whole lists from a tiny model ----------------------------------------------------------

class TargetingListTest : public testing::ScaledModelTest {
 protected:
  TargetingListTest() : ScaledModelTest("targeting") {}
  void SetUp() override { open_corpus_and_model(29); }

  TargetingRequest request(TargetKind kind, const std::string& target,
                           TargetSelection selection) const {
    TargetingRequest r;
    r.kind = kind;
    r.target = target;
    r.selection = selection;
    r.checkpoint = "runs/x/checkpoints/step_7";
    return r;
  }

  // in_set over the item vocabulary for a list of item tokens.
  std::vector<uint8_t> item_set(const std::vector<int32_t>& tokens) const {
    std::vector<uint8_t> in_set(contents_.item_raw.size(), 0);
    for (int32_t t : tokens) in_set[static_cast<size_t>(t)] = 1;
    return in_set;
  }

  // The rows a list of these scores must hold: users by decreasing score (ties to the lower
  // user), the first `keep`, with their keys.
  std::vector<TargetRow> expected_rows(const std::vector<double>& score, size_t keep) const {
    std::vector<int64_t> users(score.size());
    std::iota(users.begin(), users.end(), int64_t{0});
    std::sort(users.begin(), users.end(), [&](int64_t a, int64_t b) {
      const double sa = score[static_cast<size_t>(a)], sb = score[static_cast<size_t>(b)];
      return sa != sb ? sa > sb : a < b;
    });
    std::vector<TargetRow> rows;
    for (size_t r = 0; r < keep; ++r) {
      const size_t u = static_cast<size_t>(users[r]);
      rows.push_back({users[r], contents_.user_keys[u], score[u]});
    }
    return rows;
  }

  static void expect_rows(const std::vector<TargetRow>& got, const std::vector<TargetRow>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t r = 0; r < got.size(); ++r) {
      EXPECT_EQ(got[r].user, want[r].user) << r;
      EXPECT_EQ(got[r].user_key, want[r].user_key) << r;
      EXPECT_EQ(got[r].score, want[r].score) << r;
    }
  }

  static double mean(const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return sum / static_cast<double>(v.size());
  }
};

TEST_F(TargetingListTest, CategoryScoresAreTheNextItemMassOfItsItems) {
  // make_eval_corpus gives item i the category 1 + i % 4 on every event: c2 = token 2 holds
  // the items with i % 4 == 1.
  std::vector<int32_t> c2_items;
  for (int32_t i = 1; i < static_cast<int32_t>(contents_.item_raw.size()); ++i) {
    if (i % 4 == 1) c2_items.push_back(i);
  }
  const std::vector<double> mass =
      next_item_mass(*model_, *corpus_, item_set(c2_items), ScoringOptions{});
  std::vector<std::pair<std::string, int64_t>> calls;
  TargetingCallbacks callbacks;
  callbacks.progress = [&](const std::string& stage, int64_t done, int64_t total) {
    calls.emplace_back(stage, done);
    EXPECT_EQ(total, 30);
  };
  callbacks.notice = [](const std::string& message) { ADD_FAILURE() << message; };
  const TargetingList list = build_targeting_list(
      *model_, *corpus_, request(TargetKind::kCategory, "c2", top(5)), callbacks);
  EXPECT_EQ(list.score_definition, "P(next item is in category c2)");
  EXPECT_EQ(list.users_scored, 30);
  EXPECT_NEAR(list.mean_score, mean(mass), 1e-15);
  expect_rows(list.rows, expected_rows(mass, 5));
  ASSERT_FALSE(calls.empty());
  for (const auto& [stage, done] : calls) EXPECT_EQ(stage, "scoring");
  EXPECT_EQ(calls.back().second, 30);
}

TEST_F(TargetingListTest, ItemListScoresItsItemsAndCountsTheUnknownOnes) {
  const std::string path = dir_.file("brand.txt");
  std::ofstream(path) << "# brand\nsku-105\r\nsku-999\n\nsku-117\nsku-105\nnope\n";
  const std::vector<double> mass =
      next_item_mass(*model_, *corpus_, item_set({5, 17}), ScoringOptions{});
  // A threshold at the 8th highest mass keeps 8 users (the masses are distinct).
  std::vector<double> sorted = mass;
  std::sort(sorted.rbegin(), sorted.rend());
  ASSERT_GT(sorted[7], sorted[8]);
  std::vector<std::string> notices;
  TargetingCallbacks callbacks;
  callbacks.notice = [&](const std::string& message) { notices.push_back(message); };
  const TargetingList list = build_targeting_list(
      *model_, *corpus_, request(TargetKind::kItems, path, at_least(sorted[7])), callbacks);
  EXPECT_EQ(list.score_definition, "P(next item is one of the items in " + path + ")");
  expect_rows(list.rows, expected_rows(mass, 8));
  EXPECT_EQ(notices,
            std::vector<std::string>{path + ": 2 of its item ids are not in the corpus (ignored)"});
}

TEST_F(TargetingListTest, CampaignScoresArePurchaseProbabilitiesWithTheCampaignLive) {
  ScoringOptions scoring;
  scoring.max_users = 12;
  TargetingRequest r = request(TargetKind::kCampaign, "coupon", top(4));
  r.scoring = scoring;
  // Default head: the propensity head, which the model has.
  const std::vector<double> propensity = purchase_probability(
      *model_, *corpus_, PurchaseHead::kPropensity, Exposure::kActivity, 1, scoring);
  const TargetingList list = build_targeting_list(*model_, *corpus_, r);
  EXPECT_EQ(list.score_definition,
            "P(next event is a purchase | campaign coupon live now), propensity head");
  EXPECT_EQ(list.users_scored, 12);
  EXPECT_NEAR(list.mean_score, mean(propensity), 1e-15);
  expect_rows(list.rows, expected_rows(propensity, 4));

  r.head = PurchaseHead::kNextAction;
  const std::vector<double> next_action = purchase_probability(
      *model_, *corpus_, PurchaseHead::kNextAction, Exposure::kActivity, 1, scoring);
  const TargetingList by_action = build_targeting_list(*model_, *corpus_, r);
  EXPECT_EQ(by_action.score_definition,
            "P(next event is a purchase | campaign coupon live now), next-action head");
  expect_rows(by_action.rows, expected_rows(next_action, 4));
}

TEST_F(TargetingListTest, ErrorsNameTheFlagAndTheCorpusOrCheckpoint) {
  EXPECT_EQ(user_error_of([&] {
              build_targeting_list(*model_, *corpus_, request(TargetKind::kCategory, "c9", top(3)));
            }),
            "--category 'c9': not a category of " + corpus_path_ + " (it has 4: c1, c2, c3, c4)");
  EXPECT_EQ(
      user_error_of([&] {
        build_targeting_list(*model_, *corpus_, request(TargetKind::kCampaign, "spring", top(3)));
      }),
      "--campaign 'spring': not a campaign (activity) of " + corpus_path_ + " (it has 1: coupon)");
  const std::string missing = dir_.file("missing.txt");
  EXPECT_EQ(user_error_of([&] {
              build_targeting_list(*model_, *corpus_, request(TargetKind::kItems, missing, top(3)));
            }),
            missing + ": cannot open the item list");

  trainer::Model no_heads(eval::testing::tiny_eval_model_config(/*propensity_head=*/false),
                          corpus_->vocab_sizes());
  EXPECT_EQ(user_error_of([&] {
              build_targeting_list(no_heads, *corpus_,
                                   request(TargetKind::kCampaign, "coupon", top(3)));
            }),
            "--campaign: checkpoint runs/x/checkpoints/step_7 has neither a propensity head nor "
            "a next-action head, which this needs (fine-tune with task.kind: propensity)");
  // A category needs neither head: a next-item model alone is enough.
  EXPECT_EQ(build_targeting_list(no_heads, *corpus_, request(TargetKind::kCategory, "c1", top(3)))
                .rows.size(),
            3u);
}

}  // namespace
}  // namespace cf::marketing
