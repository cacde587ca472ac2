// cartformer train: pretraining or fine-tuning from a YAML config, with resume.
#include <cstdio>
#include <memory>

#include "core/error.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/job_errors.h"
#include "tools/cli/progress_line.h"
#include "tools/cli/stop_signals.h"
#include "trainer/comm/world.h"
#include "trainer/config.h"
#include "trainer/train_loop.h"

namespace cf::cli {
namespace {

int train(int argc, char** argv, trainer::comm::Communicator& comm) {
  ArgParser args(
      "train",
      "Pretrains (task.kind: pretrain) or fine-tunes (next_item, propensity) a model on\n"
      "a corpus. Writes <run.out_dir>/checkpoints/step_N/, metrics.jsonl and\n"
      "config.resolved.yaml. Config keys: docs/configs.md.");
  args.option("config", "FILE", "YAML config (configs/...)");
  args.option("set", "KEY=VALUE", "override a config key, e.g. --set train.steps=200", "", true);
  args.option("resume", "auto|fresh|DIR",
              "continue from the newest valid checkpoint of the run (auto) or from DIR; fresh\n"
              "starts over, moving earlier checkpoints aside");
  args.option("stop-after", "N",
              "stop after step N with a checkpoint (resume later with --resume auto)");
  args.option("device", "auto|cpu|cuda",
              "compute backend (overrides run.device; auto takes a GPU when one is found)");
  args.flag("quiet", "no progress lines");
  if (!args.parse(argc, argv)) return 0;

  std::vector<std::string> overrides = args.get_all("set");
  if (args.has("device")) overrides.push_back("run.device=" + args.get("device"));
  trainer::Config config = trainer::load_config(args.require("config"), overrides);
  const bool quiet = args.get_flag("quiet");
  const bool lead = comm.rank() == 0;
  trainer::TrainHooks hooks;
  hooks.on_message = [](const std::string& m) { std::fprintf(stderr, "train: %s\n", m.c_str()); };
  if (args.has("stop-after")) hooks.stop_at_step = args.get_int("stop-after", 1);
  hooks.stop_requested = stop_signal_received;
  if (!quiet) {
    hooks.on_progress = [](const trainer::StepReport& r) {
      std::fprintf(stderr, "%s\n", step_progress_line(r).c_str());
    };
  }
  if (lead) {
    const std::string length = config.train.epochs > 0
                                   ? "epochs=" + std::to_string(config.train.epochs)
                                   : "steps=" + std::to_string(config.train.steps);
    std::fprintf(stderr, "train: %s task=%s %s out=%s\n", config.source_path.c_str(),
                 trainer::task_kind_name(config.task.kind), length.c_str(),
                 config.run.out_dir.c_str());
  }
  trainer::TrainOutcome out = trainer::run_training(config, args.get("resume"), hooks, &comm);
  if (out.preempted) {
    if (lead) {
      std::fprintf(stderr,
                   "train: stopped by a stop signal (SIGTERM/SIGUSR1) at step %lld; checkpoint "
                   "%s; continue with --resume auto (exit code %d)\n",
                   (long long)out.steps, out.final_checkpoint.c_str(), kPreemptedExitCode);
    }
    return kPreemptedExitCode;
  }
  if (!lead) return 0;
  std::printf("checkpoint: %s\n", out.final_checkpoint.c_str());
  std::printf("final loss: %.4f", out.final_loss);
  if (out.final_val_loss >= 0) std::printf("  validation loss: %.4f", out.final_val_loss);
  std::printf("  (%.0f tokens/s", out.mean_tokens_per_s);
  if (out.world_size > 1) std::printf(", %.1f s waiting on other ranks", out.comm_wait_seconds);
  std::printf(")\n");
  if (out.best_step >= 0) {
    std::printf("best validation %s %.4f at step %lld%s%s\n", out.validation_metric.c_str(),
                out.best_validation_value, (long long)out.best_step,
                out.best_checkpoint.empty() ? "" : ", kept in ", out.best_checkpoint.c_str());
  }
  if (out.stopped_early) {
    std::printf("stopped early at step %lld (validation.patience)\n", (long long)out.steps);
  }
  return 0;
}

}  // namespace

int run_train(int argc, char** argv) {
  install_stop_handlers();  // first: see stop_signals.h
  auto comm = trainer::comm::open_world();
  return run_on_every_rank("train", *comm, [&] { return train(argc, argv, *comm); });
}

}  // namespace cf::cli
