// JSON: the project uses nlohmann::json (Debian's nlohmann-json3-dev) for manifests and reports.
#pragma once
#include <cmath>
#include <nlohmann/json.hpp>

namespace cf {
using Json = nlohmann::ordered_json;  // keeps key order as written, for readable outputs

// A number, or null where it is undefined (NaN, infinite): JSON has no NaN.
inline Json json_number_or_null(double value) {
  return std::isfinite(value) ? Json(value) : Json(nullptr);
}
}  // namespace cf
