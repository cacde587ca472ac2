// The results table: rows in plan order, the best trial (by the metric's direction, first on
// ties) marked, exact values in the CSV, pending and failed rows.
#include "sweep/results_table.h"

#include <gtest/gtest.h>

namespace cf::sweep {
namespace {

TrialPlan two_axis_plan() {
  return grid_plan({{"train.lr", {"0.1", "0.2"}}, {"model.dropout", {"0", "0.1"}}});
}

TrialResult done(const std::string& id, const std::string& metric, double value, int64_t best_step,
                 int64_t steps, bool stopped_early = false) {
  TrialResult r;
  r.id = id;
  r.status = TrialStatus::kDone;
  r.metric = metric;
  r.value = value;
  r.best_step = best_step;
  r.steps = steps;
  r.stopped_early = stopped_early;
  r.wall_seconds = 1.5;
  return r;
}

TEST(ResultsTable, BestFollowsTheMetricsDirectionAndTheFirstTie) {
  std::vector<TrialResult> r = {
      done("t000", "ndcg@10", 0.2, 10, 20), done("t001", "ndcg@10", 0.3, 20, 20),
      done("t002", "ndcg@10", 0.3, 10, 20), done("t003", "ndcg@10", 0.1, 20, 20)};
  EXPECT_EQ(best_trial_index(r), 1);  // 0.3 twice: the first in plan order
  for (auto& x : r) x.metric = "loss";
  EXPECT_EQ(best_trial_index(r), 3);  // lower is better
  r[3].status = TrialStatus::kFailed;
  EXPECT_EQ(best_trial_index(r), 0);  // failed trials never win
  for (auto& x : r) x.status = TrialStatus::kPending;
  EXPECT_EQ(best_trial_index(r), -1);
}

TEST(ResultsTable, CsvHasOneRowPerTrialInPlanOrder) {
  const TrialPlan plan = two_axis_plan();
  std::vector<TrialResult> r = {done("t000", "hr@10", 0.1, 10, 20),
                                done("t001", "hr@10", 0.30000000000000004, 15, 15, true),
                                TrialResult{}, TrialResult{}};
  r[2].id = "t002";
  r[2].status = TrialStatus::kFailed;
  r[2].metric = "hr@10";
  r[2].error = "x.yaml: training diverged at step 3, \"loss\" nan";
  r[2].steps = 0;
  r[3].id = "t003";  // pending
  EXPECT_EQ(results_csv(plan, r, "hr@10"),
            "id,train.lr,model.dropout,hr@10,best_step,steps,stopped_early,wall_s,status,best\n"
            "t000,0.1,0,0.1,10,20,0,1.5,done,\n"
            "t001,0.1,0.1,0.30000000000000004,15,15,1,1.5,done,1\n"
            "t002,0.2,0,,,0,0,0.0,failed,\n"
            "t003,0.2,0.1,,,,,,pending,\n");
}

TEST(ResultsTable, CsvQuotesFieldsThatNeedIt) {
  const TrialPlan plan = grid_plan({{"task.init_from", {"runs/a,b", "say \"hi\""}}});
  const std::vector<TrialResult> r = {done("t000", "loss", 2.5, 4, 4),
                                      done("t001", "loss", 2, 4, 4)};
  EXPECT_EQ(results_csv(plan, r, "loss"),
            "id,task.init_from,loss,best_step,steps,stopped_early,wall_s,status,best\n"
            "t000,\"runs/a,b\",2.5,4,4,0,1.5,done,\n"
            "t001,\"say \"\"hi\"\"\",2,4,4,0,1.5,done,1\n");
}

TEST(ResultsTable, MarkdownMarksTheBestAndListsFailures) {
  const TrialPlan plan = two_axis_plan();
  std::vector<TrialResult> r = {done("t000", "ndcg@10", 0.12344, 10, 20),
                                done("t001", "ndcg@10", 0.5, 20, 20), TrialResult{},
                                done("t003", "ndcg@10", 0.25, 5, 8, true)};
  r[2].id = "t002";
  r[2].status = TrialStatus::kFailed;
  r[2].metric = "ndcg@10";
  r[2].error = "a | b";
  const std::string md = results_markdown(plan, r, "ndcg@10");
  EXPECT_NE(md.find("3 of 4 trials done, 1 failed; validation ndcg@10 (higher is better); best: "
                    "t001, ndcg@10 0.5000."),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| id | train.lr | model.dropout | ndcg@10 | best step | steps | stopped early "
                    "| wall s | status | |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| t000 | 0.1 | 0 | 0.1234 | 10 | 20 | no | 1.5 | done | |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| t001 | 0.1 | 0.1 | 0.5000 | 20 | 20 | no | 1.5 | done | **best** |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| t003 | 0.2 | 0.1 | 0.2500 | 5 | 8 | yes | 1.5 | done | |\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("- t002 (train.lr=0.2 model.dropout=0): a \\| b\n"), std::string::npos) << md;
  EXPECT_EQ(md.find("**best**"), md.rfind("**best**"));  // one best row
}

}  // namespace
}  // namespace cf::sweep
