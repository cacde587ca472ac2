// Trial configs: built from the base file, --set and the trial's values, and every mistake
// refused before anything trains, naming the flag, the value or the trial.
#include "sweep/trial_configs.h"

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "unit/eval/eval_test_corpus.h"
#include "unit/user_error_of.h"

namespace cf::sweep {
namespace {

using cf::testing::user_error_of;

class TrialConfigsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data::write_corpus(scratch_.file("corpus.h5"), eval::testing::make_eval_corpus());
    base_path_ = scratch_.file("base.yaml");
    write_file_atomically(base_path_, "data:\n  corpus: " + scratch_.file("corpus.h5") +
                                          "\nmodel:\n  d_model: 16\n  n_head: 2\n");
  }
  SweepBase base(std::vector<std::string> sets = {"train.steps=7"}) const {
    return {base_path_, std::move(sets), scratch_.file("sweep")};
  }

  eval::testing::ScratchDir scratch_{"sweep_configs"};
  std::string base_path_;
};

TEST_F(TrialConfigsTest, BaseThenSetThenTheTrialsValues) {
  const TrialPlan plan = grid_plan({{"train.lr", {"0.01", "0.02"}}, {"model.n_head", {"1", "4"}}});
  const auto configs = trial_configs(base({"train.steps=7", "train.lr=0.5"}), plan);
  ASSERT_EQ(configs.size(), 4u);
  EXPECT_EQ(configs[3].train.steps, 7);
  EXPECT_FLOAT_EQ(configs[3].train.lr, 0.02f);  // the trial's value; train.lr is not on --set
  EXPECT_EQ(configs[3].model.n_head, 4);
  EXPECT_EQ(configs[3].model.d_model, 16);
  EXPECT_EQ(configs[2].run.out_dir, scratch_.file("sweep") + "/trials/t002");
  // The digest ignores run.out_dir and sees everything else.
  trainer::Config moved = configs[0];
  moved.run.out_dir = "elsewhere";
  EXPECT_EQ(config_digest(moved), config_digest(configs[0]));
  EXPECT_NE(config_digest(configs[1]), config_digest(configs[0]));
}

TEST_F(TrialConfigsTest, UnknownKeysAndUnreadableValuesNameTheirFlag) {
  EXPECT_EQ(user_error_of([&] {
              trial_configs(base(), grid_plan({{"train.stpes", {"1", "2"}}}));
            }),
            base_path_ +
                ": --grid train.stpes=1,2: unknown key 'train.stpes' (did you mean "
                "'train.steps'?)");
  EXPECT_EQ(user_error_of([&] {
              trial_configs(base({"train.stpes=3"}), grid_plan({{"train.lr", {"0.1"}}}));
            }),
            base_path_ +
                ": --set train.stpes=3: unknown key 'train.stpes' (did you mean 'train.steps'?)");
  // Every value is read, also one a random plan did not draw.
  const std::vector<SweepAxis> axes = {{"train.lr", {"0.1", "0.2", "fast"}}};
  const TrialPlan one = random_plan(axes, 1, 1);
  ASSERT_NE(one.trials[0].values[0], "fast");
  EXPECT_EQ(
      user_error_of([&] { trial_configs(base(), one); }),
      base_path_ + ": --grid train.lr=0.1,0.2,fast: key 'train.lr' expects a number, got 'fast'");
}

TEST_F(TrialConfigsTest, OutOfRangeValuesAndBadCombinationsAreNamed) {
  EXPECT_EQ(user_error_of([&] {
              trial_configs(base(),
                            grid_plan({{"train.lr", {"0.1"}}, {"model.dropout", {"0.1", "1.5"}}}));
            }),
            base_path_ +
                ": key 'model.dropout' must be in [0, 1), got 1.5 (value 1.5 of --grid "
                "model.dropout=0.1,1.5)");
  // Each value is fine with the others' first values; one combination is not.
  EXPECT_EQ(user_error_of([&] {
              trial_configs(base(), grid_plan({{"model.d_model", {"16", "12"}},
                                               {"model.n_head", {"2", "8"}}}));
            }),
            base_path_ +
                ": key 'model.d_model' (12) must be divisible by 'model.n_head' (8) (trial t003: "
                "model.d_model=12 model.n_head=8)");
  // A problem of the base config (or --set) is reported as it is, not pinned on a value.
  EXPECT_EQ(user_error_of([&] {
              trial_configs(base({"train.steps=0"}), grid_plan({{"train.lr", {"0.1", "0.2"}}}));
            }),
            base_path_ + ": key 'train.steps' must be >= 1, got 0");
}

TEST_F(TrialConfigsTest, TrialsMustShareOneValidationMetric) {
  EXPECT_EQ(user_error_of([&] {
              trial_configs(base(), grid_plan({{"task.kind", {"pretrain", "propensity"}}}));
            }),
            "trials t000 and t001 are scored by different validation metrics (ndcg@10, loss); a "
            "sweep compares its trials on one: give it with --set validation.metric=...");
  // Given once for all, the propensity task's loss metric serves both.
  const auto configs = trial_configs(base({"train.steps=7", "validation.metric=loss"}),
                                     grid_plan({{"task.kind", {"pretrain", "propensity"}}}));
  EXPECT_EQ(configs[1].validation.metric, trainer::ValidationMetric::kLoss);
}

TEST_F(TrialConfigsTest, ACorpusWithoutValidationTargetsIsRefused) {
  // One user with a single event: no validation event, so no trial could be scored.
  data::write_corpus(scratch_.file("short.h5"), eval::testing::make_eval_corpus(1));
  EXPECT_EQ(user_error_of([&] {
              trial_configs(base({"data.corpus=" + scratch_.file("short.h5")}),
                            grid_plan({{"train.lr", {"0.1", "0.2"}}}));
            }),
            scratch_.file("short.h5") +
                ": no user has a validation target (it takes 3 events: history, validation, "
                "test), so trial t000 could not be scored on validation ndcg@10, which the sweep "
                "ranks trials by");
}

TEST_F(TrialConfigsTest, AMissingBaseConfigIsNamed) {
  EXPECT_EQ(
      user_error_of([&] {
        trial_configs({scratch_.file("nope.yaml"), {}, "out"}, grid_plan({{"train.lr", {"0.1"}}}));
      }),
      scratch_.file("nope.yaml") + ": config file not found");
}

}  // namespace
}  // namespace cf::sweep
