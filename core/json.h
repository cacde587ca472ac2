// JSON: the project uses nlohmann::json (Debian's nlohmann-json3-dev) for manifests and reports.
#pragma once
#include <nlohmann/json.hpp>

namespace cf {
using Json = nlohmann::ordered_json;  // keeps key order as written, for readable outputs
}  // namespace cf
