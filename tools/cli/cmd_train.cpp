// cartformer train: pretraining or fine-tuning from a YAML config, with resume.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "core/error.h"
#include "core/progress.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "trainer/comm/world.h"
#include "trainer/config.h"
#include "trainer/train_loop.h"

namespace cf::cli {
namespace {

// Exit code of a run stopped by SIGTERM/SIGUSR1 after writing its checkpoint (EX_TEMPFAIL:
// "try again later"; launch/slurm.sbatch requeues on it).
constexpr int kPreemptedExitCode = 75;

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

void install_stop_handlers() {
  struct sigaction action = {};
  action.sa_handler = on_stop_signal;
  action.sa_flags = SA_RESTART;  // writes to mpirun's pipes must not fail with EINTR
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

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
  hooks.stop_requested = [] { return g_stop_signal.load() != 0; };
  if (!quiet) {
    hooks.on_progress = [](const trainer::StepReport& r) {
      std::string val = r.val_loss >= 0 ? " | val " + std::to_string(r.val_loss).substr(0, 6) : "";
      if (r.val_ndcg_at_10 >= 0) {
        char buf[64];
        std::snprintf(buf, sizeof buf, " | val ndcg@10 %.4f hr@10 %.4f", r.val_ndcg_at_10,
                      r.val_hr_at_10);
        val += buf;
      }
      std::string wait;
      if (r.world_size > 1) {
        char buf[64];
        std::snprintf(buf, sizeof buf, " | comm wait %.1f ms (%.0f%%)", r.comm_wait_seconds * 1e3,
                      r.comm_share * 100);
        wait = buf;
      }
      std::fprintf(stderr,
                   "step %5lld/%lld | loss %.4f%s | lr %.2e | %s tok/s | norm %.2f%s | ETA %s\n",
                   (long long)r.step, (long long)r.total_steps, r.loss, val.c_str(), r.lr,
                   human_count(r.tokens_per_s).c_str(), r.grad_norm, wait.c_str(),
                   human_duration(r.eta_seconds).c_str());
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
  // Before anything slow (MPI start-up, reading the config): launchers forward SIGUSR1 to every
  // rank at once, and its default action would kill a rank that is still starting.
  install_stop_handlers();
  auto comm = trainer::comm::open_world();
  if (comm->world_size() == 1) return train(argc, argv, *comm);
  // Several ranks: an error on any of them must end all of them (the others would wait in
  // their next collective). When every rank fails alike (a bad config), rank 0 reports and
  // ends the job first; a rank that fails alone still reports, a moment later.
  try {
    return train(argc, argv, *comm);
  } catch (const std::exception& e) {
    const int rank = comm->rank();
    if (rank != 0) std::this_thread::sleep_for(std::chrono::seconds(2));
    std::string msg = e.what();
    if (rank != 0 && msg.rfind("rank ", 0) != 0) msg = "rank " + std::to_string(rank) + ": " + msg;
    std::fprintf(stderr, "cartformer train: error: %s\n", msg.c_str());
    std::fflush(stderr);
    trainer::comm::abort_world(1);
  }
}

}  // namespace cf::cli
