#include "report/eval_source.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "trainer/checkpoint.h"
#include "trainer/model/model.h"

namespace cf::report {

std::string eval_corpus_fingerprint(const Json& eval_json) {
  const Json* corpus = nullptr;
  if (eval_json.contains("protocol") && eval_json["protocol"].contains("corpus")) {
    corpus = &eval_json["protocol"]["corpus"];
  }
  if (!corpus || !corpus->is_object() || !corpus->contains("vocab_fingerprint")) return "";
  return (*corpus)["vocab_fingerprint"].get<std::string>();
}

std::string recorded_corpus_fingerprint(const std::string& path) {
  const bool is_eval = eval::is_eval_output_dir(path);
  const std::string file = is_eval ? (std::filesystem::path(path) / eval::kEvalJsonFile).string()
                                   : (std::filesystem::path(trainer::resolve_checkpoint_dir(path)) /
                                      "manifest.json").string();
  std::ifstream in(file);
  if (!in) throw UserError(file + ": cannot open for reading");
  const Json j = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw UserError(file + ": not valid JSON");
  if (is_eval) return eval_corpus_fingerprint(j);
  return j.contains("vocab_fingerprint") && j["vocab_fingerprint"].is_string()
             ? j["vocab_fingerprint"].get<std::string>()
             : "";
}

void require_same_corpus(const std::string& a, const std::string& b) {
  const std::string fa = recorded_corpus_fingerprint(a), fb = recorded_corpus_fingerprint(b);
  if (fa != fb) {
    throw UserError(a + " and " + b + ": from different corpora (vocabulary " + fa.substr(0, 12) +
                    " vs " + fb.substr(0, 12) + "); a comparison needs both evaluated on one");
  }
}

eval::EvalOutput evaluate_or_load(const std::string& path, const data::CorpusReader& corpus,
                                  const eval::EvalOptions& options,
                                  const eval::EvalProgress& progress) {
  if (eval::is_eval_output_dir(path)) {
    eval::EvalOutput loaded = eval::read_eval_output(path);
    const std::string fingerprint = eval_corpus_fingerprint(loaded.json);
    if (fingerprint != corpus.vocab_fingerprint()) {
      throw UserError(path + "/" + eval::kEvalJsonFile + ": evaluated on another corpus (vocabulary " +
                      (fingerprint.empty() ? std::string("unrecorded") : fingerprint.substr(0, 12)) +
                      ", " + corpus.path() + " has " + corpus.vocab_fingerprint().substr(0, 12) + ")");
    }
    return loaded;
  }
  const std::string checkpoint_dir = trainer::resolve_checkpoint_dir(path);
  trainer::LoadedCheckpoint checkpoint = trainer::load_checkpoint(checkpoint_dir, false);
  trainer::require_behaviour_model(checkpoint, "report");
  trainer::require_same_vocab(checkpoint, corpus.path(), corpus.vocab_fingerprint(),
                              corpus.vocab_sizes());
  trainer::Model model = trainer::model_from_checkpoint(checkpoint, corpus);
  eval::EvalOptions with_checkpoint = options;
  eval::use_checkpoint(with_checkpoint, checkpoint_dir, checkpoint, corpus);
  eval::Evaluator evaluator(corpus, with_checkpoint);
  eval::EvalReport report = evaluator.run(&model, progress);
  eval::EvalOutput out;
  out.dir = checkpoint_dir;
  out.json = std::move(report.json);
  out.scorers = std::move(report.scorers);
  out.users = std::move(report.users);
  return out;
}

}  // namespace cf::report
