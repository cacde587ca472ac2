// How report pages read numbers and text out of report JSON and print them: a missing or
// non-numeric value is NaN and prints as "n/a", so a page never shows a made-up number.
#pragma once
#include <cmath>
#include <cstdio>
#include <string>

#include "core/json.h"

namespace cf::report {

inline double num(const Json& j) { return j.is_number() ? j.get<double>() : std::nan(""); }
inline double num(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) ? num(j[key]) : std::nan("");
}

inline std::string fixed(double v, int decimals = 4) {
  if (!std::isfinite(v)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The string at `key` as it is; any other JSON value as its JSON text; `fallback` when absent.
inline std::string text(const Json& j, const char* key, const std::string& fallback = "n/a") {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

}  // namespace cf::report
