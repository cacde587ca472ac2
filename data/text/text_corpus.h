// The text corpus of copy generation (issue 16): text pairs tokenized by the corpus's own
// CharTokenizer, with segment and aspect vocabularies and a split by title, in one HDF5 file
// (layout in docs/corpus-format.md, "Text corpus"). Written atomically; read back with every
// id and offset checked, so a damaged file is one clear error, not a crash.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/text/char_tokenizer.h"
#include "data/text/text_pairs.h"

namespace cf::data::text {

// Where a pair belongs. All pairs of one title share a split: no title is in two.
enum class TextSplit : int8_t { kTrain = 0, kValidation = 1, kTest = 2 };

struct TextCorpusOptions {
  double validation_fraction = 0.1;  // of distinct titles
  double test_fraction = 0.1;
  uint64_t split_seed = 2024;
  CharTokenizerOptions tokenizer;  // trained on the training pairs' titles and texts only
};

struct TextCorpus {
  std::vector<std::string> pieces;    // the tokenizer (CharTokenizer::pieces)
  std::vector<std::string> segments;  // segment names, id = index
  std::vector<std::string> aspects;   // aspect names, id = index
  // Per pair: tokens of the title and of the text (concatenated; offsets have pairs + 1
  // entries), segment and aspect ids, split.
  std::vector<int32_t> title_tokens, text_tokens;
  std::vector<int64_t> title_offsets{0}, text_offsets{0};
  std::vector<int32_t> segment, aspect;
  std::vector<int8_t> split;
  // Provenance (root attributes).
  std::string source_format, source_files, created_by = "cartformer prep";

  int64_t num_pairs() const { return int64_t(segment.size()); }
  CharTokenizer tokenizer(const std::string& source) const {
    return CharTokenizer::from_pieces(pieces, source);
  }
};

// The split of `title`: a pure function of (seed, title), so it holds across runs and files.
TextSplit split_of_title(const std::string& title, const TextCorpusOptions& options);

// Tokenizes `pairs`: the tokenizer is trained on the training split's titles and texts.
TextCorpus build_text_corpus(const std::vector<TextPair>& pairs, const TextCorpusOptions& options);

void write_text_corpus(const std::string& path, const TextCorpus& corpus);
// UserError naming the file for anything but a well-formed text corpus (a behaviour corpus
// included: "not a text corpus").
TextCorpus read_text_corpus(const std::string& path);
// Whether `path` is an HDF5 file written as a text corpus (its corpus_kind attribute).
bool is_text_corpus(const std::string& path);

}  // namespace cf::data::text
