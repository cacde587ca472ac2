// cartformer generate: top-K next-item recommendations from a checkpoint (CSV or JSONL).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/corpus.h"
#include "data/readers/csv_line.h"
#include "eval/history_input.h"
#include "eval/recommender.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "trainer/checkpoint.h"
#include "trainer/cooccurrence_prior.h"
#include "trainer/model/model.h"

namespace cf::cli {

namespace {

// Corpus users named by key, in the order given; an unknown key is a UserError naming it.
std::vector<eval::GenerationInput> corpus_users_by_key(const data::CorpusReader& corpus,
                                                       const std::string& list) {
  const std::vector<std::string> keys = corpus.user_keys();
  std::unordered_map<std::string, int64_t> index;
  index.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) index.emplace(keys[i], static_cast<int64_t>(i));
  std::vector<eval::GenerationInput> inputs;
  for (const std::string& key : data::split_comma_list(list)) {
    auto it = index.find(key);
    if (it == index.end()) throw UserError(corpus.path() + ": unknown user key '" + key + "'");
    eval::GenerationInput input;
    input.user = key;
    corpus.read_sequence(it->second, input.history);
    inputs.push_back(std::move(input));
  }
  if (inputs.empty()) throw UserError("--users: no user key given");
  return inputs;
}

}  // namespace

int run_generate(int argc, char** argv) {
  ArgParser args(
      "generate",
      "Top-K next items for users of the corpus (their whole history) or for a history given on\n"
      "the command line or in a CSV file. Output rows: user,rank,item,score,step, where item is\n"
      "the raw item id and score the model's softmax probability of that item being next (over\n"
      "all items, before exclusions). With --steps S > 1 the top item is appended greedily and\n"
      "generation continues with a key/value cache; generated items are not repeated.");
  args.option("checkpoint", "DIR",
              "checkpoint step_N directory, or a run directory / checkpoints root (its best "
              "checkpoint by validation metric, else the newest valid)");
  args.option("corpus", "FILE", "corpus .h5 whose vocabulary the checkpoint was trained with");
  args.option("users", "KEY,KEY", "corpus users by pseudonymous key");
  args.flag("all-users", "every corpus user, in corpus order (see --limit)");
  args.option("limit", "N", "with --all-users: only the first N users");
  args.option("history", "ITEM,ITEM", "one history of raw item ids, oldest first");
  args.option("history-csv", "FILE", "histories: CSV with header user,item[,action], time order");
  args.option("k", "K", "recommendations per user and step", "10");
  args.flag("exclude-bought", "never recommend items the history bought");
  args.flag("exclude-seen", "never recommend items of the history");
  args.option("steps", "S", "generation steps (multi-step uses the KV-cache decoder)", "1");
  args.option("format", "csv|jsonl", "output format", "csv");
  args.option("out", "FILE", "output file, written atomically (default: stdout)");
  args.flag("quiet", "no progress lines");
  if (!args.parse(argc, argv)) return 0;

  const std::string corpus_path = args.require("corpus");
  const int sources = (args.has("users") ? 1 : 0) + (args.get_flag("all-users") ? 1 : 0) +
                      (args.has("history") ? 1 : 0) + (args.has("history-csv") ? 1 : 0);
  if (sources != 1) {
    throw UserError("--users, --all-users, --history, --history-csv: give exactly one of them");
  }
  if (args.has("limit") && !args.get_flag("all-users")) {
    throw UserError("--limit: applies to --all-users only");
  }
  eval::GenerateOptions options;
  options.k = static_cast<int>(args.get_int("k", 1, 1000000));
  options.steps = static_cast<int>(args.get_int("steps", 1, 1000000));
  options.exclude_bought = args.get_flag("exclude-bought");
  options.exclude_seen = args.get_flag("exclude-seen");
  const std::string format_name = args.get("format");
  if (format_name != "csv" && format_name != "jsonl") {
    throw UserError("--format: must be csv or jsonl, got '" + format_name + "'");
  }
  const auto format =
      format_name == "csv" ? eval::RecommendationFormat::kCsv : eval::RecommendationFormat::kJsonl;

  std::unique_ptr<data::CorpusReader> corpus = data::CorpusReader::open(corpus_path);
  std::string chosen_because;
  const std::string checkpoint_dir = trainer::resolve_checkpoint_dir(args.require("checkpoint"), &chosen_because);
  std::fprintf(stderr, "generate: checkpoint %s (%s)\n", checkpoint_dir.c_str(), chosen_because.c_str());
  trainer::LoadedCheckpoint ckpt = trainer::load_checkpoint(checkpoint_dir, false);
  trainer::require_behaviour_model(ckpt, "generate");
  trainer::require_same_vocab(ckpt, corpus_path, corpus->vocab_fingerprint(),
                              corpus->vocab_sizes());
  trainer::Model model = trainer::model_from_checkpoint(ckpt, *corpus);

  // Hand-written histories need categories and default channels from the corpus, and so do
  // events appended by multi-step generation; one pass over the corpus learns them.
  const bool given_histories = args.has("history") || args.has("history-csv");
  std::optional<eval::HistoryVocabulary> vocab;
  if (given_histories || options.steps > 1) vocab = eval::HistoryVocabulary::from_corpus(*corpus);
  eval::Recommender recommender(model,
                                vocab ? vocab->appended_channels() : eval::AppendedEventChannels{},
                                trainer::cooccurrence_prior_of(ckpt, *corpus));
  const std::vector<std::string> item_raw_ids = corpus->item_raw_ids();

  const std::string out_path = args.get("out");
  std::string output;  // whole output when writing a file (atomic); flushed per chunk to stdout
  bool header_written = false;
  auto emit = [&](const std::vector<eval::GenerationInput>& inputs) {
    std::string text =
        eval::format_recommendations(recommender.recommend(inputs, options), item_raw_ids, format);
    if (format == eval::RecommendationFormat::kCsv && header_written) {
      text.erase(0, text.find('\n') + 1);  // the header once, not per chunk
    }
    header_written = true;
    if (out_path.empty()) {
      std::fputs(text.c_str(), stdout);
    } else {
      output += text;
    }
  };

  if (args.has("history")) {
    emit({eval::history_from_list(args.get("history"), "history", *vocab, "--history")});
  } else if (args.has("history-csv")) {
    emit(eval::histories_from_csv(args.get("history-csv"), *vocab));
  } else if (args.has("users")) {
    emit(corpus_users_by_key(*corpus, args.get("users")));
  } else {
    int64_t limit = corpus->num_sequences();
    if (args.has("limit")) {
      limit = args.get_int("limit", 1);
      if (limit < 1) throw UserError("--limit: must be >= 1");
      limit = std::min(limit, corpus->num_sequences());
    }
    const std::vector<std::string> keys = corpus->user_keys();
    ProgressMeter meter("generate", static_cast<double>(limit), "users");
    std::vector<data::Sequence> chunk;
    constexpr int64_t kChunk = 1024;
    for (int64_t first = 0; first < limit; first += kChunk) {
      corpus->read_sequences(first, std::min(kChunk, limit - first), chunk);
      std::vector<eval::GenerationInput> inputs(chunk.size());
      for (size_t i = 0; i < chunk.size(); ++i) {
        inputs[i].user = keys[static_cast<size_t>(first) + i];
        inputs[i].history = std::move(chunk[i]);
      }
      emit(inputs);
      if (!args.get_flag("quiet")) meter.update(static_cast<double>(first) + chunk.size());
    }
    if (!args.get_flag("quiet")) meter.finish(static_cast<double>(limit));
  }

  if (!out_path.empty()) {
    write_file_atomically(out_path, output);
    std::fprintf(stderr, "generate: wrote %s\n", out_path.c_str());
  }
  return 0;
}

}  // namespace cf::cli
