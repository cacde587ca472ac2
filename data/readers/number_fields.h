// Whole-field number parsing for raw log readers (std::from_chars: no locale, no allocation).
#pragma once
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string_view>

namespace cf::data {

// True when all of `text` is a base-10 integer (optional leading '-') that fits int64.
inline bool parse_int64(std::string_view text, int64_t& value) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// True when all of `text` is a finite decimal number ("12", "-0.5", "1e3"); rejects "nan"/"inf".
inline bool parse_finite_double(std::string_view text, double& value) {
  if (text.empty()) return false;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::general);
  return ec == std::errc() && end == text.data() + text.size() && std::isfinite(value);
}

// A price: empty means unknown (NaN); otherwise a finite number >= 0.
inline bool parse_price(std::string_view text, double& price) {
  if (text.empty()) {
    price = std::nan("");
    return true;
  }
  return parse_finite_double(text, price) && price >= 0.0;
}

}  // namespace cf::data
