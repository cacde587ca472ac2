// cartformer report: the offline evaluation as one self-contained HTML page (and its JSON), or
// two models side by side with paired bootstrap intervals (--compare A B).
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/corpus.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "report/copy_section.h"
#include "report/eval_source.h"
#include "report/report_builder.h"
#include "report/report_html.h"

namespace cf::cli {

namespace {

// `--compare A B` takes two values, which ArgParser's --name value form cannot: they are taken
// out here and the rest is parsed as usual.
std::vector<std::string> take_compare(int argc, char** argv, std::vector<char*>& rest) {
  std::vector<std::string> compare;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--compare") != 0) {
      rest.push_back(argv[i]);
      continue;
    }
    if (!compare.empty()) throw UserError("--compare: given twice");
    if (i + 2 >= argc || std::strncmp(argv[i + 1], "--", 2) == 0 ||
        std::strncmp(argv[i + 2], "--", 2) == 0) {
      throw UserError("--compare: needs two paths, A and B (checkpoints or eval output folders)");
    }
    compare = {argv[i + 1], argv[i + 2]};
    i += 2;
  }
  return compare;
}

}  // namespace

int run_report(int argc, char** argv) {
  ArgParser args(
      "report",
      "Offline evaluation report: one self-contained HTML file (inline CSS and SVG charts, opens\n"
      "from disk) and the report.json it is rendered from. Sections: run summary, training curves,\n"
      "next-item quality (HR@K / NDCG@K / MRR beside the baselines, 95% bootstrap intervals over\n"
      "users, breakdowns by history length, category and last action), purchase propensity (ROC,\n"
      "reliability, gain and lift, precision/recall at the top 1/5/10/20%), data profile (funnel,\n"
      "order value, repurchase, events per user).\n"
      "With --compare A B: model B against model A on the same users, every metric's difference\n"
      "with a paired bootstrap interval, significant ones marked (comparison.html/.json).\n"
      "Models are checkpoints (evaluated now) or eval output folders (eval.json + eval_users.csv).");
  args.option("corpus", "FILE", "corpus .h5 the models were trained on");
  args.option("checkpoint", "PATH",
              "next-item model: checkpoint, run directory, or eval output folder");
  args.option("propensity", "PATH",
              "optional second model whose propensity head the propensity section shows");
  args.option("copy", "PATH",
              "a copy evaluation (cartformer copy --evaluate: its folder or copy_eval.json): "
              "adds the marketing-copy section (alone, without --checkpoint)");
  args.option("run", "DIR", "training run whose metrics.jsonl is charted (repeatable; default: "
                            "the runs of the evaluated checkpoints)", "", /*repeatable=*/true);
  args.option("out-dir", "DIR", "where the HTML and JSON go (default: ./report or ./comparison)");
  args.option("bootstrap", "N", "bootstrap resamples for the intervals", "1000");
  args.option("seed", "S", "seed of the bootstrap resamples", "1234");
  args.option("max-users", "N", "evaluate only the first N eligible users of a checkpoint (0 = all)",
              "0");
  args.flag("quiet", "no progress lines");
  std::vector<char*> rest;
  const std::vector<std::string> compare = take_compare(argc, argv, rest);
  if (!args.parse(static_cast<int>(rest.size()), rest.data())) return 0;

  std::optional<Json> copy_evaluation;
  if (args.has("copy")) copy_evaluation = report::load_copy_evaluation(args.get("copy"));
  if (copy_evaluation && compare.empty() && !args.has("checkpoint")) {
    // A copy model alone: the report is its section.
    std::string out_dir = args.get("out-dir");
    if (out_dir.empty()) out_dir = "report";
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) throw UserError(out_dir + ": cannot create output directory: " + ec.message());
    const std::string json_path = (std::filesystem::path(out_dir) / "report.json").string();
    const std::string html_path = (std::filesystem::path(out_dir) / "report.html").string();
    const Json document = {{"kind", "copy_report"}, {"copy", *copy_evaluation}};
    write_files_atomically(
        {{json_path, document.dump(2, ' ', false, Json::error_handler_t::replace) + "\n"},
         {html_path, report::render_copy_report_html(*copy_evaluation)}});
    std::printf("report.html: %s\nreport.json: %s\n", html_path.c_str(), json_path.c_str());
    return 0;
  }
  const std::string corpus_path = args.require("corpus");
  report::ReportOptions options;
  options.bootstrap.resamples = static_cast<int>(args.get_int("bootstrap", 10, 1000000));
  options.bootstrap.seed = static_cast<uint64_t>(args.get_int("seed"));
  eval::EvalOptions eval_options;
  eval_options.max_users = args.get_int("max-users", 0);
  if (eval_options.max_users < 0) throw UserError("--max-users: must be >= 0");
  if (compare.empty() && !args.has("checkpoint")) {
    throw UserError("--checkpoint: required (or --compare A B)");
  }

  std::unique_ptr<data::CorpusReader> corpus = data::CorpusReader::open(corpus_path);
  const bool quiet = args.get_flag("quiet");
  std::unique_ptr<ProgressMeter> meter;
  std::string meter_stage;
  auto progress = [&](const std::string& stage, int64_t done, int64_t total) {
    if (quiet) return;
    if (stage != meter_stage) {
      meter = std::make_unique<ProgressMeter>("report: evaluating (" + stage + ")",
                                              static_cast<double>(total),
                                              stage == "scoring" ? "users" : "sequences");
      meter_stage = stage;
    }
    if (done >= total) meter->finish(static_cast<double>(done)); else meter->update(static_cast<double>(done));
  };
  auto load = [&](const std::string& path) {
    if (!quiet) std::fprintf(stderr, "report: %s\n", path.c_str());
    eval::EvalOutput out = report::evaluate_or_load(path, *corpus, eval_options, progress);
    // A run directory means its best checkpoint (resolve_checkpoint_dir): say which was taken.
    if (!quiet && out.dir != path) {
      std::fprintf(stderr, "report: %s -> checkpoint %s\n", path.c_str(), out.dir.c_str());
    }
    return out;
  };

  Json document;
  std::string html, stem;
  if (!compare.empty()) {
    report::require_same_corpus(compare[0], compare[1]);
    const eval::EvalOutput a = load(compare[0]);
    const eval::EvalOutput b = load(compare[1]);
    report::ComparisonInputs inputs;
    inputs.corpus = corpus.get();
    inputs.a = &a;
    inputs.b = &b;
    inputs.label_a = "A: " + compare[0];
    inputs.label_b = "B: " + compare[1];
    document = report::build_comparison(inputs, options);
    html = report::render_comparison_html(document);
    stem = "comparison";
  } else {
    const eval::EvalOutput next = load(args.get("checkpoint"));
    std::optional<eval::EvalOutput> propensity;
    if (args.has("propensity")) propensity = load(args.get("propensity"));
    report::ReportInputs inputs;
    inputs.corpus = corpus.get();
    inputs.next_item = &next;
    inputs.propensity = propensity ? &*propensity : nullptr;
    inputs.run_dirs = args.get_all("run");
    document = report::build_report(inputs, options);
    if (copy_evaluation) document["copy"] = *copy_evaluation;
    html = report::render_report_html(document);
    stem = "report";
  }

  std::string out_dir = args.get("out-dir");
  if (out_dir.empty()) out_dir = stem;
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw UserError(out_dir + ": cannot create output directory: " + ec.message());
  const std::string json_path = (std::filesystem::path(out_dir) / (stem + ".json")).string();
  const std::string html_path = (std::filesystem::path(out_dir) / (stem + ".html")).string();
  // Raw ids that are not valid UTF-8 (prep keeps them as they were) are replaced, not fatal.
  write_files_atomically({{json_path, document.dump(2, ' ', false, Json::error_handler_t::replace) + "\n"},
                          {html_path, html}});
  std::printf("%s.html: %s\n%s.json: %s\n", stem.c_str(), html_path.c_str(), stem.c_str(),
              json_path.c_str());
  return 0;
}

}  // namespace cf::cli
