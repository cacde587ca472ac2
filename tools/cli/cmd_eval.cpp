// cartformer eval: next-item (and propensity) metrics of a checkpoint beside the baselines.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/corpus.h"
#include "data/training_split.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "eval/eval_users.h"
#include "eval/evaluator.h"
#include "trainer/checkpoint.h"
#include "trainer/model/model.h"

namespace cf::cli {

namespace {

data::Split parse_split(const std::string& name) {
  if (name == "test") return data::Split::kTest;
  if (name == "validation") return data::Split::kValidation;
  throw UserError("--split: must be test or validation, got '" + name + "'");
}

}  // namespace

int run_eval(int argc, char** argv) {
  ArgParser args(
      "eval",
      "Offline next-item evaluation under leave-one-out: HR@K, NDCG@K (K = 1,5,10,20,50) and MRR\n"
      "for full ranking with the history filtered out (main protocol), full ranking unfiltered,\n"
      "and 1 target + N sampled negatives (uniform, popularity); AUC, log loss and ECE of the\n"
      "propensity head when the checkpoint has one; the same for the most-popular and\n"
      "co-occurrence baselines on the same users. Writes eval.json, eval.md and eval_users.csv\n"
      "(per-user ranks and propensity logits, what `cartformer report` reads).");
  args.option("checkpoint", "DIR",
              "checkpoint step_N directory, or a run directory / checkpoints root (its best "
              "checkpoint by validation metric, else the newest valid)");
  args.option("corpus", "FILE", "corpus .h5 (same vocabulary as the checkpoint)");
  args.option("split", "NAME", "test (target = last event) or validation (second-to-last)", "test");
  args.option("out-dir", "DIR", "where the eval files go (default: <checkpoint>/eval, or "
                                "./eval without a checkpoint)");
  args.option("max-users", "N", "evaluate only the first N eligible users (0 = all)", "0");
  args.option("seed", "S", "seed of the sampled negatives", "42");
  args.option("negatives", "N", "negatives per user in the sampled protocols", "100");
  args.flag("baselines-only", "evaluate the baselines only (no checkpoint needed)");
  args.flag("quiet", "no progress lines");
  if (!args.parse(argc, argv)) return 0;

  const std::string corpus_path = args.require("corpus");
  const bool baselines_only = args.get_flag("baselines-only");
  if (!baselines_only && !args.has("checkpoint")) {
    throw UserError("--checkpoint: required (or use --baselines-only)");
  }
  eval::EvalOptions options;
  options.split = parse_split(args.get("split"));
  options.max_users = args.get_int("max-users", 0);
  options.seed = static_cast<uint64_t>(args.get_int("seed"));
  options.num_negatives = static_cast<int>(args.get_int("negatives", 1, 1000000));
  if (options.max_users < 0) throw UserError("--max-users: must be >= 0");
  if (options.num_negatives < 1) throw UserError("--negatives: must be >= 1");

  std::unique_ptr<data::CorpusReader> corpus = data::CorpusReader::open(corpus_path);
  std::string checkpoint_dir, chosen_because;
  std::optional<trainer::Model> model;
  if (args.has("checkpoint")) {
    checkpoint_dir = trainer::resolve_checkpoint_dir(args.get("checkpoint"), &chosen_because);
  }
  if (!baselines_only) {
    trainer::LoadedCheckpoint ckpt = trainer::load_checkpoint(checkpoint_dir, false);
    trainer::require_behaviour_model(ckpt, "eval");
    trainer::require_same_vocab(ckpt, corpus_path, corpus->vocab_fingerprint(),
                                corpus->vocab_sizes());
    model.emplace(trainer::model_from_checkpoint(ckpt, *corpus));
    eval::use_checkpoint(options, checkpoint_dir, ckpt, *corpus);
    std::fprintf(stderr, "eval: checkpoint %s (step %lld; %s)\n", checkpoint_dir.c_str(),
                 static_cast<long long>(ckpt.state.step), chosen_because.c_str());
  }
  std::string out_dir = args.get("out-dir");
  if (out_dir.empty()) {
    out_dir = checkpoint_dir.empty() ? std::string("eval")
                                     : (std::filesystem::path(checkpoint_dir) / "eval").string();
  }

  const bool quiet = args.get_flag("quiet");
  std::unique_ptr<ProgressMeter> meter;
  std::string meter_stage;
  auto progress = [&](const std::string& stage, int64_t done, int64_t total) {
    if (quiet) return;
    if (stage != meter_stage) {  // each stage ends with done == total, which finished it
      const bool scoring = stage == "scoring";
      meter = std::make_unique<ProgressMeter>(
          scoring ? "eval: scoring" : "eval: co-occurrence counts", static_cast<double>(total),
          scoring ? "users" : "sequences");
      meter_stage = stage;
    }
    if (done >= total) {
      meter->finish(static_cast<double>(done));
    } else {
      meter->update(static_cast<double>(done));
    }
  };

  eval::Evaluator evaluator(*corpus, options);
  eval::EvalReport report = evaluator.run(model ? &*model : nullptr, progress);

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw UserError(out_dir + ": cannot create output directory: " + ec.message());
  const std::string json_path = (std::filesystem::path(out_dir) / eval::kEvalJsonFile).string();
  const std::string md_path = (std::filesystem::path(out_dir) / eval::kEvalMarkdownFile).string();
  const std::string users_path = (std::filesystem::path(out_dir) / eval::kEvalUsersFile).string();
  write_file_atomically(users_path, eval::eval_users_csv(report.scorers, report.users));
  write_file_atomically(md_path, report.markdown);
  write_file_atomically(json_path, report.json.dump(2) + "\n");

  std::fputs(report.markdown.c_str(), stdout);
  std::printf("\neval.json: %s\neval.md: %s\neval_users.csv: %s\n", json_path.c_str(),
              md_path.c_str(), users_path.c_str());
  return 0;
}

}  // namespace cf::cli
