// cartformer: one binary, one subcommand per stage of the pipeline.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "core/error.h"
#include "kernels/cpu/blas_kernel_choice.h"
#include "tools/cli/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

const Command kCommands[] = {
    {"synth", cf::cli::run_synth, "generate a seeded synthetic behaviour log (trio CSV format)"},
    {"prep", cf::cli::run_prep, "turn raw behaviour logs into a tokenized HDF5 corpus"},
    {"train", cf::cli::run_train,
     "pretrain or fine-tune a model on a corpus (checkpoints, metrics)"},
    {"sweep", cf::cli::run_sweep,
     "train a grid (or random draws) of config values, rank them on validation"},
    {"eval", cf::cli::run_eval,
     "offline next-item and propensity metrics beside baselines -> eval.json"},
    {"generate", cf::cli::run_generate, "top-K next-item recommendations from a checkpoint"},
    {"copy", cf::cli::run_copy, "product copy for a title and segment from a copy model"},
    {"report", cf::cli::run_report,
     "offline evaluation as a self-contained HTML report; --compare A B"},
    {"target", cf::cli::run_target,
     "rank users for a category or campaign; allocate coupons under a budget"},
    {"inspect", cf::cli::run_inspect, "describe a corpus file or a checkpoint"},
    {"privacy", cf::cli::run_privacy,
     "DP-SGD accountant: epsilon of a training plan, or the noise a target needs"},
};

void print_usage(FILE* out) {
  std::fprintf(
      out,
      "usage: cartformer <command> [options]   (cartformer <command> --help for details)\n\n"
      "commands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  cf::ops::cpu::use_matching_openblas_kernels(argv);  // may start this program again
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const std::exception& e) {  // cf::UserError and anything a library throws
      std::fprintf(stderr, "cartformer %s: error: %s\n", c.name, cf::single_line(e.what()).c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "cartformer: unknown command '%s'\n", argv[1]);
  print_usage(stderr);
  return 2;
}
