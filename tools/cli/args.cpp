#include "tools/cli/args.h"

#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "core/error.h"

namespace cf::cli {

ArgParser::ArgParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void ArgParser::option(const std::string& name, const std::string& value_name,
                       const std::string& help, const std::string& default_value, bool repeatable) {
  specs_[name] = Spec{value_name, help, default_value, false, repeatable};
  order_.push_back(name);
}

void ArgParser::flag(const std::string& name, const std::string& help) {
  specs_[name] = Spec{"", help, "", true, false};
  order_.push_back(name);
}

std::string ArgParser::help_text() const {
  std::string out =
      "usage: cartformer " + command_ + " [options]\n\n" + summary_ + "\n\noptions:\n";
  for (const auto& name : order_) {
    const Spec& s = specs_.at(name);
    std::string left = "  --" + name + (s.is_flag ? "" : " " + s.value_name);
    if (left.size() < 28)
      left.resize(28, ' ');
    else
      left += "\n" + std::string(28, ' ');
    out += left + s.help;
    if (!s.default_value.empty()) out += " (default: " + s.default_value + ")";
    if (s.repeatable) out += " (repeatable)";
    out += "\n";
  }
  out += "  --help                    show this help\n";
  return out;
}

bool ArgParser::parse(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(help_text().c_str(), stdout);
      return false;
    }
    if (arg.rfind("--", 0) != 0) {
      throw UserError("unexpected argument '" + arg + "' (see --help)");
    }
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    auto it = specs_.find(name);
    if (it == specs_.end()) {
      throw UserError("unknown option '--" + name + "' (see --help)");
    }
    if (it->second.is_flag) {
      values_[name] = {"1"};
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argc) throw UserError("option '--" + name + "' needs a value");
      value = argv[++i];
    }
    if (it->second.repeatable)
      values_[name].push_back(value);
    else
      values_[name] = {value};
  }
  return true;
}

bool ArgParser::has(const std::string& name) const {
  if (values_.count(name)) return true;
  auto it = specs_.find(name);
  return it != specs_.end() && !it->second.default_value.empty();
}

std::string ArgParser::get(const std::string& name) const {
  auto v = values_.find(name);
  if (v != values_.end() && !v->second.empty()) return v->second.back();
  auto s = specs_.find(name);
  return s == specs_.end() ? std::string() : s->second.default_value;
}

std::vector<std::string> ArgParser::get_all(const std::string& name) const {
  auto v = values_.find(name);
  return v == values_.end() ? std::vector<std::string>{} : v->second;
}

namespace {
// "must be >= 1", "must be between 0 and 1": the bounds a caller set (the type's limits are no
// bound).
template <class Number>
std::string range_text(Number min, Number max, Number lowest, Number highest) {
  auto text = [](Number x) {
    std::ostringstream out;
    out << x;
    return out.str();
  };
  if (min != lowest && max != highest) return "between " + text(min) + " and " + text(max);
  if (min != lowest) return ">= " + text(min);
  return "<= " + text(max);
}
}  // namespace

int64_t ArgParser::get_int(const std::string& name, int64_t min, int64_t max) const {
  const std::string v = get(name);
  int64_t x = 0;
  try {
    size_t used = 0;
    x = std::stoll(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
  } catch (const std::exception&) {
    throw UserError("--" + name + " expects an integer, got '" + v + "'");
  }
  if (x < min || x > max) {
    throw UserError("--" + name + " must be " + range_text(min, max, INT64_MIN, INT64_MAX) +
                    ", got " + v);
  }
  return x;
}

double ArgParser::get_double(const std::string& name, double min, double max) const {
  const std::string v = get(name);
  double x = 0;
  try {
    size_t used = 0;
    x = std::stod(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
  } catch (const std::exception&) {
    throw UserError("--" + name + " expects a number, got '" + v + "'");
  }
  if (!std::isfinite(x)) throw UserError("--" + name + " expects a finite number, got '" + v + "'");
  if (x < min || x > max) {
    throw UserError("--" + name + " must be " + range_text(min, max, -DBL_MAX, DBL_MAX) + ", got " +
                    v);
  }
  return x;
}

bool ArgParser::get_flag(const std::string& name) const { return values_.count(name) > 0; }

std::string ArgParser::require(const std::string& name) const {
  if (!has(name)) throw UserError("--" + name + " is required (see --help)");
  return get(name);
}

}  // namespace cf::cli
