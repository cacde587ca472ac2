// cartformer inspect: summarises a corpus file (behaviour or text), or prints a checkpoint
// directory's manifest.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "data/corpus.h"
#include "data/text/text_corpus.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "trainer/checkpoint.h"

namespace cf::cli {
namespace {

namespace fs = std::filesystem;

// Everything the summary shows, as JSON (printed as is with --json).
Json corpus_summary(const data::CorpusReader& corpus, int top_items) {
  Json out = Json::object();
  out["path"] = corpus.path();
  out["provenance"] = Json::parse(corpus.provenance_json());
  out["sequences"] = corpus.num_sequences();
  out["events"] = corpus.num_events();
  const data::VocabSizes v = corpus.vocab_sizes();
  out["vocab_sizes"] = {{"items", v.items},
                        {"actions", v.actions},
                        {"categories", v.categories},
                        {"time_gaps", v.time_gaps},
                        {"activities", v.activities}};
  if (v.item_features > 0) {
    out["vocab_sizes"]["item_features"] = v.item_features;
    const data::ItemFeatures& features = corpus.item_features();
    int64_t items_with_features = 0;
    for (int32_t item = 1; item < v.items; ++item) {
      if (features.count(item) > 0) ++items_with_features;
    }
    out["item_features"] = {{"tokens", v.item_features - 1},
                            {"items_with_features", items_with_features},
                            {"items", v.items - 1},
                            {"item_feature_pairs", static_cast<int64_t>(features.ids.size())}};
  }
  out["vocab_fingerprint"] = corpus.vocab_fingerprint();

  std::vector<int64_t> lengths(corpus.num_sequences());
  const auto& offsets = corpus.offsets();
  for (size_t i = 0; i < lengths.size(); ++i) lengths[i] = offsets[i + 1] - offsets[i];
  std::sort(lengths.begin(), lengths.end());
  if (!lengths.empty()) {
    auto at = [&](double q) { return lengths[static_cast<size_t>(q * (lengths.size() - 1))]; };
    out["sequence_length"] = {{"min", lengths.front()},
                              {"median", at(0.5)},
                              {"mean", double(corpus.num_events()) / double(lengths.size())},
                              {"p90", at(0.9)},
                              {"max", lengths.back()}};
  }
  const auto& loo = corpus.purchase_labels();
  const auto& time_labels = corpus.time_split_purchase_labels();
  const auto& train_length = corpus.time_split_train_length();
  out["splits"] = {{"loo_test_purchase_positive", std::count(loo.begin(), loo.end(), int8_t{1})},
                   {"time_split_cutoff", corpus.time_split_cutoff()},
                   {"time_split_train_events",
                    std::accumulate(train_length.begin(), train_length.end(), int64_t{0})},
                   {"time_split_purchase_positive",
                    std::count(time_labels.begin(), time_labels.end(), int8_t{1})}};

  const auto& counts = corpus.item_counts();
  std::vector<int32_t> ids(counts.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int32_t a, int32_t b) { return counts[a] > counts[b]; });
  const auto raw = corpus.item_raw_ids();
  Json top = Json::array();
  for (int32_t id : ids) {
    if (static_cast<int>(top.size()) >= top_items || counts[id] == 0) break;
    top.push_back({{"token", id}, {"raw_id", raw[id]}, {"train_count", counts[id]}});
  }
  out["top_items"] = top;
  return out;
}

void print_corpus_summary(const Json& s) {
  const Json& p = s["provenance"];
  std::printf("corpus          %s\n", s["path"].get<std::string>().c_str());
  std::printf("schema version  %s\n", p.value("schema_version", Json()).dump().c_str());
  std::printf("created by      %s\n", p.value("created_by", std::string("?")).c_str());
  std::printf("source format   %s\n", p.value("source_format", std::string("?")).c_str());
  std::printf("source files    %s\n", p.value("source_files", Json::array()).dump().c_str());
  std::printf("sequences       %lld\n", s["sequences"].get<long long>());
  std::printf("events          %lld\n", s["events"].get<long long>());
  const Json& v = s["vocab_sizes"];
  std::printf(
      "vocab sizes     items %d, actions %d, categories %d, time gaps %d, activities %d "
      "(each incl. padding 0)\n",
      v["items"].get<int>(), v["actions"].get<int>(), v["categories"].get<int>(),
      v["time_gaps"].get<int>(), v["activities"].get<int>());
  if (s.contains("item_features")) {
    const Json& f = s["item_features"];
    std::printf(
        "item features   %lld feature tokens (vocab %d incl. padding 0) on %lld of %lld "
        "items, %lld item-feature pairs\n",
        f["tokens"].get<long long>(), v["item_features"].get<int>(),
        f["items_with_features"].get<long long>(), f["items"].get<long long>(),
        f["item_feature_pairs"].get<long long>());
  }
  std::printf("vocab sha256    %s\n", s["vocab_fingerprint"].get<std::string>().c_str());
  if (s.contains("sequence_length")) {
    const Json& l = s["sequence_length"];
    std::printf("length          min %lld, median %lld, mean %.2f, p90 %lld, max %lld\n",
                l["min"].get<long long>(), l["median"].get<long long>(), l["mean"].get<double>(),
                l["p90"].get<long long>(), l["max"].get<long long>());
  }
  const Json& sp = s["splits"];
  std::printf("rows            read %s, kept %s, rejected %s %s, filtered %s %s\n",
              p.value("rows_read", Json()).dump().c_str(),
              p.value("rows_kept", Json()).dump().c_str(),
              p.value("rows_rejected", Json()).dump().c_str(),
              p.value("rejects_by_reason", Json::object()).dump().c_str(),
              p.value("rows_filtered", Json()).dump().c_str(),
              p.value("filtered_by_reason", Json::object()).dump().c_str());
  std::printf("users           %s pseudonyms, key from %s; dropped personal columns %s\n",
              p.value("user_id_hashing", std::string("?")).c_str(),
              p.value("user_key_source", std::string("?")).c_str(),
              p.value("dropped_personal_columns", Json::array()).dump().c_str());
  std::printf(
      "splits          LOO test purchases %lld; time cutoff %lld (%s): %lld train events, "
      "%lld users buy after it\n",
      sp["loo_test_purchase_positive"].get<long long>(), sp["time_split_cutoff"].get<long long>(),
      p.value("time_source", std::string("?")).c_str(),
      sp["time_split_train_events"].get<long long>(),
      sp["time_split_purchase_positive"].get<long long>());
  std::printf("top items       ");
  bool first = true;
  for (const auto& t : s["top_items"]) {
    std::printf("%s%s (%lld)", first ? "" : ", ", t["raw_id"].get<std::string>().c_str(),
                t["train_count"].get<long long>());
    first = false;
  }
  std::printf("\n");
  std::printf("prep config:\n%s", p.value("prep_config", std::string()).c_str());
}

void print_sequence(const data::CorpusReader& corpus, int64_t index) {
  if (index < 0 || index >= corpus.num_sequences()) {
    throw UserError(corpus.path() + ": no sequence " + std::to_string(index) + " (the corpus has " +
                    std::to_string(corpus.num_sequences()) + ")");
  }
  data::Sequence seq;
  corpus.read_sequence(index, seq);
  const auto items = corpus.item_raw_ids();
  const auto actions = corpus.action_names();
  const auto categories = corpus.category_raw_ids();
  const auto activities = corpus.activity_raw_ids();
  std::printf("sequence %lld  user %s  %d events\n", static_cast<long long>(index),
              corpus.user_keys()[index].c_str(), seq.length());
  std::printf("%5s %12s %-20s %-6s %-16s %4s %-12s %s\n", "#", "timestamp", "item", "action",
              "category", "gap", "activity", "purchase");
  for (int32_t e = 0; e < seq.length(); ++e) {
    std::printf("%5d %12lld %-20s %-6s %-16s %4d %-12s %d\n", e,
                static_cast<long long>(seq.timestamp[e]), items[seq.item[e]].c_str(),
                actions[seq.action[e]].c_str(), categories[seq.category[e]].c_str(),
                seq.time_gap[e], activities[seq.activity[e]].c_str(), seq.purchase[e]);
  }
}

// A text corpus (copy generation, data/text/text_corpus.h): read whole (which checks every id
// and offset), summarised; pair `pair` (>= 0) printed decoded.
void inspect_text_corpus(const std::string& path, bool json, int64_t pair) {
  const data::text::TextCorpus c = data::text::read_text_corpus(path);
  const data::text::CharTokenizer tokenizer = c.tokenizer(path);
  Json splits = {{"train", 0}, {"validation", 0}, {"test", 0}};
  const char* split_names[] = {"train", "validation", "test"};
  std::vector<int64_t> per_segment(c.segments.size(), 0), per_aspect(c.aspects.size(), 0);
  int64_t longest = 0;
  for (int64_t i = 0; i < c.num_pairs(); ++i) {
    splits[split_names[c.split[size_t(i)]]] =
        splits[split_names[c.split[size_t(i)]]].get<int64_t>() + 1;
    ++per_segment[size_t(c.segment[size_t(i)])];
    ++per_aspect[size_t(c.aspect[size_t(i)])];
    longest = std::max(longest, c.text_offsets[size_t(i) + 1] - c.text_offsets[size_t(i)]);
  }
  Json segments = Json::object(), aspects = Json::object();
  for (size_t k = 0; k < c.segments.size(); ++k) segments[c.segments[k]] = per_segment[k];
  for (size_t k = 0; k < c.aspects.size(); ++k) aspects[c.aspects[k]] = per_aspect[k];
  const Json summary = {
      {"path", path},
      {"corpus_kind", "text_pairs"},
      {"created_by", c.created_by},
      {"source_format", c.source_format},
      {"source_files", c.source_files},
      {"pairs", c.num_pairs()},
      {"splits", splits},
      {"tokenizer",
       {{"characters", tokenizer.characters()}, {"vocab_size", tokenizer.vocab_size()}}},
      {"segments", segments},
      {"aspects", aspects},
      {"text_tokens", {{"total", int64_t(c.text_tokens.size())}, {"longest", longest}}}};
  if (json) {
    std::printf("%s\n", summary.dump(2).c_str());
  } else {
    std::printf("text corpus     %s (copy generation; verified: every id and offset)\n",
                path.c_str());
    std::printf("created by      %s\n", c.created_by.c_str());
    std::printf("source          %s: %s\n", c.source_format.c_str(), c.source_files.c_str());
    std::printf("pairs           %lld (split by title: %s)\n", (long long)c.num_pairs(),
                splits.dump().c_str());
    std::printf("tokenizer       %d characters + 256 bytes + 4 specials\n", tokenizer.characters());
    std::printf("segments        %s\n", segments.dump().c_str());
    std::printf("aspects         %s\n", aspects.dump().c_str());
    std::printf("text tokens     %lld, longest text %lld\n", (long long)c.text_tokens.size(),
                (long long)longest);
  }
  if (pair < 0) return;
  if (pair >= c.num_pairs())
    throw UserError(path + ": no pair " + std::to_string(pair) + " (the corpus has " +
                    std::to_string(c.num_pairs()) + ")");
  auto slice = [](const std::vector<int32_t>& tokens, const std::vector<int64_t>& offsets,
                  int64_t i) {
    return std::vector<int32_t>(tokens.begin() + offsets[size_t(i)],
                                tokens.begin() + offsets[size_t(i) + 1]);
  };
  std::printf("pair %lld  (%s)  segment %s  aspect %s\ntitle  %s\ntext   %s\n", (long long)pair,
              split_names[c.split[size_t(pair)]],
              c.segments[size_t(c.segment[size_t(pair)])].c_str(),
              c.aspects[size_t(c.aspect[size_t(pair)])].c_str(),
              tokenizer.decode(slice(c.title_tokens, c.title_offsets, pair)).c_str(),
              tokenizer.decode(slice(c.text_tokens, c.text_offsets, pair)).c_str());
}

// Reads every sequence (all chunks decompressed, every token range-checked).
void verify_corpus(const data::CorpusReader& corpus) {
  std::vector<data::Sequence> batch;
  const int64_t n = corpus.num_sequences();
  for (int64_t first = 0; first < n; first += 4096) {
    corpus.read_sequences(first, std::min<int64_t>(4096, n - first), batch);
  }
  std::printf("verified        all %lld sequences read back and in range\n",
              static_cast<long long>(n));
}

// ||a - b|| / ||b|| over one tensor (0 when both are zero): a norm-wise difference, so the
// rounding noise of elements near zero does not dominate.
double relative_difference(const float* a, const float* b, int64_t n) {
  double diff = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = double(a[i]) - double(b[i]);
    diff += d * d;
    ref += double(b[i]) * double(b[i]);
  }
  if (ref == 0) return diff == 0 ? 0 : INFINITY;
  return std::sqrt(diff / ref);
}

// Compares two checkpoints tensor by tensor (weights, and AdamW m and v): prints the relative
// difference of each and fails past `tolerance` (< 0: report only).
void compare_checkpoints(const std::string& a_dir, const std::string& b_dir, double tolerance) {
  trainer::LoadedCheckpoint a = trainer::load_checkpoint(a_dir, true);
  trainer::LoadedCheckpoint b = trainer::load_checkpoint(b_dir, true);
  double worst = 0;
  std::string worst_name;
  std::printf("%-40s %12s %12s %12s\n", "tensor", "weights", "adam m", "adam v");
  for (const auto& t : a.tensors) {
    const trainer::ParamTensor* u = b.find_tensor(t.name);
    if (!u) throw UserError(b_dir + ": has no tensor " + t.name + " (present in " + a_dir + ")");
    if (u->shape != t.shape) throw UserError(b_dir + ": tensor " + t.name + " has another shape");
    double d[3] = {
        relative_difference(a.params.data() + t.offset, b.params.data() + u->offset, t.numel()),
        relative_difference(a.adam_m.data() + t.offset, b.adam_m.data() + u->offset, t.numel()),
        relative_difference(a.adam_v.data() + t.offset, b.adam_v.data() + u->offset, t.numel())};
    std::printf("%-40s %12.3e %12.3e %12.3e\n", t.name.c_str(), d[0], d[1], d[2]);
    for (int k = 0; k < 3; ++k) {
      if (d[k] > worst || std::isnan(d[k])) {
        worst = d[k];
        worst_name = t.name + (k == 0 ? "" : k == 1 ? " (adam m)" : " (adam v)");
      }
    }
  }
  if (b.tensors.size() != a.tensors.size())
    throw UserError(b_dir + ": holds " + std::to_string(b.tensors.size()) + " tensors, " + a_dir +
                    " " + std::to_string(a.tensors.size()));
  std::printf("steps %lld vs %lld; max relative difference %.3e (%s)\n", (long long)a.state.step,
              (long long)b.state.step, worst, worst_name.c_str());
  if (tolerance >= 0 && !(worst <= tolerance)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3e > tolerance %.3e", worst, tolerance);
    throw UserError(a_dir + " vs " + b_dir + ": " + worst_name + " differs by " + buf);
  }
}

}  // namespace

int run_inspect(int argc, char** argv) {
  ArgParser args("inspect",
                 "Describe a corpus file (schema, sizes, provenance, length statistics) or a\n"
                 "checkpoint directory (its manifest.json).");
  args.option("path", "PATH", "corpus .h5 file or checkpoint directory");
  args.flag("json", "print the corpus summary as JSON");
  args.option("sequence", "N", "also print the events of sequence N of a corpus");
  args.option("top-items", "K", "how many most frequent items to list", "5");
  args.flag("verify", "read every sequence of a corpus back (slow on large files)");
  args.option("compare", "DIR", "checkpoint: compare with checkpoint DIR tensor by tensor");
  args.option("tolerance", "X", "with --compare: fail if a relative difference exceeds X");
  // The path may also be given positionally: `cartformer inspect corpus.h5`.
  static const std::set<std::string> kTakesValue = {"--path", "--sequence", "--top-items",
                                                    "--compare", "--tolerance"};
  std::vector<char*> rest;
  std::string positional;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-", 0) == 0) {
      rest.push_back(argv[i]);
      if (kTakesValue.count(a) && i + 1 < argc) rest.push_back(argv[++i]);
    } else if (positional.empty()) {
      positional = a;
    } else {
      rest.push_back(argv[i]);  // the parser reports it as unexpected
    }
  }
  if (!args.parse(static_cast<int>(rest.size()), rest.data())) return 0;
  const std::string path = args.has("path") ? args.get("path") : positional;
  if (path.empty()) throw UserError("--path: missing (give a corpus file or checkpoint directory)");

  if (args.has("tolerance") && !args.has("compare"))
    throw UserError("--tolerance: only meaningful with --compare DIR");
  if (args.has("compare")) {
    compare_checkpoints(path, args.get("compare"),
                        args.has("tolerance") ? args.get_double("tolerance", 0) : -1.0);
    return 0;
  }
  if (fs::is_directory(path)) {
    const std::string manifest = (fs::path(path) / "manifest.json").string();
    if (!fs::exists(manifest))
      throw UserError(path + ": not a checkpoint directory (no manifest.json)");
    // What is shown must be what eval or a resume would load: a manifest or tensor file that
    // does not match its checksum is an error here too, never printed as if it were valid.
    trainer::verify_checkpoint(path);
    std::printf("%s\n", Json::parse(read_text_file(manifest)).dump(2).c_str());
    std::printf("verified: manifest and every file it lists match their sha256\n");
    return 0;
  }
  if (data::text::is_text_corpus(path)) {
    inspect_text_corpus(path, args.get_flag("json"),
                        args.has("sequence") ? args.get_int("sequence", 0) : int64_t{-1});
    return 0;
  }
  auto corpus = data::CorpusReader::open(path);
  Json summary = corpus_summary(*corpus, static_cast<int>(args.get_int("top-items", 0, 1000000)));
  if (args.get_flag("json"))
    std::printf("%s\n", summary.dump(2).c_str());
  else
    print_corpus_summary(summary);
  if (args.get_flag("verify")) verify_corpus(*corpus);
  if (args.has("sequence")) print_sequence(*corpus, args.get_int("sequence"));
  return 0;
}

}  // namespace cf::cli
