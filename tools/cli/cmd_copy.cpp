// cartformer copy: product copy from a copy model (task.kind copy): for one title, for a file of
// titles (a copy per line), or --evaluate: the model against the retrieval and n-gram
// baselines on the held-out titles (JSON the report's copy section renders).
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "core/progress.h"
#include "core/utf8.h"
#include "data/corpus.h"
#include "data/readers/csv_line.h"
#include "marketing/copy/copy_audience.h"
#include "marketing/copy/copy_evaluation.h"
#include "marketing/copy/copy_writer.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"

namespace cf::cli {

namespace {

using marketing::copy::CopyDraft;
using marketing::copy::CopyRequest;
using marketing::copy::CopyWriter;

struct TitledRequest {
  CopyRequest request;
  std::string id;  // the row's name in the output: the line number, the file's "id", the user
  // --user / --users: the product chosen for the user and the user's top predicted category.
  std::string item, category;
};

std::string trimmed(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

// --titles FILE: one title per line, or (.jsonl) one {"title", "segment", "aspect", "id"}
// object per line; a segment or aspect a line leaves out comes from --segment / --aspect.
std::vector<TitledRequest> read_titles(const std::string& path, const CopyWriter& writer,
                                       const std::string& default_segment,
                                       const std::string& default_aspect) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open titles file");
  const bool jsonl = path.size() >= 6 && path.substr(path.size() - 6) == ".jsonl";
  std::vector<TitledRequest> out;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = path + ": line " + std::to_string(number);
    if (!is_valid_utf8(line)) throw UserError(where + ": not well-formed UTF-8");
    if (trimmed(line).empty()) continue;
    std::string title, segment = default_segment, aspect = default_aspect,
                       id = std::to_string(number);
    if (jsonl) {
      const Json object = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (object.is_discarded() || !object.is_object())
        throw UserError(where + ": not a JSON object");
      auto text_of = [&](const char* key, std::string& into) {
        if (!object.contains(key)) return;
        if (!object[key].is_string()) throw UserError(where + ": \"" + key + "\" is not a string");
        into = object[key].get<std::string>();
      };
      text_of("title", title);
      text_of("segment", segment);
      text_of("aspect", aspect);
      text_of("id", id);
    } else {
      title = line;
    }
    title = trimmed(title);
    if (title.empty()) throw UserError(where + ": empty title");
    if (segment.empty()) throw UserError(where + ": no segment (give --segment or \"segment\")");
    if (aspect.empty()) throw UserError(where + ": no aspect (give --aspect or \"aspect\")");
    TitledRequest r;
    r.request.title = title;
    r.request.segment = writer.segment_id(segment, where + ": segment");
    r.request.aspect = writer.aspect_id(aspect, where + ": aspect");
    r.id = id;
    out.push_back(std::move(r));
  }
  if (out.empty()) throw UserError(path + ": no titles");
  return out;
}

}  // namespace

int run_copy(int argc, char** argv) {
  ArgParser args(
      "copy",
      "Product copy (a description) written by a copy model (task.kind: copy) for a title, a\n"
      "segment and an aspect, or for every line of a titles file. Output rows: id, rank, segment,\n"
      "aspect, title, text, mean_log_prob, finished (CSV, or one JSON object per line).\n"
      "With --evaluate: the model and two baselines (retrieval of the most similar training\n"
      "title's description; a character n-gram model) on the held-out titles: perplexity, BLEU-4,\n"
      "ROUGE-L, distinct-1/2 and samples per segment and aspect, as copy_eval.json (cartformer\n"
      "report --copy renders it).");
  args.option("checkpoint", "DIR", "a copy model: checkpoint, or run directory (its best one)");
  args.option("text-corpus", "FILE",
              "the text corpus it was trained on (default: the checkpoint's data.corpus)");
  args.option("title", "TEXT", "one product title (UTF-8)");
  args.option("titles", "FILE",
              "one title per line, or .jsonl: {\"title\",\"segment\",\"aspect\",\"id\"}");
  args.option("user", "KEY,KEY",
              "users of --corpus (pseudonymous keys): a copy each, for the "
              "product and segment their behaviour model predicts");
  args.option("users", "FILE",
              "CSV with a user_key column (cartformer target's list, a coupon plan)");
  args.option("corpus", "FILE", "--user/--users: the behaviour corpus the users are in");
  args.option("behaviour-checkpoint", "DIR", "--user/--users: the behaviour model (next-item)");
  args.option("items", "FILE",
              "--user/--users: CSV item,title[,aspect]: the campaign's products; each user gets "
              "copy for the one the behaviour model finds most likely next");
  args.option("segment-map", "FILE",
              "--user/--users: CSV category,segment: the user's segment is that of the category "
              "with the most predicted next-item mass (--segment: for categories not listed)");
  args.option("segment", "NAME", "segment tag the copy is written for (e.g. 3)");
  args.option("aspect", "NAME", "aspect tag (a appearance, b material, c function)");
  args.option("temperature", "T", "sampling temperature", "0.8");
  args.option("top-k", "K", "sample among the K most likely tokens (0: all)", "0");
  args.option("top-p", "P", "nucleus: the most likely tokens reaching mass P", "0.9");
  args.option("no-repeat-ngram", "N", "never repeat an n-gram of N tokens (0: off)", "4");
  args.flag("greedy", "the most likely token at each step (no sampling)");
  args.option("n-best", "N", "drafts written per title, best first (--order)", "1");
  args.option("order", "likelihood|consensus",
              "n-best order: mean log-probability, or consensus (the draft closest to the others "
              "by the mean of sentence BLEU-4 and ROUGE-L: minimum Bayes risk)",
              "likelihood");
  args.option("evidence", "K",
              "--order consensus: the human texts of the K nearest training titles count as "
              "evidence beside the drafts (they rank the drafts; never written out)",
              "0");
  args.option("consensus-samples", "M",
              "--order consensus: draw M samples, measure each against all the others and "
              "return the n-best closest (0: M = n-best)",
              "0");
  args.option("consensus-bleu-weight", "W",
              "--order consensus: the weight of sentence BLEU-4 in the similarity (ROUGE-L has "
              "1 - W)",
              "0.5");
  args.option("end-bias", "B",
              "added to the log-probability of the end of the text when sampling (negative: "
              "longer copy; the scores reported stay the model's)",
              "0");
  args.option("retrieved-copy", "W",
              "mix in what followed the text written so far in the human texts of the nearest "
              "training titles: their share at a long match, in [0, 1) (0: the model alone)",
              "0");
  args.option("retrieved-texts", "K", "--retrieved-copy: texts of the K nearest training titles",
              "5");
  args.option("max-tokens", "N", "description tokens at most (0: what max_len leaves)", "0");
  args.option("draft-lanes", "N",
              "drafts decoded together (one matrix product per step for all; memory N x max_len "
              "x d_model x 2 x layers floats per thread; 1: one at a time)",
              "32");
  args.option("seed", "S", "sampling seed (a title's drafts depend on it and its row only)", "1");
  args.option("format", "csv|jsonl", "output format", "csv");
  args.option("out", "FILE", "output file, written atomically (default: stdout)");
  args.flag("evaluate", "score the model and the baselines on held-out titles");
  args.option("split", "validation|test", "--evaluate: which held-out titles", "test");
  args.option("max-pairs", "N", "--evaluate: only the first N pairs (0: all)", "0");
  args.option("out-dir", "DIR", "--evaluate: where copy_eval.json goes", "copy-eval");
  args.flag("quiet", "no progress lines");
  if (!args.parse(argc, argv)) return 0;

  const std::string checkpoint = args.require("checkpoint");
  // Without --text-corpus: the checkpoint's own data.corpus.
  CopyWriter writer(checkpoint, args.get("text-corpus"));

  marketing::copy::WritingOptions writing;
  writing.sampling.temperature = args.get_double("temperature");
  writing.sampling.top_k = int(args.get_int("top-k", 0, 1 << 30));
  writing.sampling.top_p = args.get_double("top-p");
  writing.sampling.no_repeat_ngram = int(args.get_int("no-repeat-ngram", 0, 1000));
  writing.sampling.greedy = args.get_flag("greedy");
  writing.n_best = int(args.get_int("n-best", 1, 1000));
  const std::string order = args.get("order");
  if (order == "consensus")
    writing.order = marketing::copy::DraftOrder::kConsensus;
  else if (order != "likelihood")
    throw UserError("--order: must be likelihood or consensus, got '" + order + "'");
  writing.evidence = int(args.get_int("evidence", 0, 1000));
  writing.consensus_samples = int(args.get_int("consensus-samples", 0, 1000));
  writing.max_tokens = int(args.get_int("max-tokens", 0, 1 << 20));
  writing.end_bias = args.get_double("end-bias");
  writing.consensus_bleu_weight = args.get_double("consensus-bleu-weight");
  writing.retrieved_copy.weight = args.get_double("retrieved-copy");
  writing.retrieved_copy.texts = int(args.get_int("retrieved-texts", 1, 1000));
  writing.draft_lanes = int(args.get_int("draft-lanes", 1, 1000));
  writing.seed = uint64_t(args.get_int("seed"));
  // Checks the writing and sampling options (one UserError naming the flag) before any work.
  marketing::copy::check_writing_options(writing);
  marketing::copy::TokenSampler check(writing.sampling, 0);
  const bool quiet = args.get_flag("quiet");

  if (args.get_flag("evaluate")) {
    for (const char* flag : {"title", "titles", "user", "users", "out"})
      if (args.has(flag)) throw UserError(std::string("--") + flag + ": not used with --evaluate");
    marketing::copy::CopyEvaluationOptions options;
    const std::string split = args.get("split");
    if (split == "validation")
      options.split = data::text::TextSplit::kValidation;
    else if (split == "test")
      options.split = data::text::TextSplit::kTest;
    else
      throw UserError("--split: must be validation or test, got '" + split + "'");
    options.writing = writing;
    options.max_pairs = int(args.get_int("max-pairs", 0, 1 << 30));
    std::unique_ptr<ProgressMeter> meter;
    const Json result =
        marketing::copy::evaluate_copy(writer, options, [&](int64_t done, int64_t total) {
          if (quiet) return;
          if (!meter)
            meter = std::make_unique<ProgressMeter>("copy: writing", double(total), "titles");
          if (done >= total)
            meter->finish(double(done));
          else
            meter->update(double(done));
        });
    const std::string out_dir = args.get("out-dir");
    std::filesystem::create_directories(out_dir);
    write_file_atomically(out_dir + "/copy_eval.json", result.dump(2) + "\n");
    const Json& systems = result["systems"];
    std::printf("%-10s %10s %8s %8s %10s %10s\n", "system", "perplexity", "BLEU-4", "ROUGE-L",
                "distinct-1", "distinct-2");
    for (const char* name : {"model", "retrieval", "ngram"}) {
      const Json& s = systems[name];
      const std::string ppl = s.contains("perplexity")
                                  ? std::to_string(s["perplexity"].get<double>()).substr(0, 7)
                                  : "-";
      std::printf("%-10s %10s %8.4f %8.4f %10.4f %10.4f\n", name, ppl.c_str(),
                  s["bleu4"].get<double>(), s["rouge_l"].get<double>(),
                  s["distinct_1"].get<double>(), s["distinct_2"].get<double>());
    }
    std::printf("%-10s %10s %8s %8s %10.4f %10.4f\n", "human", "-", "-", "-",
                result["human"]["distinct_1"].get<double>(),
                result["human"]["distinct_2"].get<double>());
    if (systems["model"].contains("retrieved_copy_perplexity"))
      std::printf("model perplexity with the retrieved copy: %.4f\n",
                  systems["model"]["retrieved_copy_perplexity"].get<double>());
    // Model minus each baseline, with the paired bootstrap interval over the pairs.
    const int level = int(std::lround(100 * result["bootstrap"]["level"].get<double>()));
    for (const char* name : {"retrieval", "ngram"}) {
      const Json& c = result["comparisons"][name];
      std::printf(
          "model - %-9s BLEU-4 %+.4f [%+.4f, %+.4f]  ROUGE-L %+.4f [%+.4f, %+.4f]  (%d%%)\n", name,
          c["bleu4"]["difference"].get<double>(), c["bleu4"]["lower"].get<double>(),
          c["bleu4"]["upper"].get<double>(), c["rouge_l"]["difference"].get<double>(),
          c["rouge_l"]["lower"].get<double>(), c["rouge_l"]["upper"].get<double>(), level);
    }
    std::fprintf(stderr, "copy: wrote %s/copy_eval.json (%s split, %lld pairs)\n", out_dir.c_str(),
                 split.c_str(), (long long)result["pairs"].get<int64_t>());
    return 0;
  }

  std::vector<TitledRequest> requests;
  const int sources = int(args.has("title")) + int(args.has("titles")) + int(args.has("user")) +
                      int(args.has("users"));
  if (sources != 1)
    throw UserError("--title, --titles, --user or --users: give exactly one (or --evaluate)");
  const bool for_users = args.has("user") || args.has("users");
  if (for_users) {
    const std::string corpus_path = args.require("corpus");
    auto corpus = data::CorpusReader::open(corpus_path);
    const std::string behaviour_dir =
        trainer::resolve_checkpoint_dir(args.require("behaviour-checkpoint"));
    const trainer::LoadedCheckpoint behaviour_ckpt = trainer::load_checkpoint(behaviour_dir, false);
    trainer::require_behaviour_model(behaviour_ckpt, "copy --behaviour-checkpoint");
    trainer::require_same_vocab(behaviour_ckpt, corpus_path, corpus->vocab_fingerprint(),
                                corpus->vocab_sizes());
    trainer::Model behaviour = trainer::model_from_checkpoint(behaviour_ckpt, *corpus);
    const std::vector<marketing::copy::CatalogueTitle> catalogue =
        marketing::copy::read_catalogue_titles(args.require("items"));
    std::map<std::string, std::string> segment_map;
    if (args.has("segment-map"))
      segment_map = marketing::copy::read_segment_map(args.get("segment-map"));
    else if (!args.has("segment"))
      throw UserError("--segment-map: required with --user/--users (or --segment for everyone)");
    std::vector<std::string> keys;
    if (args.has("user")) {
      for (const std::string& key : data::split_comma_list(args.get("user"))) keys.push_back(key);
      if (keys.empty()) throw UserError("--user: no user key given");
    } else {
      keys = marketing::copy::read_user_keys(args.get("users"));
    }
    const std::vector<marketing::copy::AudienceChoice> audience = marketing::copy::choose_audience(
        behaviour, trainer::cooccurrence_prior_of(behaviour_ckpt, *corpus), *corpus, keys,
        catalogue, segment_map, args.get("segment"));
    for (const marketing::copy::AudienceChoice& a : audience) {
      TitledRequest r;
      r.request.title = a.product->title;
      r.request.segment = writer.segment_id(a.segment, "--segment-map: segment");
      const std::string aspect = a.product->aspect.empty() ? args.get("aspect") : a.product->aspect;
      if (aspect.empty())
        throw UserError("--aspect: required (the --items row of " + a.product->item + " has none)");
      r.request.aspect = writer.aspect_id(aspect, "--items: aspect");
      r.id = a.user;
      r.item = a.product->item;
      r.category = a.category;
      requests.push_back(std::move(r));
    }
  } else if (args.has("title")) {
    TitledRequest r;
    r.request.title = trimmed(args.get("title"));
    if (!is_valid_utf8(r.request.title)) throw UserError("--title: not well-formed UTF-8");
    if (r.request.title.empty()) throw UserError("--title: empty title");
    r.request.segment = writer.segment_id(args.require("segment"), "--segment");
    r.request.aspect = writer.aspect_id(args.require("aspect"), "--aspect");
    r.id = "1";
    requests.push_back(std::move(r));
  } else {
    requests = read_titles(args.get("titles"), writer, args.get("segment"), args.get("aspect"));
  }

  const std::string format = args.get("format");
  if (format != "csv" && format != "jsonl")
    throw UserError("--format: must be csv or jsonl, got '" + format + "'");
  std::string output =
      format == "csv" ? std::string("id,rank,segment,aspect,title,text,mean_log_prob,finished") +
                            (for_users ? ",item,category\n" : "\n")
                      : "";
  const data::text::TextCorpus& corpus = writer.corpus();
  // Titles spread over the threads; each draft's seed stream depends on its row only, so the
  // output is the same at any thread count.
  std::vector<std::vector<CopyDraft>> all_drafts(requests.size());
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t r = 0; r < requests.size(); ++r) {
    try {
      all_drafts[r] = writer.write(requests[r].request, int64_t(r), writing);
    } catch (...) {
#pragma omp critical(cf_copy_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  for (size_t r = 0; r < requests.size(); ++r) {
    const TitledRequest& row = requests[r];
    const CopyRequest& req = row.request;
    const std::vector<CopyDraft>& drafts = all_drafts[r];
    for (size_t k = 0; k < drafts.size(); ++k) {
      const CopyDraft& d = drafts[k];
      const std::string& segment = corpus.segments[size_t(req.segment)];
      const std::string& aspect = corpus.aspects[size_t(req.aspect)];
      if (format == "csv") {
        char number[32];
        std::snprintf(number, sizeof number, "%.4f", d.mean_log_prob);
        output += data::csv_quoted_field(row.id) + "," + std::to_string(k + 1) + "," +
                  data::csv_quoted_field(segment) + "," + data::csv_quoted_field(aspect) + "," +
                  data::csv_quoted_field(req.title) + "," + data::csv_quoted_field(d.text) + "," +
                  number + "," + (d.finished ? "1" : "0");
        if (for_users)
          output +=
              "," + data::csv_quoted_field(row.item) + "," + data::csv_quoted_field(row.category);
        output += "\n";
      } else {
        Json json = {{"id", row.id},
                     {"rank", int64_t(k) + 1},
                     {"segment", segment},
                     {"aspect", aspect},
                     {"title", req.title},
                     {"text", d.text},
                     {"mean_log_prob", d.mean_log_prob},
                     {"finished", d.finished}};
        if (for_users) {
          json["item"] = row.item;
          json["category"] = row.category;
        }
        output += json.dump() + "\n";
      }
    }
  }
  if (args.has("out")) {
    write_file_atomically(args.get("out"), output);
    if (!quiet)
      std::fprintf(stderr, "copy: wrote %s (%zu titles)\n", args.get("out").c_str(),
                   requests.size());
  } else {
    std::fputs(output.c_str(), stdout);
  }
  return 0;
}

}  // namespace cf::cli
