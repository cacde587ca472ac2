#include "data/text/text_corpus.h"

#include <algorithm>
#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/random.h"
#include "core/utf8.h"
#include "data/hdf5_file.h"

namespace cf::data::text {
namespace {

constexpr const char* kCorpusKind = "text_pairs";
constexpr int64_t kTextSchemaVersion = 1;

// Names this function's datasets (docs/corpus-format.md, "Text corpus").
constexpr const char* kTitleTokens = "/text/title_tokens";
constexpr const char* kTitleOffsets = "/text/title_offsets";
constexpr const char* kTextTokens = "/text/text_tokens";
constexpr const char* kTextOffsets = "/text/text_offsets";
constexpr const char* kSegment = "/text/segment";
constexpr const char* kAspect = "/text/aspect";
constexpr const char* kSplit = "/text/split";
constexpr const char* kPieces = "/vocab/text_pieces";
constexpr const char* kSegments = "/vocab/segments";
constexpr const char* kAspects = "/vocab/aspects";

uint64_t fnv1a(const std::string& text, uint64_t seed) {
  uint64_t h = 1469598103934665603ULL ^ seed;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  // A final mix, so that titles differing in their last byte spread over the unit interval.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

// name -> id in sorted-name order.
std::map<std::string, int32_t> name_ids(const std::vector<TextPair>& pairs,
                                        std::string TextPair::*field,
                                        std::vector<std::string>& names) {
  std::map<std::string, int32_t> ids;
  for (const TextPair& p : pairs) ids.emplace(p.*field, 0);
  names.clear();
  for (auto& [name, id] : ids) {
    id = int32_t(names.size());
    names.push_back(name);
  }
  return ids;
}

}  // namespace

TextSplit split_of_title(const std::string& title, const TextCorpusOptions& options) {
  const double u = unit_interval(fnv1a(title, options.split_seed));
  if (u < options.test_fraction) return TextSplit::kTest;
  if (u < options.test_fraction + options.validation_fraction) return TextSplit::kValidation;
  return TextSplit::kTrain;
}

TextCorpus build_text_corpus(const std::vector<TextPair>& pairs, const TextCorpusOptions& options) {
  TextCorpus corpus;
  const auto segment_ids = name_ids(pairs, &TextPair::segment, corpus.segments);
  const auto aspect_ids = name_ids(pairs, &TextPair::aspect, corpus.aspects);
  std::vector<std::string> training_text;
  for (const TextPair& p : pairs) {
    const TextSplit split = split_of_title(p.title, options);
    corpus.split.push_back(int8_t(split));
    if (split == TextSplit::kTrain) {
      training_text.push_back(p.title);
      training_text.push_back(p.text);
    }
  }
  if (training_text.empty())
    throw UserError(
        "text corpus: no title fell in the training split; lower the validation and "
        "test fractions or add pairs");
  const CharTokenizer tokenizer = CharTokenizer::train(training_text, options.tokenizer);
  corpus.pieces = tokenizer.pieces();
  for (const TextPair& p : pairs) {
    const std::vector<int32_t> title = tokenizer.encode(p.title), text = tokenizer.encode(p.text);
    corpus.title_tokens.insert(corpus.title_tokens.end(), title.begin(), title.end());
    corpus.text_tokens.insert(corpus.text_tokens.end(), text.begin(), text.end());
    corpus.title_offsets.push_back(int64_t(corpus.title_tokens.size()));
    corpus.text_offsets.push_back(int64_t(corpus.text_tokens.size()));
    corpus.segment.push_back(segment_ids.at(p.segment));
    corpus.aspect.push_back(aspect_ids.at(p.aspect));
  }
  return corpus;
}

void write_text_corpus(const std::string& path, const TextCorpus& c) {
  create_parent_folders(path);
  PendingOutput output(path);
  h5::File file = h5::File::create(output.temp_path(), path);
  file.set_attribute("corpus_kind", kCorpusKind);
  file.set_attribute("text_schema_version", kTextSchemaVersion);
  file.set_attribute("created_by", c.created_by);
  file.set_attribute("source_format", c.source_format);
  file.set_attribute("source_files", c.source_files);
  file.set_attribute("num_pairs", c.num_pairs());
  h5::DatasetLayout layout;
  layout.chunk_elements = 16 * 1024;
  for (const char* group : {"/text", "/vocab"}) file.create_group(group);
  file.write_dataset(kTitleTokens, c.title_tokens.data(), int64_t(c.title_tokens.size()), layout);
  file.write_dataset(kTitleOffsets, c.title_offsets.data(), int64_t(c.title_offsets.size()),
                     layout);
  file.write_dataset(kTextTokens, c.text_tokens.data(), int64_t(c.text_tokens.size()), layout);
  file.write_dataset(kTextOffsets, c.text_offsets.data(), int64_t(c.text_offsets.size()), layout);
  file.write_dataset(kSegment, c.segment.data(), c.num_pairs(), layout);
  file.write_dataset(kAspect, c.aspect.data(), c.num_pairs(), layout);
  file.write_dataset(kSplit, c.split.data(), c.num_pairs(), layout);
  file.write_strings(kPieces, c.pieces, layout);
  file.write_strings(kSegments, c.segments, layout);
  file.write_strings(kAspects, c.aspects, layout);
  file.close();
  output.commit();
}

bool is_text_corpus(const std::string& path) {
  if (!h5::has_hdf5_signature(path)) return false;
  const h5::File file = h5::File::open_read_only(path);
  return file.has_attribute("corpus_kind") && file.string_attribute("corpus_kind") == kCorpusKind;
}

TextCorpus read_text_corpus(const std::string& path) {
  const h5::File file = h5::File::open_read_only(path);
  if (!file.has_attribute("corpus_kind") || file.string_attribute("corpus_kind") != kCorpusKind)
    throw UserError(path +
                    ": not a text corpus (no corpus_kind \"text_pairs\"; a behaviour "
                    "corpus goes to train/eval as data.corpus)");
  if (file.int_attribute("text_schema_version") != kTextSchemaVersion)
    throw UserError(path + ": text corpus schema version " +
                    std::to_string(file.int_attribute("text_schema_version")) +
                    ", this build reads " + std::to_string(kTextSchemaVersion));
  auto bad = [&](const std::string& what) {
    throw UserError(path + ": corrupt text corpus: " + what);
  };
  auto ints = [&](const char* name, auto sample) {
    using T = decltype(sample);
    const h5::Dataset d = file.open_dataset(name);
    if (d.is_string() || !d.is_integer_of_size(sizeof(T)) || d.dims().size() != 1)
      bad(std::string(name) + " is not a 1-D integer dataset of " + std::to_string(sizeof(T)) +
          " bytes");
    return d.read_all<T>();
  };
  TextCorpus c;
  c.title_tokens = ints(kTitleTokens, int32_t{});
  c.text_tokens = ints(kTextTokens, int32_t{});
  c.title_offsets = ints(kTitleOffsets, int64_t{});
  c.text_offsets = ints(kTextOffsets, int64_t{});
  c.segment = ints(kSegment, int32_t{});
  c.aspect = ints(kAspect, int32_t{});
  c.split = ints(kSplit, int8_t{});
  c.pieces = file.open_dataset(kPieces).read_strings();
  c.segments = file.open_dataset(kSegments).read_strings();
  c.aspects = file.open_dataset(kAspects).read_strings();
  c.source_format = file.string_attribute("source_format");
  c.source_files = file.string_attribute("source_files");
  c.created_by = file.string_attribute("created_by");

  const int64_t n = c.num_pairs();
  if (file.int_attribute("num_pairs") != n) bad("num_pairs differs from the pairs stored");
  for (const auto* names : {&c.segments, &c.aspects}) {
    std::vector<std::string> sorted = *names;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      bad("a segment or aspect name appears twice");
    for (const std::string& name : *names)
      if (name.empty() || !is_valid_utf8(name)) bad("an empty or malformed segment or aspect name");
  }
  if (int64_t(c.aspect.size()) != n || int64_t(c.split.size()) != n ||
      int64_t(c.title_offsets.size()) != n + 1 || int64_t(c.text_offsets.size()) != n + 1)
    bad("per-pair datasets of different lengths");
  auto check_offsets = [&](const std::vector<int64_t>& offsets, size_t tokens, const char* what) {
    if (offsets.front() != 0 || offsets.back() != int64_t(tokens) ||
        !std::is_sorted(offsets.begin(), offsets.end()))
      bad(std::string(what) + " offsets do not cover their tokens in order");
  };
  check_offsets(c.title_offsets, c.title_tokens.size(), "title");
  check_offsets(c.text_offsets, c.text_tokens.size(), "text");
  const CharTokenizer tokenizer = c.tokenizer(path);  // checks the pieces
  for (const auto* tokens : {&c.title_tokens, &c.text_tokens})
    for (const int32_t t : *tokens)
      if (t < kFirstByteToken || t >= tokenizer.vocab_size())
        bad("a token id outside the tokenizer's text tokens");
  for (int64_t i = 0; i < n; ++i) {
    if (c.segment[size_t(i)] < 0 || c.segment[size_t(i)] >= int32_t(c.segments.size()) ||
        c.aspect[size_t(i)] < 0 || c.aspect[size_t(i)] >= int32_t(c.aspects.size()))
      bad("a segment or aspect id outside its vocabulary");
    if (c.split[size_t(i)] < 0 || c.split[size_t(i)] > 2) bad("a split other than 0, 1, 2");
  }
  return c;
}

}  // namespace cf::data::text
