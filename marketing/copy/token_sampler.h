// TokenSampler: how `cartformer copy` picks each next token from the model's logits (issue 16):
// temperature, top-k, top-p (nucleus), a ban on repeating any n-gram of the text so far, and a
// seeded stream, so the same seed writes the same copy.
#pragma once
#include <cstdint>
#include <vector>

#include "core/random.h"

namespace cf::marketing::copy {

struct SamplingOptions {
  double temperature = 1.0;  // > 0; logits are divided by it (below 1: sharper)
  int top_k = 0;             // > 0: only the k most likely tokens (0: all)
  double top_p = 1.0;        // in (0, 1]: the smallest set of most likely tokens reaching p
  int no_repeat_ngram = 0;   // > 0: a token completing an n-gram already in the text is banned
  bool greedy = false;       // the most likely allowed token, no randomness
};

class TokenSampler {
 public:
  // UserError (naming the option) for a temperature <= 0, top_k < 0, top_p outside (0, 1],
  // no_repeat_ngram < 0.
  TokenSampler(const SamplingOptions& options, uint64_t seed);
  // The next token given `logits` (one per vocabulary id; -inf for ids never to be chosen) and
  // the tokens generated so far. Returns -1 when every token is banned or impossible.
  int32_t next(const std::vector<float>& logits, const std::vector<int32_t>& text);

 private:
  SamplingOptions options_;
  Xoshiro256 rng_;
};

// Which byte tokens may come next so that the bytes a draft writes always form well-formed
// UTF-8 (the copy tokenizer, data/text/char_tokenizer.h, writes rare characters as their
// bytes): inside a character only its continuation bytes, in the range its lead byte allows (no
// overlong forms, surrogates or code points past U+10FFFF); between characters any character
// token, printable ASCII bytes and lead bytes, never a stray continuation byte.
class Utf8Guard {
 public:
  void add(int32_t token);           // the token just written
  bool allows(int32_t token) const;  // whether `token` may come next
  bool inside_character() const { return needed_ > 0; }
  int partial_bytes() const { return needed_ > 0 ? written_ : 0; }  // of an unfinished character

 private:
  int needed_ = 0, written_ = 0;             // continuation bytes to come; bytes so far
  uint8_t next_lo_ = 0x80, next_hi_ = 0xBF;  // the allowed range of the next one
};

// The tokens that would repeat an n-gram of `text` (no_repeat_ngram = n): the tokens that
// followed each earlier occurrence of the text's last n - 1 tokens.
std::vector<int32_t> repeated_ngram_bans(const std::vector<int32_t>& text, int n);

}  // namespace cf::marketing::copy
