// UTF-8 well-formedness: the check for text stored as UTF-8, and a repair for text only shown.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace cf {

// Bytes in the well-formed UTF-8 sequence starting at text[at], or 0 when none starts there.
// Follows the Unicode standard's table of well-formed sequences (as Python's and h5py's decoders
// do): overlong forms, surrogates (U+D800..U+DFFF) and code points above U+10FFFF are ill-formed.
inline size_t utf8_sequence_length(std::string_view text, size_t at) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[at + k]); };
  auto in = [](unsigned char b, unsigned char lo, unsigned char hi) { return b >= lo && b <= hi; };
  const size_t left = text.size() - at;
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (in(lead, 0xC2, 0xDF)) return left >= 2 && in(byte(1), 0x80, 0xBF) ? 2 : 0;
  if (in(lead, 0xE0, 0xEF)) {
    // The second byte's range excludes overlong forms (after E0) and surrogates (after ED).
    const unsigned char lo = lead == 0xE0 ? 0xA0 : 0x80, hi = lead == 0xED ? 0x9F : 0xBF;
    return left >= 3 && in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) ? 3 : 0;
  }
  if (in(lead, 0xF0, 0xF4)) {
    // Excludes overlong forms (after F0) and code points above U+10FFFF (after F4).
    const unsigned char lo = lead == 0xF0 ? 0x90 : 0x80, hi = lead == 0xF4 ? 0x8F : 0xBF;
    return left >= 4 && in(byte(1), lo, hi) && in(byte(2), 0x80, 0xBF) && in(byte(3), 0x80, 0xBF)
               ? 4
               : 0;
  }
  return 0;
}

inline bool is_valid_utf8(std::string_view text) {
  for (size_t at = 0; at < text.size();) {
    const size_t length = utf8_sequence_length(text, at);
    if (length == 0) return false;
    at += length;
  }
  return true;
}

// `text` with every byte that starts no well-formed sequence replaced by U+FFFD, for text that
// is only described (file names in provenance), never for ids, which must stay distinct.
inline std::string with_invalid_utf8_replaced(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    const size_t length = utf8_sequence_length(text, at);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++at;
    } else {
      out.append(text.substr(at, length));
      at += length;
    }
  }
  return out;
}

}  // namespace cf
