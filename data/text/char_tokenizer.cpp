#include "data/text/char_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

#include "core/error.h"
#include "core/utf8.h"

namespace cf::data::text {
namespace {

const char* const kSpecialPieces[] = {"<pad>", "<s>", "<sep>", "</s>"};

std::string byte_piece(int byte) {
  char text[8];
  std::snprintf(text, sizeof text, "<0x%02X>", byte);
  return text;
}

// Calls visit(sequence) for each UTF-8 sequence of well-formed `text`.
template <class Visit>
void for_each_character(std::string_view text, Visit&& visit) {
  for (size_t at = 0; at < text.size();) {
    const size_t length = utf8_sequence_length(text, at);
    CF_CHECK(length > 0, "char tokenizer: text is not well-formed UTF-8");
    visit(text.substr(at, length));
    at += length;
  }
}

}  // namespace

uint32_t decode_code_point(std::string_view s) {
  const auto b = [&](size_t k) { return uint32_t(static_cast<unsigned char>(s[k])); };
  switch (s.size()) {
    case 1:
      return b(0);
    case 2:
      return (b(0) & 0x1F) << 6 | (b(1) & 0x3F);
    case 3:
      return (b(0) & 0x0F) << 12 | (b(1) & 0x3F) << 6 | (b(2) & 0x3F);
    default:
      return (b(0) & 0x07) << 18 | (b(1) & 0x3F) << 12 | (b(2) & 0x3F) << 6 | (b(3) & 0x3F);
  }
}

CharTokenizer::CharTokenizer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {
  for (int32_t id = kFirstCharToken; id < int32_t(pieces_.size()); ++id)
    char_ids_.push_back({decode_code_point(pieces_[size_t(id)]), id});
  std::sort(char_ids_.begin(), char_ids_.end());
}

CharTokenizer CharTokenizer::train(const std::vector<std::string>& texts,
                                   const CharTokenizerOptions& options) {
  std::map<uint32_t, std::pair<int64_t, std::string>> counts;  // code point -> (count, UTF-8)
  for (const std::string& text : texts)
    for_each_character(text, [&](std::string_view c) {
      auto& entry = counts[decode_code_point(c)];
      if (entry.first++ == 0) entry.second = std::string(c);
    });
  std::vector<std::pair<int64_t, uint32_t>> kept;  // (count, code point)
  for (const auto& [code_point, entry] : counts)
    if (entry.first >= options.min_count) kept.push_back({entry.first, code_point});
  // Most frequent first; ties in code point order (the map's order), so training is
  // deterministic.
  std::stable_sort(kept.begin(), kept.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  if (int64_t(kept.size()) > options.max_chars) kept.resize(size_t(options.max_chars));

  std::vector<std::string> pieces(std::begin(kSpecialPieces), std::end(kSpecialPieces));
  for (int byte = 0; byte < 256; ++byte) pieces.push_back(byte_piece(byte));
  for (const auto& [count, code_point] : kept) pieces.push_back(counts[code_point].second);
  return CharTokenizer(std::move(pieces));
}

CharTokenizer CharTokenizer::from_pieces(std::vector<std::string> pieces,
                                         const std::string& source) {
  auto bad = [&](const std::string& why) {
    throw UserError(source + ": not a character tokenizer: " + why);
  };
  if (pieces.size() < size_t(kFirstCharToken)) bad("fewer pieces than its fixed tokens");
  for (int32_t id = 0; id < kFirstByteToken; ++id)
    if (pieces[size_t(id)] != kSpecialPieces[id])
      bad("piece " + std::to_string(id) + " is not " + kSpecialPieces[id]);
  for (int byte = 0; byte < 256; ++byte)
    if (pieces[size_t(kFirstByteToken + byte)] != byte_piece(byte))
      bad("piece " + std::to_string(kFirstByteToken + byte) + " is not " + byte_piece(byte));
  std::vector<uint32_t> seen;
  for (size_t id = size_t(kFirstCharToken); id < pieces.size(); ++id) {
    const std::string& p = pieces[id];
    if (p.empty() || utf8_sequence_length(p, 0) != p.size())
      bad("piece " + std::to_string(id) + " is not one well-formed UTF-8 character");
    seen.push_back(decode_code_point(p));
  }
  std::sort(seen.begin(), seen.end());
  if (std::adjacent_find(seen.begin(), seen.end()) != seen.end()) bad("a character appears twice");
  return CharTokenizer(std::move(pieces));
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for_each_character(text, [&](std::string_view c) {
    const uint32_t code_point = decode_code_point(c);
    const auto it = std::lower_bound(char_ids_.begin(), char_ids_.end(),
                                     std::pair<uint32_t, int32_t>{code_point, 0});
    if (it != char_ids_.end() && it->first == code_point) {
      ids.push_back(it->second);
    } else {
      for (const char byte : c) ids.push_back(kFirstByteToken + static_cast<unsigned char>(byte));
    }
  });
  return ids;
}

std::string CharTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string bytes;
  for (const int32_t id : ids) {
    CF_CHECK(id >= 0 && id < vocab_size(), "char tokenizer: id outside the vocabulary");
    if (id < kFirstByteToken) continue;
    if (id < kFirstCharToken) {
      bytes += char(id - kFirstByteToken);
    } else {
      bytes += pieces_[size_t(id)];
    }
  }
  return with_invalid_utf8_replaced(bytes);
}

}  // namespace cf::data::text
