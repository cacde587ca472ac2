#include "trainer/sampled_loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"

namespace cf::trainer {
namespace {

// Item counts of a 6-token vocabulary (token 0 padding): items 1..5 seen 1, 2, 4, 8, 0 times.
const std::vector<int64_t> kCounts = {0, 1, 2, 4, 8, 0};

LossSection sampled(ItemLoss kind, int negatives, NegativeSampling sampler, int in_batch = 0) {
  LossSection loss;
  loss.kind = kind;
  loss.negatives = negatives;
  loss.sampler = sampler;
  loss.in_batch_negatives = in_batch;
  return loss;
}

TEST(SampledLossPlan, UniformDrawsCoverEveryItemAndNeverPadding) {
  const SampledLossPlan plan(sampled(ItemLoss::kSampledSoftmax, 5, NegativeSampling::kUniform),
                             kCounts, "c.yaml", "corpus.h5");
  std::map<int32_t, int> seen;
  for (uint64_t seed = 0; seed < 2000; ++seed)
    for (int32_t item : plan.draw(seed)) ++seen[item];
  ASSERT_EQ(seen.size(), 5u);
  for (const auto& [item, n] : seen) {
    EXPECT_GE(item, 1);
    EXPECT_LE(item, 5);
    EXPECT_NEAR(n / 10000.0, 0.2, 0.02) << "item " << item;
  }
  // Uniform negatives alone shift every logit by the same constant: no logQ table.
  EXPECT_EQ(plan.item_log_q(), nullptr);
}

TEST(SampledLossPlan, DrawIsAFunctionOfTheSeed) {
  const SampledLossPlan plan(sampled(ItemLoss::kSampledSoftmax, 5, NegativeSampling::kPopularity),
                             kCounts, "c", "d");
  EXPECT_EQ(plan.draw(7), plan.draw(7));
  EXPECT_NE(plan.draw(7), plan.draw(8));
}

TEST(SampledLossPlan, PopularityFrequenciesFollowCountToTheAlpha) {
  LossSection loss = sampled(ItemLoss::kSampledSoftmax, 4, NegativeSampling::kPopularity);
  loss.popularity_alpha = 0.5f;
  const SampledLossPlan plan(loss, kCounts, "c", "d");
  const double total = 1 + std::sqrt(2.0) + 2 + std::sqrt(8.0);
  std::map<int32_t, int> seen;
  const int draws_per_seed = 4, seeds = 10000;
  for (uint64_t seed = 0; seed < seeds; ++seed)
    for (int32_t item : plan.draw(seed)) ++seen[item];
  EXPECT_EQ(seen.count(5), 0u);  // never seen in training: weight 0
  for (int32_t item = 1; item <= 4; ++item) {
    const double expected = std::sqrt(double(kCounts[size_t(item)])) / total;
    EXPECT_NEAR(plan.sampler_probability(item), expected, 1e-12);
    EXPECT_NEAR(seen[item] / double(draws_per_seed * seeds), expected, 0.01) << "item " << item;
  }
}

// logQ = log(expected number of times the item is among the candidates):
// K * P_sampler(v) + M * frequency(v), with never-drawable items given the smallest such value.
TEST(SampledLossPlan, LogQMatchesItsClosedForm) {
  LossSection loss = sampled(ItemLoss::kSampledSoftmax, 4, NegativeSampling::kUniform, 3);
  const SampledLossPlan plan(loss, kCounts, "c", "d");
  ASSERT_NE(plan.item_log_q(), nullptr);
  const std::vector<float>& log_q = *plan.item_log_q();
  for (int32_t item = 1; item <= 4; ++item) {
    const double expected = 4 * 0.2 + 3 * double(kCounts[size_t(item)]) / 15.0;
    EXPECT_NEAR(log_q[size_t(item)], std::log(expected), 1e-6) << "item " << item;
  }
  // Item 5 never occurs, but uniform draws still reach it: 4 * 0.2.
  EXPECT_NEAR(log_q[5], std::log(0.8), 1e-6);

  // Popularity only: item 5 cannot be drawn and takes the smallest drawable value (item 1's).
  const SampledLossPlan popular(
      sampled(ItemLoss::kSampledSoftmax, 4, NegativeSampling::kPopularity), kCounts, "c", "d");
  EXPECT_FLOAT_EQ((*popular.item_log_q())[5], (*popular.item_log_q())[1]);

  loss.logq_correction = false;
  EXPECT_EQ(SampledLossPlan(loss, kCounts, "c", "d").item_log_q(), nullptr);
}

// gSASRec's calibration: alpha = sampled negatives / (catalogue - 1),
// beta = alpha * (t * (1 - 1/alpha) + 1/alpha); t = 0 is plain BCE (beta = 1), t = 1 gives alpha.
TEST(SampledLossPlan, GbceBetaFollowsTheCalibrationFormula) {
  const std::vector<int64_t> counts(101, 1);  // 100 items
  LossSection loss = sampled(ItemLoss::kGbce, 9, NegativeSampling::kUniform, 2);
  const double alpha = 11.0 / 99.0;
  for (float t : {0.0f, 0.5f, 0.75f, 1.0f}) {
    loss.gbce_t = t;
    const SampledLossPlan plan(loss, counts, "c", "d");
    EXPECT_NEAR(plan.gbce_beta(), alpha * (t * (1 - 1 / alpha) + 1 / alpha), 1e-12) << t;
  }
  loss.gbce_t = 0;
  EXPECT_NEAR(SampledLossPlan(loss, counts, "c", "d").gbce_beta(), 1.0, 1e-12);
  loss.gbce_t = 1;
  EXPECT_NEAR(SampledLossPlan(loss, counts, "c", "d").gbce_beta(), alpha, 1e-12);
}

TEST(SampledLossPlan, ApplySetsTheStepsLossFields) {
  LossSection loss = sampled(ItemLoss::kGbce, 3, NegativeSampling::kUniform, 2);
  const SampledLossPlan plan(loss, kCounts, "c", "d");
  LossOptions options;
  plan.apply(options, 11);
  EXPECT_EQ(options.item_kind, ItemLoss::kGbce);
  EXPECT_EQ(options.shared_negatives, plan.draw(11));
  EXPECT_EQ(options.in_batch_negatives, 2);
  EXPECT_DOUBLE_EQ(options.gbce_beta, plan.gbce_beta());

  const SampledLossPlan full(LossSection{}, kCounts, "c", "d");
  LossOptions untouched;
  full.apply(untouched, 11);
  EXPECT_EQ(untouched.item_kind, ItemLoss::kFullSoftmax);
  EXPECT_TRUE(untouched.shared_negatives.empty());
}

TEST(SampledLossPlan, MoreNegativesThanItemsIsOneClearError) {
  try {
    SampledLossPlan(sampled(ItemLoss::kSampledSoftmax, 6, NegativeSampling::kUniform), kCounts,
                    "recipe.yaml", "beauty.h5");
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("recipe.yaml"), std::string::npos) << message;
    EXPECT_NE(message.find("loss.negatives"), std::string::npos) << message;
    EXPECT_NE(message.find("5 items"), std::string::npos) << message;
    EXPECT_NE(message.find("beauty.h5"), std::string::npos) << message;
  }
  // Exactly the catalogue is allowed.
  EXPECT_NO_THROW(SampledLossPlan(sampled(ItemLoss::kSampledSoftmax, 5, NegativeSampling::kUniform),
                                  kCounts, "c", "d"));
}

TEST(SampledLossPlan, PopularityWithoutTrainingCountsIsAnError) {
  const std::vector<int64_t> none(6, 0);
  EXPECT_THROW(SampledLossPlan(sampled(ItemLoss::kSampledSoftmax, 2, NegativeSampling::kPopularity),
                               none, "c", "d"),
               UserError);
}

}  // namespace
}  // namespace cf::trainer
