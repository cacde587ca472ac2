#include "data/prep_config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace cf::data {
namespace {

namespace fs = std::filesystem;

std::string known_keys_text() {
  std::string text;
  for (const auto& k : prep_config_keys()) text += (text.empty() ? "" : ", ") + k;
  return text;
}

// Reads scalars with the file and key in every error message.
class KeyReader {
 public:
  KeyReader(const std::string& origin, const YAML::Node& node, const std::string& key)
      : origin_(origin), node_(node), key_(key) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw UserError(origin_ + ": key '" + key_ + "': " + problem);
  }
  std::string text() const {
    if (!node_.IsScalar()) fail("expected a single value");
    return node_.Scalar();
  }
  std::string string_value() const {
    std::string s = text();
    if (s.empty()) fail("must not be empty");
    return s;
  }
  int64_t integer() const {
    std::string s = text();
    try {
      size_t used = 0;
      int64_t v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    fail("expected an integer, got '" + s + "'");
  }
  double number() const {
    std::string s = text();
    try {
      size_t used = 0;
      double v = std::stod(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    fail("expected a number, got '" + s + "'");
  }
  std::vector<std::string> string_list() const {
    std::vector<std::string> out;
    if (node_.IsNull()) return out;
    if (node_.IsScalar()) {
      // "email,phone" is accepted as well as a YAML list, matching the command-line flag.
      std::stringstream ss(node_.Scalar());
      std::string item;
      while (std::getline(ss, item, ',')) {
        if (!item.empty()) out.push_back(item);
      }
      return out;
    }
    if (!node_.IsSequence()) fail("expected a list of names");
    for (const auto& element : node_) {
      if (!element.IsScalar() || element.Scalar().empty()) fail("expected a list of names");
      out.push_back(element.Scalar());
    }
    return out;
  }

 private:
  const std::string& origin_;
  const YAML::Node& node_;
  const std::string& key_;
};

std::string resolve_path(const std::string& origin, const std::string& path) {
  fs::path p(path);
  if (p.is_absolute()) return path;
  fs::path base = fs::path(origin).parent_path();
  return base.empty() ? path : (base / p).lexically_normal().string();
}

// Shortest text that reads back as the same double ("0.9", not "0.90000000000000002").
std::string shortest_number(double value) {
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

}  // namespace

const std::vector<std::string>& prep_config_keys() {
  static const std::vector<std::string> keys = {"format",
                                                "input",
                                                "item_attributes",
                                                "personal_columns",
                                                "key_file",
                                                "output",
                                                "max_reject_fraction",
                                                "min_sequence_length",
                                                "max_events_per_user",
                                                "time_split_quantile",
                                                "time_split_cutoff"};
  return keys;
}

PrepConfig parse_prep_config(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw UserError(origin + ": invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " +
                    e.msg);
  }
  PrepConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) throw UserError(origin + ": expected a mapping of prep settings");
  for (const auto& entry : root) {
    // YAML allows any node as a key ("? [a, b]: 1"); settings are named by plain scalars only.
    if (!entry.first.IsScalar()) {
      throw UserError(origin + ": line " + std::to_string(entry.first.Mark().line + 1) +
                      ": expected a setting name as the key, got a " +
                      (entry.first.IsMap()        ? "map"
                       : entry.first.IsSequence() ? "list"
                                                  : "null"));
    }
    const std::string key = entry.first.Scalar();
    const KeyReader r(origin, entry.second, key);
    if (key == "format") {
      config.format = r.string_value();
      // Validates the name here so the error names this file and key.
      try {
        parse_raw_format(*config.format);
      } catch (const UserError& e) {
        std::string why = e.what();
        if (why.rfind("format: ", 0) == 0) why = why.substr(8);
        r.fail(why);
      }
    } else if (key == "input") {
      config.input = resolve_path(origin, r.string_value());
    } else if (key == "item_attributes") {
      config.item_attributes = resolve_path(origin, r.string_value());
    } else if (key == "key_file") {
      config.key_file = resolve_path(origin, r.string_value());
    } else if (key == "output") {
      config.output = resolve_path(origin, r.string_value());
    } else if (key == "personal_columns") {
      config.personal_columns = r.string_list();
    } else if (key == "max_reject_fraction") {
      double v = r.number();
      if (!(v >= 0 && v <= 1)) r.fail("must be within [0, 1], got " + r.text());
      config.max_reject_fraction = v;
    } else if (key == "time_split_quantile") {
      double v = r.number();
      if (!(v > 0 && v <= 1)) r.fail("must be within (0, 1], got " + r.text());
      config.time_split_quantile = v;
    } else if (key == "min_sequence_length") {
      int64_t v = r.integer();
      if (v < 1 || v > 1000000) r.fail("must be within [1, 1000000], got " + r.text());
      config.min_sequence_length = v;
    } else if (key == "max_events_per_user") {
      int64_t v = r.integer();
      if (v < 0 || v > 1000000000)
        r.fail("must be 0 (no cap) or a positive count, got " + r.text());
      config.max_events_per_user = v;
    } else if (key == "time_split_cutoff") {
      config.time_split_cutoff = r.integer();
    } else {
      throw UserError(origin + ": unknown key '" + key + "' (valid keys: " + known_keys_text() +
                      ")");
    }
  }
  return config;
}

PrepConfig load_prep_config(const std::string& path) {
  return parse_prep_config(read_text_file(path), path);
}

std::string resolved_prep_yaml(const PrepOptions& o) {
  YAML::Emitter out;
  out << YAML::Comment("resolved prep settings; user-hash key from: " + o.user_key_source +
                       " (the key itself is never stored)");
  out << YAML::BeginMap;
  if (o.sources.size() == 1) {
    const RawSourceSpec& s = o.sources.front();
    out << YAML::Key << "format" << YAML::Value << raw_format_name(s.format);
    out << YAML::Key << "input" << YAML::Value << s.path;
    if (!s.item_attributes.empty()) {
      out << YAML::Key << "item_attributes" << YAML::Value << s.item_attributes;
    }
    out << YAML::Key << "personal_columns" << YAML::Value << YAML::Flow << s.personal_columns;
  } else {
    out << YAML::Key << "sources" << YAML::Value << YAML::BeginSeq;
    for (const auto& s : o.sources) {
      out << YAML::BeginMap << YAML::Key << "format" << YAML::Value << raw_format_name(s.format)
          << YAML::Key << "input" << YAML::Value << s.path;
      if (!s.item_attributes.empty()) {
        out << YAML::Key << "item_attributes" << YAML::Value << s.item_attributes;
      }
      out << YAML::Key << "personal_columns" << YAML::Value << YAML::Flow << s.personal_columns
          << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::Key << "output" << YAML::Value << o.output_path;
  out << YAML::Key << "max_reject_fraction" << YAML::Value
      << shortest_number(o.max_reject_fraction);
  out << YAML::Key << "min_sequence_length" << YAML::Value << o.min_sequence_length;
  out << YAML::Key << "max_events_per_user" << YAML::Value << o.max_events_per_user;
  out << YAML::Key << "time_split_quantile" << YAML::Value
      << shortest_number(o.time_split_quantile);
  if (o.time_split_cutoff) {
    out << YAML::Key << "time_split_cutoff" << YAML::Value << *o.time_split_cutoff;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace cf::data
