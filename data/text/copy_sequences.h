// The text corpus as the trainer sees it (issue 16): every pair is one sequence of the model's
// item channel, `segment aspect <s> title <sep> text </s>`, so copy generation trains on the
// same trainer, kernels, checkpoints and ranks as behaviour models. The item vocabulary is the
// corpus tokenizer's ids, then one token per segment, then one per aspect; the other channels
// hold a constant (a copy model embeds only items and positions).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/text/text_corpus.h"

namespace cf::data::text {

// Item-channel ids of a text corpus.
struct CopyVocabulary {
  int32_t tokenizer_size = 0;  // CharTokenizer::vocab_size (ids 0 .. tokenizer_size - 1)
  int32_t segments = 0, aspects = 0;
  int32_t segment_token(int32_t segment) const { return tokenizer_size + segment; }
  int32_t aspect_token(int32_t aspect) const { return tokenizer_size + segments + aspect; }
  int32_t size() const { return tokenizer_size + segments + aspects; }
  static CopyVocabulary of(const TextCorpus& corpus);
};

// Shortest text room a prompt leaves: a title longer than max_len - kMinTextRoom - 4 tokens is
// cut (its end), so every sequence has room for at least this many text tokens.
inline constexpr int32_t kMinTextRoom = 16;

// `segment aspect <s> title <sep>`: what the model reads before writing the text.
std::vector<int32_t> copy_prompt(const CopyVocabulary& vocab, int32_t segment, int32_t aspect,
                                 const int32_t* title, int64_t title_length, int32_t max_len);
// The prompt, then the text and </s>, cut to max_len tokens (the text's end goes first).
std::vector<int32_t> copy_sequence(const CopyVocabulary& vocab, int32_t segment, int32_t aspect,
                                   const int32_t* title, int64_t title_length, const int32_t* text,
                                   int64_t text_length, int32_t max_len);

// Opens `path` (a text corpus; UserError naming it otherwise) as a CorpusReader whose sequence
// i is pair i as copy_sequence lays it out for a model of `max_len` positions.
// sequence_splits() gives each pair's TextSplit.
std::unique_ptr<CorpusReader> open_copy_sequences(const std::string& path, int32_t max_len);
// The same over a corpus already read from `path` (no second read of the file).
std::unique_ptr<CorpusReader> open_copy_sequences(TextCorpus corpus, const std::string& path,
                                                  int32_t max_len);

}  // namespace cf::data::text
