// Coupon plans: the summary JSON (identified uplift claims its estimates, unidentified keeps them
// apart), the CSV text and the summary's path on hand-made plans; whole plans from a tiny model
// against the allocators run here on the model's own probabilities, the value per purchase
// against an average order value computed here, and the errors.
#include "marketing/coupon_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "core/json.h"
#include "data/corpus.h"
#include "data/corpus_writer.h"
#include "marketing/ranked_allocation.h"
#include "trainer/model/model.h"
#include "unit/eval/eval_test_corpus.h"
#include "unit/marketing/scaled_model_fixture.h"
#include "unit/user_error_of.h"

namespace cf::marketing {
namespace {

using cf::testing::user_error_of;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Two coupons given to three candidates under a face-value budget of 15.
CouponPlan hand_made_plan(bool uplift_identified) {
  CouponPlan plan;
  plan.rows = {{"k1", "ten", 0.25, 1.2, 1.3, 0.1, 0.35},
               {"k3", "five", 0.25, 0.8, -0.3, 0.2, kNaN}};
  CouponPlanSummary& s = plan.summary;
  s.checkpoint = "runs/p/checkpoints/step_5";
  s.corpus = "data/c.h5";
  s.uplift_identified = uplift_identified;
  s.caveat = "what the numbers are";
  s.candidates = 3;
  s.budget_kind = BudgetKind::kFaceValue;
  s.budget = 15;
  s.budget_used = 15;
  s.value_per_purchase = 2;
  s.coupons = {{{"ten", 10, 4}, 1}, {{"five", 5, 5}, 1}, {{"one", 1, 0}, 0}};
  s.coupons_issued = 2;
  s.face_value_issued = 15;
  s.head = PurchaseHead::kNextAction;
  s.expected_extra_purchases = 0.5;
  s.expected_spend = 2;
  s.expected_net_value = -1;
  s.expected_return_on_spend = 0.5;
  return plan;
}

TEST(CouponPlanSummaryJson, IdentifiedUpliftClaimsTheExpectedEffects) {
  const std::string expected = R"json({
  "checkpoint": "runs/p/checkpoints/step_5",
  "corpus": "data/c.h5",
  "method": "uplift",
  "caveat": "what the numbers are",
  "candidates": 3,
  "budget": {
    "kind": "face value",
    "amount": 15.0,
    "used": 15.0
  },
  "value_per_purchase": 2.0,
  "coupons": [
    {
      "name": "ten",
      "face_value": 10.0,
      "cost_per_redemption": 4.0,
      "issued": 1
    },
    {
      "name": "five",
      "face_value": 5.0,
      "cost_per_redemption": 5.0,
      "issued": 1
    },
    {
      "name": "one",
      "face_value": 1.0,
      "cost_per_redemption": 0.0,
      "issued": 0
    }
  ],
  "coupons_issued": 2,
  "face_value_issued": 15.0,
  "purchase_head": "next-action",
  "uplift_definition": "P(next event is a purchase | coupon live in the current session) - P(... | no activity)",
  "expected_extra_purchases": 0.5,
  "expected_spend": 2.0,
  "expected_net_value": -1.0,
  "expected_return_on_spend": 0.5
}
)json";
  EXPECT_EQ(coupon_plan_summary_json(hand_made_plan(true)), expected);
}

TEST(CouponPlanSummaryJson, UnidentifiedUpliftKeepsTheModelsNumbersApart) {
  CouponPlan plan = hand_made_plan(false);
  plan.summary.budget_kind = BudgetKind::kCoupons;
  plan.summary.head = PurchaseHead::kPropensity;
  plan.summary.expected_return_on_spend = kNaN;  // no spend
  const std::string text = coupon_plan_summary_json(plan);
  ASSERT_EQ(text.back(), '\n');
  const Json s = Json::parse(text);
  EXPECT_EQ(s["method"], "propensity ranking (uplift not identified)");
  EXPECT_EQ(s["budget"]["kind"], "coupons");
  EXPECT_EQ(s["purchase_head"], "propensity");
  for (const char* key : {"expected_extra_purchases", "expected_spend", "expected_net_value",
                          "expected_return_on_spend"}) {
    EXPECT_FALSE(s.contains(key)) << key;
  }
  const Json& estimates = s["model_estimates_unidentified"];
  const Json expected_estimates = {{"expected_extra_purchases", 0.5},
                                   {"expected_spend", 2.0},
                                   {"expected_net_value", -1.0},
                                   {"expected_return_on_spend", nullptr}};
  EXPECT_EQ(estimates, expected_estimates);
  // The rest is the identified summary's, key for key and in the same order, up to the estimates.
  const Json identified = Json::parse(coupon_plan_summary_json(hand_made_plan(true)));
  std::vector<std::string> keys, identified_keys;
  for (const auto& item : s.items()) keys.push_back(item.key());
  for (const auto& item : identified.items()) identified_keys.push_back(item.key());
  ASSERT_EQ(keys.size(), 13u);  // 12 shared keys, then the estimates
  EXPECT_EQ(keys.back(), "model_estimates_unidentified");
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.end() - 1),
            std::vector<std::string>(identified_keys.begin(), identified_keys.begin() + 12));
}

TEST(CouponPlanCsv, RowsToSixDecimalsMoneyToFourUndefinedBlank) {
  EXPECT_EQ(coupon_plan_csv(hand_made_plan(true)),
            "user_key,coupon,expected_uplift,expected_cost,net_value,purchase_prob_without,"
            "purchase_prob_with\n"
            "k1,ten,0.250000,1.2000,1.3000,0.100000,0.350000\n"
            "k3,five,0.250000,0.8000,-0.3000,0.200000,\n");
  EXPECT_EQ(coupon_plan_csv(CouponPlan{}),
            "user_key,coupon,expected_uplift,expected_cost,net_value,purchase_prob_without,"
            "purchase_prob_with\n");
}

TEST(CouponSummaryPath, StemPlusSummaryBesideTheCsv) {
  EXPECT_EQ(coupon_summary_path("coupons.csv"), "coupons_summary.json");
  EXPECT_EQ(coupon_summary_path("runs/demo/coupons.csv"), "runs/demo/coupons_summary.json");
  EXPECT_EQ(coupon_summary_path("/tmp/a.b.csv"), "/tmp/a.b_summary.json");
  EXPECT_EQ(coupon_summary_path("out/plan"), "out/plan_summary.json");
}

// ---- whole plans from a tiny model ----------------------------------------------------------

class CouponPlanModelTest : public testing::ScaledModelTest {
 protected:
  CouponPlanModelTest() : ScaledModelTest("coupon_plan") {}
  void SetUp() override {
    contents_.activity_raw = {"<pad>", "a1", "a2"};
    contents_.item_price.assign(contents_.item_raw.size(), kNaN);
    for (size_t i = 1; i < contents_.item_price.size(); ++i) contents_.item_price[i] = 0.5 * i;
    open_corpus_and_model(31);  // scaled weights: coupons that clearly move the scores
  }

  CouponPlanRequest request(bool randomized) const {
    CouponPlanRequest r;
    r.coupons = {{"a1", 1.0, 0.2}, {"a2", 2.0, 0.1}};
    r.budget_kind = BudgetKind::kFaceValue;
    r.budget = 9;
    r.value_per_purchase = 10;
    r.exposure_randomized = randomized;
    r.checkpoint = "runs/p/checkpoints/step_9";
    return r;
  }

  std::vector<double> probability(Exposure exposure, int32_t activity,
                                  PurchaseHead head = PurchaseHead::kPropensity) const {
    return purchase_probability(*model_, *corpus_, head, exposure, activity, ScoringOptions{});
  }
};

TEST_F(CouponPlanModelTest, UpliftPlanIsTheAllocationOfTheModelsEffects) {
  const CouponPlanRequest r = request(true);
  const std::vector<double> without = probability(Exposure::kNone, 0);
  const std::vector<double> with_a1 = probability(Exposure::kActivity, 1);
  const std::vector<double> with_a2 = probability(Exposure::kActivity, 2);
  std::vector<CouponEffect> effects;
  for (size_t u = 0; u < without.size(); ++u) {
    effects.push_back({with_a1[u] - without[u], with_a1[u]});
    effects.push_back({with_a2[u] - without[u], with_a2[u]});
  }
  AllocationOptions options;
  options.budget_kind = BudgetKind::kFaceValue;
  options.budget = 9;
  options.value_per_purchase = 10;
  const AllocationResult expected = allocate_coupons(30, r.coupons, effects, options);
  ASSERT_GE(expected.assignments.size(), 2u) << "the instance should give some coupons";

  testing::RecordedCallbacks recorded;
  const CouponPlan plan = plan_coupons(*model_, *corpus_, r, recorded.callbacks());
  EXPECT_EQ(
      recorded.finished_stages,
      (std::vector<std::string>{"scoring without coupon", "scoring with a1", "scoring with a2"}));
  EXPECT_TRUE(recorded.notices.empty());

  ASSERT_EQ(plan.rows.size(), expected.assignments.size());
  double uplift = 0, cost = 0, face = 0;
  std::vector<int64_t> issued(2, 0);
  for (size_t i = 0; i < plan.rows.size(); ++i) {
    const Assignment& a = expected.assignments[i];
    const size_t u = static_cast<size_t>(a.user), c = static_cast<size_t>(a.coupon);
    const CouponPlanRow& row = plan.rows[i];
    EXPECT_EQ(row.user_key, contents_.user_keys[u]) << i;
    EXPECT_EQ(row.coupon, r.coupons[c].name) << i;
    EXPECT_DOUBLE_EQ(row.expected_uplift, (c == 0 ? with_a1 : with_a2)[u] - without[u]) << i;
    EXPECT_DOUBLE_EQ(row.purchase_prob_without, without[u]) << i;
    EXPECT_DOUBLE_EQ(row.purchase_prob_with, (c == 0 ? with_a1 : with_a2)[u]) << i;
    EXPECT_DOUBLE_EQ(row.expected_cost, r.coupons[c].cost_per_redemption * row.purchase_prob_with);
    EXPECT_DOUBLE_EQ(row.net_value, 10 * row.expected_uplift - row.expected_cost) << i;
    uplift += row.expected_uplift;
    cost += row.expected_cost;
    face += r.coupons[c].face_value;
    ++issued[c];
  }
  const CouponPlanSummary& s = plan.summary;
  EXPECT_TRUE(s.uplift_identified);
  EXPECT_EQ(s.caveat,
            "uplift estimated from logs declared randomised (--exposure-randomized): an estimate "
            "of the causal effect only if coupon exposure really was random");
  EXPECT_EQ(s.checkpoint, "runs/p/checkpoints/step_9");
  EXPECT_EQ(s.corpus, corpus_path_);
  EXPECT_EQ(s.candidates, 30);
  EXPECT_EQ(s.budget_kind, BudgetKind::kFaceValue);
  EXPECT_EQ(s.budget, 9);
  EXPECT_DOUBLE_EQ(s.budget_used, face);
  EXPECT_DOUBLE_EQ(s.face_value_issued, face);
  EXPECT_LE(face, 9);
  EXPECT_EQ(s.value_per_purchase, 10);
  ASSERT_EQ(s.coupons.size(), 2u);
  EXPECT_EQ(s.coupons[0].type.name, "a1");
  EXPECT_EQ(s.coupons[0].issued, issued[0]);
  EXPECT_EQ(s.coupons[1].type.name, "a2");
  EXPECT_EQ(s.coupons[1].issued, issued[1]);
  EXPECT_EQ(s.coupons_issued, static_cast<int64_t>(plan.rows.size()));
  EXPECT_EQ(s.head, PurchaseHead::kPropensity);
  EXPECT_NEAR(s.expected_extra_purchases, uplift, 1e-12);
  EXPECT_NEAR(s.expected_spend, cost, 1e-12);
  EXPECT_NEAR(s.expected_net_value, 10 * uplift - cost, 1e-12);
  EXPECT_NEAR(s.expected_return_on_spend, 10 * uplift / cost, 1e-9);
}

TEST_F(CouponPlanModelTest, WithoutRandomisedExposureTheFirstCouponGoesToTheLikeliestBuyers) {
  CouponPlanRequest r = request(false);
  r.budget_kind = BudgetKind::kCoupons;
  r.budget = 6.5;  // six coupons
  r.head = PurchaseHead::kNextAction;
  const std::vector<double> without = probability(Exposure::kNone, 0, PurchaseHead::kNextAction);
  const std::vector<double> with_a1 =
      probability(Exposure::kActivity, 1, PurchaseHead::kNextAction);
  std::vector<size_t> likeliest(without.size());
  std::iota(likeliest.begin(), likeliest.end(), size_t{0});
  std::stable_sort(likeliest.begin(), likeliest.end(),
                   [&](size_t a, size_t b) { return without[a] > without[b]; });

  testing::RecordedCallbacks recorded;
  const CouponPlan plan = plan_coupons(*model_, *corpus_, r, recorded.callbacks());
  // Only the coupon that is given is scored.
  EXPECT_EQ(recorded.finished_stages,
            (std::vector<std::string>{"scoring without coupon", "scoring with a1"}));
  const std::string caveat =
      "uplift is not identified: coupon exposure in these logs was not declared randomised, so a "
      "model of them confounds the coupon's effect with who was chosen to receive it. The first "
      "coupon listed (a1) goes to the users most likely to buy (propensity ranking); the uplift, "
      "cost and net columns are the model's unvalidated estimates. Pass --exposure-randomized if "
      "exposure was a randomised experiment.";
  EXPECT_EQ(recorded.notices, std::vector<std::string>{"note: " + caveat});
  EXPECT_EQ(plan.summary.caveat, caveat);
  EXPECT_FALSE(plan.summary.uplift_identified);
  EXPECT_EQ(plan.summary.head, PurchaseHead::kNextAction);

  ASSERT_EQ(plan.rows.size(), 6u);
  double uplift = 0, cost = 0;
  for (size_t i = 0; i < plan.rows.size(); ++i) {
    const size_t u = likeliest[i];
    const CouponPlanRow& row = plan.rows[i];
    EXPECT_EQ(row.user_key, contents_.user_keys[u]) << i;
    EXPECT_EQ(row.coupon, "a1") << i;
    EXPECT_DOUBLE_EQ(row.purchase_prob_without, without[u]) << i;
    EXPECT_DOUBLE_EQ(row.purchase_prob_with, with_a1[u]) << i;
    EXPECT_DOUBLE_EQ(row.expected_uplift, with_a1[u] - without[u]) << i;
    EXPECT_DOUBLE_EQ(row.expected_cost, 0.2 * with_a1[u]) << i;
    uplift += row.expected_uplift;
    cost += row.expected_cost;
  }
  EXPECT_EQ(plan.summary.coupons_issued, 6);
  EXPECT_EQ(plan.summary.coupons[0].issued, 6);
  EXPECT_EQ(plan.summary.coupons[1].issued, 0);
  EXPECT_DOUBLE_EQ(plan.summary.budget_used, 6);
  EXPECT_DOUBLE_EQ(plan.summary.face_value_issued, 6);
  EXPECT_NEAR(plan.summary.expected_extra_purchases, uplift, 1e-12);
  EXPECT_NEAR(plan.summary.expected_spend, cost, 1e-12);
}

TEST_F(CouponPlanModelTest, ValuePerPurchaseDefaultsToTheAverageOrderValue) {
  // Mean price of the items bought, over every purchase event (price of item i = i / 2).
  double total = 0;
  int64_t purchases = 0;
  for (size_t e = 0; e < contents_.item.size(); ++e) {
    if (!contents_.purchase[e]) continue;
    total += 0.5 * contents_.item[e];
    ++purchases;
  }
  ASSERT_GT(purchases, 0);
  CouponPlanRequest r = request(true);
  r.value_per_purchase.reset();
  r.scoring.max_users = 5;
  const CouponPlan plan = plan_coupons(*model_, *corpus_, r);
  EXPECT_NEAR(plan.summary.value_per_purchase, total / static_cast<double>(purchases), 1e-12);
  EXPECT_EQ(plan.summary.candidates, 5);
}

TEST_F(CouponPlanModelTest, ErrorsNameTheFlag) {
  CouponPlanRequest unknown = request(true);
  unknown.coupons.push_back({"spring", 1.0, 1.0});
  EXPECT_EQ(user_error_of([&] { plan_coupons(*model_, *corpus_, unknown); }),
            "--coupon 'spring': not an activity (coupon or campaign) of " + corpus_path_ +
                " (it has 2: a1, a2)");

  data::CorpusContents unpriced = contents_;
  unpriced.item_price.clear();
  const std::string unpriced_path = dir_.file("unpriced.h5");
  data::write_corpus(unpriced_path, unpriced);
  auto unpriced_corpus = data::CorpusReader::open(unpriced_path);
  CouponPlanRequest no_value = request(true);
  no_value.value_per_purchase.reset();
  EXPECT_EQ(user_error_of([&] { plan_coupons(*model_, *unpriced_corpus, no_value); }),
            "--value-per-purchase: required (" + unpriced_path +
                " has no purchase prices to take the average order value from)");

  trainer::ModelConfig action_only = eval::testing::tiny_eval_model_config(false);
  action_only.action_head = true;
  trainer::Model next_action_model(action_only, corpus_->vocab_sizes());
  CouponPlanRequest propensity = request(false);
  propensity.head = PurchaseHead::kPropensity;
  EXPECT_EQ(user_error_of([&] { plan_coupons(next_action_model, *corpus_, propensity); }),
            "--coupon: checkpoint runs/p/checkpoints/step_9 has no propensity head (fine-tune "
            "one with task.kind: propensity, or use --head next-action)");
}

}  // namespace
}  // namespace cf::marketing
