// CharTokenizer: the text tokenizer of copy generation (issue 16): one token per character for
// the characters the training text uses often enough, and the UTF-8 bytes of any other
// character as byte tokens, so every well-formed UTF-8 string encodes and decodes back exactly.
// Chinese product copy is written in characters (a few thousand cover it); mixed text (Latin
// words, digits, emoji) keeps working through the bytes. The tokenizer is trained on the
// corpus's training text and stored with the corpus (its pieces, in id order).
//
// Ids: 0 padding, 1 begin, 2 separator (between the prompt and the text), 3 end, then the 256
// byte tokens (4 + byte), then the characters, most frequent first (ties by code point order).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cf::data::text {

inline constexpr int32_t kPadToken = 0;
inline constexpr int32_t kBeginToken = 1;
inline constexpr int32_t kSeparatorToken = 2;
inline constexpr int32_t kEndToken = 3;
inline constexpr int32_t kFirstByteToken = 4;
inline constexpr int32_t kFirstCharToken = kFirstByteToken + 256;

struct CharTokenizerOptions {
  int64_t min_count = 2;     // a character seen fewer times in training text goes by its bytes
  int32_t max_chars = 8000;  // at most this many character tokens (the most frequent)
};

class CharTokenizer {
 public:
  // Counts the characters of `texts` (each well-formed UTF-8; CF_CHECK otherwise: callers
  // validate with line numbers first) and keeps the frequent ones.
  static CharTokenizer train(const std::vector<std::string>& texts,
                             const CharTokenizerOptions& options = {});
  // From stored pieces (pieces()[id] for every id): UserError naming `source` when they are not
  // a tokenizer's (wrong specials or bytes, a malformed or repeated character).
  static CharTokenizer from_pieces(std::vector<std::string> pieces, const std::string& source);

  // The UTF-8 of each id's piece: "<pad>", "<s>", "<sep>", "</s>", "<0xAB>" for bytes, the
  // character itself for the rest.
  const std::vector<std::string>& pieces() const { return pieces_; }
  int32_t vocab_size() const { return int32_t(pieces_.size()); }
  int32_t characters() const { return vocab_size() - kFirstCharToken; }

  // Well-formed UTF-8 (CF_CHECK) -> ids, no specials added.
  std::vector<int32_t> encode(std::string_view text) const;
  // Ids -> text; special tokens are skipped. Byte tokens that do not form a well-formed
  // sequence (a sampler may emit any) come out as U+FFFD, so the result is always UTF-8.
  std::string decode(const std::vector<int32_t>& ids) const;

 private:
  explicit CharTokenizer(std::vector<std::string> pieces);
  std::vector<std::string> pieces_;
  // Character (as a code point) -> id, sorted by code point for lookup.
  std::vector<std::pair<uint32_t, int32_t>> char_ids_;
};

// The code point of the well-formed UTF-8 sequence `sequence` (1 to 4 bytes).
uint32_t decode_code_point(std::string_view sequence);

}  // namespace cf::data::text
