// The sweep directory: plan.json written once and compared on resume (naming the difference),
// trial.json round trips, and the outputs written together.
#include "sweep/sweep_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "unit/user_error_of.h"

namespace cf::sweep {
namespace {

namespace fs = std::filesystem;
using cf::testing::user_error_of;

class SweepStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("cf_sweep_store_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static TrialPlan plan() { return grid_plan({{"train.lr", {"0.1", "0.2"}}}); }
  static PlanRecord record() { return {"base.yaml", {"train.steps=20"}, "ndcg@10", {"aa", "bb"}}; }

  std::string dir_;
};

TEST_F(SweepStoreTest, PlanIsWrittenOnceAndTheSameSweepResumes) {
  const Json doc = plan_json(plan(), record());
  EXPECT_EQ(doc["trials"][1]["id"], "t001");
  EXPECT_EQ(doc["trials"][1]["values"]["train.lr"], "0.2");
  EXPECT_EQ(doc["trials"][1]["config_sha256"], "bb");
  EXPECT_TRUE(doc["random"].is_null());
  open_sweep_dir(dir_, doc);
  const std::string written = read_text_file(dir_ + "/plan.json");
  EXPECT_EQ(Json::parse(written), doc);
  PlanRecord moved = record();
  moved.config_path = "/elsewhere/base.yaml";  // another working directory: the same sweep
  open_sweep_dir(dir_, plan_json(plan(), moved));
  EXPECT_EQ(read_text_file(dir_ + "/plan.json"), written);
}

TEST_F(SweepStoreTest, ADifferentPlanIsRefusedNamingTheDifference) {
  open_sweep_dir(dir_, plan_json(plan(), record()));
  const std::string prefix = dir_ + "/plan.json: planned for another sweep (";
  const std::string suffix =
      "); rerun with the same flags to resume it, or choose another --out-dir";
  EXPECT_EQ(user_error_of([&] {
              open_sweep_dir(dir_, plan_json(grid_plan({{"train.lr", {"0.1", "0.3"}}}), record()));
            }),
            prefix +
                "--grid flags differ (there: --grid train.lr=0.1,0.2; here: --grid "
                "train.lr=0.1,0.3)" +
                suffix);
  EXPECT_EQ(
      user_error_of(
          [&] { open_sweep_dir(dir_, plan_json(random_plan(plan().axes, 2, 5), record())); }),
      prefix + "trial draws differ (there: the whole grid; here: --random 2 --seed 5)" + suffix);
  PlanRecord sets = record();
  sets.sets = {"train.steps=30"};
  EXPECT_EQ(user_error_of([&] { open_sweep_dir(dir_, plan_json(plan(), sets)); }),
            prefix +
                "--set flags differ (there: --set train.steps=20; here: --set train.steps=30)" +
                suffix);
  sets.sets = {"train.steps=20", "train.lr=0.5"};
  EXPECT_EQ(user_error_of([&] { open_sweep_dir(dir_, plan_json(plan(), sets)); }),
            prefix + "--set flags differ (there: none; here: --set train.lr=0.5)" + suffix);
  PlanRecord edited = record();
  edited.config_digests[1] = "cc";
  EXPECT_EQ(user_error_of([&] { open_sweep_dir(dir_, plan_json(plan(), edited)); }),
            prefix +
                "trial t001's resolved config differs (the base config file, or a file it names, "
                "changed?)" +
                suffix);
}

TEST_F(SweepStoreTest, TrialResultsRoundTrip) {
  const TrialPlan p = plan();
  EXPECT_FALSE(read_trial_result(dir_, "t000"));
  TrialResult done;
  done.id = "t000";
  done.status = TrialStatus::kDone;
  done.metric = "ndcg@10";
  done.value = 0.1 + 0.2;  // not a short decimal: must come back exactly
  done.best_step = 40;
  done.steps = 60;
  done.stopped_early = true;
  done.wall_seconds = 3.5;
  done.best_checkpoint = dir_ + "/trials/t000/checkpoints/step_40";
  write_trial_result(dir_, p, p.trials[0], done);
  auto back = read_trial_result(dir_, "t000");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, TrialStatus::kDone);
  EXPECT_EQ(back->value, done.value);
  EXPECT_EQ(back->best_step, 40);
  EXPECT_EQ(back->steps, 60);
  EXPECT_TRUE(back->stopped_early);
  EXPECT_EQ(back->wall_seconds, 3.5);
  EXPECT_EQ(back->best_checkpoint, done.best_checkpoint);
  EXPECT_EQ(Json::parse(read_text_file(dir_ + "/trials/t000/trial.json"))["values"]["train.lr"],
            "0.1");

  TrialResult failed;
  failed.id = "t001";
  failed.status = TrialStatus::kFailed;
  failed.metric = "ndcg@10";
  failed.error = "x.yaml: training diverged at step 3";
  write_trial_result(dir_, p, p.trials[1], failed);
  back = read_trial_result(dir_, "t001");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, TrialStatus::kFailed);
  EXPECT_EQ(back->error, failed.error);
}

TEST_F(SweepStoreTest, AnUnreadableTrialResultIsAnError) {
  fs::create_directories(dir_ + "/trials/t000");
  write_file_atomically(dir_ + "/trials/t000/trial.json", "{\"id\": \"t000\"");
  EXPECT_NE(user_error_of([&] {
              read_trial_result(dir_, "t000");
            }).find(dir_ + "/trials/t000/trial.json: not a trial result ("),
            std::string::npos);
  write_file_atomically(dir_ + "/trials/t000/trial.json",
                        R"({"id": "t000", "status": "done", "metric": "ndcg@10"})");
  EXPECT_NE(user_error_of([&] {
              read_trial_result(dir_, "t000");
            }).find(dir_ + "/trials/t000/trial.json: not a trial result ("),
            std::string::npos);
  write_file_atomically(dir_ + "/trials/t000/trial.json",
                        R"({"id": "t005", "status": "failed", "metric": "loss", "error": "x",
                            "steps": 0, "stopped_early": false, "wall_seconds": 0})");
  EXPECT_EQ(user_error_of([&] { read_trial_result(dir_, "t000"); }),
            dir_ +
                "/trials/t000/trial.json: the result of trial t005, not t000; delete it to "
                "train the trial again");
}

TEST_F(SweepStoreTest, OutputsAreWrittenTogetherAndAnUnfinishedSweepHasNoBest) {
  fs::create_directories(dir_);
  write_sweep_outputs(dir_, "csv\n", "md\n", std::string("best\n"));
  EXPECT_EQ(read_text_file(dir_ + "/sweep.csv"), "csv\n");
  EXPECT_EQ(read_text_file(dir_ + "/sweep.md"), "md\n");
  EXPECT_EQ(read_text_file(dir_ + "/best.yaml"), "best\n");
  write_sweep_outputs(dir_, "csv2\n", "md2\n", std::nullopt);
  EXPECT_EQ(read_text_file(dir_ + "/sweep.csv"), "csv2\n");
  EXPECT_FALSE(fs::exists(dir_ + "/best.yaml"));
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos);
  }
}

}  // namespace
}  // namespace cf::sweep
