#include "sweep/sweep_axes.h"

#include <algorithm>
#include <map>

#include "core/error.h"

namespace cf::sweep {
namespace {

constexpr const char* kOutDirKey = "run.out_dir";

std::string trimmed(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const size_t last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::string key_of_assignment(const std::string& assignment) {
  return trimmed(assignment.substr(0, assignment.find('=')));
}

}  // namespace

std::string SweepAxis::flag_text() const {
  std::string text = "--grid " + key + "=";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? "," : "") + values[i];
  return text;
}

SweepAxis parse_grid_flag(const std::string& text) {
  const std::string flag = "--grid " + text;
  const size_t eq = text.find('=');
  if (eq == std::string::npos || trimmed(text.substr(0, eq)).empty()) {
    throw UserError(flag + ": expected key=v1,v2,..., e.g. --grid train.lr=0.001,0.003");
  }
  SweepAxis axis;
  axis.key = trimmed(text.substr(0, eq));
  const std::string list = text.substr(eq + 1);
  if (trimmed(list).empty()) {
    throw UserError(flag + ": empty value list (give at least one value, e.g. --grid " + axis.key +
                    "=a,b)");
  }
  size_t start = 0;
  for (;;) {
    const size_t comma = list.find(',', start);
    const std::string value =
        trimmed(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (value.empty()) throw UserError(flag + ": empty value between commas");
    if (std::find(axis.values.begin(), axis.values.end(), value) != axis.values.end()) {
      throw UserError(flag + ": value '" + value + "' is listed twice");
    }
    axis.values.push_back(value);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return axis;
}

void require_distinct_keys(const std::vector<SweepAxis>& axes,
                           const std::vector<std::string>& set_assignments) {
  std::map<std::string, std::string> flag_of_key;
  for (const SweepAxis& axis : axes) {
    if (axis.key == kOutDirKey) {
      throw UserError(axis.flag_text() + ": the sweep sets " + std::string(kOutDirKey) +
                      " itself (<--out-dir>/trials/<trial id>)");
    }
    auto [it, fresh] = flag_of_key.emplace(axis.key, axis.flag_text());
    if (!fresh) {
      throw UserError(axis.flag_text() + ": key '" + axis.key + "' is given twice (also " +
                      it->second + "); put all its values on one --grid flag");
    }
  }
  for (const std::string& assignment : set_assignments) {
    const std::string key = key_of_assignment(assignment);
    if (key == kOutDirKey) {
      throw UserError("--set " + assignment + ": the sweep sets " + std::string(kOutDirKey) +
                      " itself (<--out-dir>/trials/<trial id>)");
    }
    auto it = flag_of_key.find(key);
    if (it != flag_of_key.end()) {
      throw UserError("--set " + assignment + ": key '" + key + "' is given twice (also " +
                      it->second + "); a swept key takes its values from --grid");
    }
  }
}

}  // namespace cf::sweep
