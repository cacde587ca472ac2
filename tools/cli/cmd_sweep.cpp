// cartformer sweep: trains one run per combination of config values (a grid, or N combinations
// drawn from it), scores each on validation, and writes the table and the best config.
// Resumable: rerunning the same command skips finished trials and continues an interrupted one.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/config_fields.h"
#include "core/error.h"
#include "sweep/results_table.h"
#include "sweep/sweep_axes.h"
#include "sweep/sweep_store.h"
#include "sweep/trial_configs.h"
#include "sweep/trial_exchange.h"
#include "sweep/trial_plan.h"
#include "sweep/trial_runner.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/job_errors.h"
#include "tools/cli/progress_line.h"
#include "tools/cli/stop_signals.h"
#include "trainer/comm/rank_zero.h"
#include "trainer/comm/world.h"
#include "trainer/config.h"

namespace cf::cli {
namespace {

using sweep::TrialPlan;
using sweep::TrialResult;
using sweep::TrialStatus;

TrialPlan plan_of(const ArgParser& args, const std::vector<sweep::SweepAxis>& axes, bool lead) {
  if (!args.has("random")) {
    if (args.has("seed")) throw UserError("--seed applies to --random draws only");
    return sweep::grid_plan(axes);
  }
  const int64_t count = args.get_int("random", 1);
  const uint64_t seed = args.has("seed") ? uint64_t(args.get_int("seed", 0)) : 1;
  TrialPlan plan = sweep::random_plan(axes, count, seed);
  if (lead && int64_t(plan.trials.size()) < count) {
    std::fprintf(stderr, "sweep: --random %lld: the grid has only %zu combinations, taking each\n",
                 (long long)count, plan.trials.size());
  }
  return plan;
}

std::string result_note(const TrialResult& r) {
  char text[160];
  if (r.status == TrialStatus::kDone) {
    std::snprintf(text, sizeof text, "%s %.4f at step %lld (%lld steps%s, %.1f s)",
                  r.metric.c_str(), r.value, (long long)r.best_step, (long long)r.steps,
                  r.stopped_early ? ", stopped early" : "", r.wall_seconds);
    return text;
  }
  return "failed: " + r.error;
}

int sweep_command(int argc, char** argv, trainer::comm::Communicator& world) {
  ArgParser args(
      "sweep",
      "Trains one run per combination of config values and ranks them by their best\n"
      "validation metric (validation.metric). Trials run one after another, or spread over\n"
      "the ranks of `mpirun -np R` (each trial on one rank). Rerunning the same command\n"
      "resumes: finished trials are skipped, an interrupted one continues from its checkpoint.\n"
      "Writes DIR/plan.json, DIR/trials/<id>/ (each trial's run directory and trial.json),\n"
      "DIR/sweep.csv, DIR/sweep.md and DIR/best.yaml.");
  args.option("config", "FILE", "base YAML config of every trial (configs/...)");
  args.option("grid", "KEY=V1,V2,...",
              "a config key and its values; trials = every combination (first flag slowest)", "",
              true);
  args.option("random", "N", "train N distinct combinations drawn uniformly instead of all");
  args.option("seed", "S", "seed of the --random draws (default 1)");
  args.option("set", "KEY=VALUE", "override a config key in every trial", "", true);
  args.option("out-dir", "DIR", "sweep directory (run.out_dir of trial t000 is DIR/trials/t000)");
  args.option("max-trials", "K", "train at most K trials now, then write the table so far");
  args.option("device", "auto|cpu|cuda", "compute backend of every trial (overrides run.device)");
  args.flag("quiet", "no per-step progress lines or trainer notices");
  if (!args.parse(argc, argv)) return 0;

  const bool lead = world.rank() == 0;
  const bool quiet = args.get_flag("quiet");
  sweep::SweepBase base{args.require("config"), args.get_all("set"), args.require("out-dir")};
  if (args.has("device")) base.sets.push_back("run.device=" + args.get("device"));
  std::vector<sweep::SweepAxis> axes;
  for (const std::string& flag : args.get_all("grid")) axes.push_back(sweep::parse_grid_flag(flag));
  if (axes.empty()) throw UserError("--grid is required: give at least one KEY=V1,V2,...");
  sweep::require_distinct_keys(axes, base.sets);
  const int64_t max_trials = args.has("max-trials") ? args.get_int("max-trials", 0) : -1;

  // 1. The plan and every trial's config, checked before anything trains.
  const TrialPlan plan = plan_of(args, axes, lead);
  const std::vector<trainer::Config> configs = sweep::trial_configs(base, plan);
  const std::string metric = trainer::validation_metric_name(configs[0].validation.metric);
  sweep::PlanRecord record{base.config_path, base.sets, metric, {}};
  for (const trainer::Config& c : configs) record.config_digests.push_back(sweep::config_digest(c));
  const Json plan_doc = sweep::plan_json(plan, record);
  sweep::require_same_plan_on_all_ranks(world, plan_doc.dump());

  // 2. What earlier runs of this sweep finished (rank 0 reads the directory).
  std::vector<TrialResult> results(plan.trials.size());
  for (size_t i = 0; i < plan.trials.size(); ++i) results[i].id = plan.trials[i].id;
  trainer::comm::on_rank0(world, [&] {
    sweep::open_sweep_dir(base.out_dir, plan_doc);
    for (size_t i = 0; i < plan.trials.size(); ++i) {
      if (auto r = sweep::read_trial_result(base.out_dir, plan.trials[i].id)) results[i] = *r;
    }
  });
  sweep::broadcast_results(world, results);
  std::vector<size_t> pending;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].status == TrialStatus::kPending) pending.push_back(i);
  }
  const size_t recorded = results.size() - pending.size();
  if (max_trials >= 0 && pending.size() > size_t(max_trials)) pending.resize(size_t(max_trials));
  if (lead) {  // one write: the other ranks print too
    const std::string ranks =
        world.world_size() > 1 ? " on " + std::to_string(world.world_size()) + " ranks" : "";
    std::fprintf(stderr,
                 "sweep: %zu trials, validation %s; %zu recorded in %s before, %zu to train%s\n",
                 plan.trials.size(), metric.c_str(), recorded, base.out_dir.c_str(), pending.size(),
                 ranks.c_str());
  }

  // 3. This rank's trials, one after another, each alone on this rank.
  std::vector<TrialResult> mine;
  bool preempted = false;
  const std::string on_rank =
      world.world_size() > 1 ? " on rank " + std::to_string(world.rank()) : "";
  for (size_t k : sweep::trials_of_rank(pending.size(), world.rank(), world.world_size())) {
    const size_t i = pending[k];
    const sweep::Trial& trial = plan.trials[i];
    if (stop_signal_received()) {
      preempted = true;
      break;
    }
    std::fprintf(stderr, "sweep: %s (%s) training%s\n", trial.id.c_str(),
                 plan.describe(trial).c_str(), on_rank.c_str());
    trainer::TrainHooks hooks;
    hooks.stop_requested = stop_signal_received;
    if (!quiet) {
      hooks.on_message = [&](const std::string& m) {
        std::fprintf(stderr, "sweep: %s: %s\n", trial.id.c_str(), m.c_str());
      };
      hooks.on_progress = [&](const trainer::StepReport& r) {
        std::fprintf(stderr, "%s | %s\n", trial.id.c_str(), step_progress_line(r).c_str());
      };
    }
    const sweep::TrialRun run = sweep::run_trial(configs[i], trial, hooks, world.local_rank());
    if (run.preempted) {
      std::fprintf(stderr, "sweep: %s stopped by a stop signal after a checkpoint\n",
                   trial.id.c_str());
      preempted = true;
      break;
    }
    sweep::write_trial_result(base.out_dir, plan, trial, run.result);
    std::fprintf(stderr, "sweep: %s %s%s\n", trial.id.c_str(), result_note(run.result).c_str(),
                 run.resumed ? " (resumed)" : "");
    mine.push_back(run.result);
  }

  // 4. Rank 0 collects the results and writes the table.
  for (TrialResult& r : sweep::gather_results(world, mine)) {
    for (TrialResult& slot : results) {
      if (slot.id == r.id) slot = r;
    }
  }
  double stopped = preempted ? 1 : 0;
  world.all_reduce_max(&stopped, 1);
  trainer::comm::on_rank0(world, [&] {
    size_t done = 0, failed = 0;
    for (const TrialResult& r : results) {
      done += r.status == TrialStatus::kDone;
      failed += r.status == TrialStatus::kFailed;
    }
    const bool complete = done + failed == results.size();
    const int best = sweep::best_trial_index(results);
    std::optional<std::string> best_yaml;
    if (complete && best >= 0) best_yaml = trainer::to_yaml(configs[size_t(best)]);
    sweep::write_sweep_outputs(base.out_dir, sweep::results_csv(plan, results, metric),
                               sweep::results_markdown(plan, results, metric), best_yaml);
    if (failed > 0) {
      std::fprintf(stderr, "sweep: %zu of %zu trials failed (see %s/sweep.md)\n", failed,
                   results.size(), base.out_dir.c_str());
    }
    if (!complete) {
      std::fprintf(stderr,
                   "sweep: %zu of %zu trials finished%s; rerun the same command to continue\n",
                   done + failed, results.size(), stopped > 0 ? " (stopped by a stop signal)" : "");
    }
    if (best < 0) {
      if (complete) throw UserError("every trial failed; see " + base.out_dir + "/sweep.md");
      return;
    }
    // The value as sweep.csv holds it, so the line can be checked against the table.
    const sweep::Trial& winner = plan.trials[size_t(best)];
    std::string line = std::string(complete ? "best" : "best so far") + ": " + winner.id + " " +
                       metric + " " + config_fields::shortest_decimal(results[size_t(best)].value) +
                       " (" + plan.describe(winner) + ")";
    if (complete) line += " -> " + base.out_dir + "/best.yaml";
    std::printf("%s\n", line.c_str());
  });
  return stopped > 0 ? kPreemptedExitCode : 0;
}

}  // namespace

int run_sweep(int argc, char** argv) {
  install_stop_handlers();  // first: see stop_signals.h
  auto world = trainer::comm::open_world();
  return run_on_every_rank("sweep", *world, [&] { return sweep_command(argc, argv, *world); });
}

}  // namespace cf::cli
