// cartformer train: pretraining or fine-tuning from a YAML config, with resume.
#include <cstdio>

#include "core/progress.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "trainer/config.h"
#include "trainer/train_loop.h"

namespace cf::cli {

int run_train(int argc, char** argv) {
  ArgParser args("train",
                 "Pretrains (task.kind: pretrain) or fine-tunes (next_item, propensity) a model on\n"
                 "a corpus. Writes <run.out_dir>/checkpoints/step_N/, metrics.jsonl and\n"
                 "config.resolved.yaml. Config keys: docs/configs.md.");
  args.option("config", "FILE", "YAML config (configs/...)");
  args.option("set", "KEY=VALUE", "override a config key, e.g. --set train.steps=200", "", true);
  args.option("resume", "auto|DIR",
              "continue from the newest valid checkpoint of the run (auto) or from DIR");
  args.option("stop-after", "N", "stop after step N with a checkpoint (resume later with --resume auto)");
  args.flag("quiet", "no progress lines");
  if (!args.parse(argc, argv)) return 0;

  trainer::Config config = trainer::load_config(args.require("config"), args.get_all("set"));
  const bool quiet = args.get_flag("quiet");
  trainer::TrainHooks hooks;
  hooks.on_message = [](const std::string& m) { std::fprintf(stderr, "train: %s\n", m.c_str()); };
  if (args.has("stop-after")) hooks.stop_at_step = args.get_int("stop-after");
  if (!quiet) {
    hooks.on_progress = [](const trainer::StepReport& r) {
      std::string val = r.val_loss >= 0 ? " | val " + std::to_string(r.val_loss).substr(0, 6) : "";
      std::fprintf(stderr,
                   "step %5lld/%lld | loss %.4f%s | lr %.2e | %s tok/s | norm %.2f | ETA %s\n",
                   (long long)r.step, (long long)r.total_steps, r.loss, val.c_str(), r.lr,
                   human_count(r.tokens_per_s).c_str(), r.grad_norm,
                   human_duration(r.eta_seconds).c_str());
    };
  }
  std::fprintf(stderr, "train: %s task=%s steps=%lld out=%s\n", config.source_path.c_str(),
               trainer::task_kind_name(config.task.kind), (long long)config.train.steps,
               config.run.out_dir.c_str());
  trainer::TrainOutcome out = trainer::run_training(config, args.get("resume"), hooks);
  std::printf("checkpoint: %s\n", out.final_checkpoint.c_str());
  std::printf("final loss: %.4f", out.final_loss);
  if (out.final_val_loss >= 0) std::printf("  validation loss: %.4f", out.final_val_loss);
  std::printf("  (%.0f tokens/s)\n", out.mean_tokens_per_s);
  return 0;
}

}  // namespace cf::cli
