#include "data/prep_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>
#include <type_traits>

#include "core/atomic_file.h"
#include "core/config_fields.h"
#include "core/error.h"
#include "data/readers/csv_line.h"

namespace cf::data {
namespace {

namespace fs = std::filesystem;
using config_fields::RawValue;
using config_fields::WrongType;

// Every key, in documentation order. One list drives reading, the key list and the resolved
// YAML (as in trainer/config.cpp), so a key cannot be readable but not written.
template <class Settings, class Visitor>
void visit_fields(Settings& c, Visitor&& v) {
  v("format", c.format);
  v("input", c.input);
  v("item_attributes", c.item_attributes);
  v("personal_columns", c.personal_columns);
  v("key_file", c.key_file);
  v("output", c.output);
  v("max_reject_fraction", c.max_reject_fraction);
  v("min_sequence_length", c.min_sequence_length);
  v("max_events_per_user", c.max_events_per_user);
  v("time_split_quantile", c.time_split_quantile);
  v("time_split_cutoff", c.time_split_cutoff);
}

// One overload per field type: the shared readers (core/config_fields.h) do the checking.
void read_field(std::string& field, const RawValue& raw) {
  field = config_fields::read_string(raw);
}
void read_field(double& field, const RawValue& raw) { field = config_fields::read_double(raw); }
void read_field(int64_t& field, const RawValue& raw) {
  field = config_fields::read_integer<int64_t>(raw);
}
void read_field(std::vector<std::string>& field, const RawValue& raw) {
  if (raw.shape == RawValue::Shape::kNull) {
    field.clear();
  } else if (raw.is_scalar()) {
    // "email,phone" is accepted as well as a YAML list, matching the command-line flag.
    field = split_comma_list(raw.text);
  } else {
    field = config_fields::read_names(raw);
  }
}
template <class T>
void read_field(std::optional<T>& field, const RawValue& raw) {
  T value{};
  read_field(value, raw);
  field = std::move(value);
}

std::string known_keys_text() {
  std::string text;
  for (const auto& k : prep_config_keys()) text += (text.empty() ? "" : ", ") + k;
  return text;
}

std::string resolve_path(const std::string& origin, const std::string& path) {
  fs::path p(path);
  if (p.is_absolute()) return path;
  fs::path base = fs::path(origin).parent_path();
  return base.empty() ? path : (base / p).lexically_normal().string();
}

// Reads the document's keys into `config`; the values are checked by check_settings after.
void read_document(PrepConfig& config, const YAML::Node& root, const std::string& origin) {
  if (root.IsNull()) return;
  if (!root.IsMap()) throw UserError(origin + ": expected a mapping of prep settings");
  std::set<std::string> seen;
  for (const auto& entry : root) {
    const std::string key = config_fields::key_name(entry.first, origin);
    if (!seen.insert(key).second) throw UserError(origin + ": key '" + key + "' appears twice");
    const RawValue raw = RawValue::of(entry.second);
    bool found = false;
    visit_fields(config, [&](const char* name, auto& field) {
      if (found || key != name) return;
      found = true;
      try {
        read_field(field, raw);
      } catch (const WrongType& wrong) {
        using Field = std::decay_t<decltype(field)>;
        std::string problem = "expected " + wrong.expected + ", got " + wrong.found.describe();
        if (std::is_same_v<Field, std::optional<std::vector<std::string>>>) {
          problem = "expected a list of names";
        } else if (!wrong.found.is_scalar()) {
          problem = "expected a single value";
        }
        throw UserError(origin + ": key '" + key + "': " + problem);
      }
    });
    if (!found) {
      throw UserError(origin + ": unknown key '" + key + "' (valid keys: " + known_keys_text() +
                      ")");
    }
  }
}

// Prep's own rules on the values read, then paths made relative to the file's directory.
void check_settings(PrepConfig& c, const std::string& origin) {
  auto fail = [&](const char* key, const std::string& problem) {
    throw UserError(origin + ": key '" + key + "': " + problem);
  };
  visit_fields(c, [&](const char* key, auto& field) {
    if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::optional<std::string>>) {
      if (field && field->empty()) fail(key, "must not be empty");
    }
  });
  if (c.format) {
    try {
      parse_raw_format(*c.format);
    } catch (const UserError& e) {
      std::string why = e.what();
      if (why.rfind("format: ", 0) == 0) why = why.substr(8);
      fail("format", why);
    }
  }
  if (c.max_reject_fraction && !(*c.max_reject_fraction >= 0 && *c.max_reject_fraction <= 1)) {
    fail("max_reject_fraction",
         "must be within [0, 1], got " + config_fields::shortest_decimal(*c.max_reject_fraction));
  }
  if (c.time_split_quantile && !(*c.time_split_quantile > 0 && *c.time_split_quantile <= 1)) {
    fail("time_split_quantile",
         "must be within (0, 1], got " + config_fields::shortest_decimal(*c.time_split_quantile));
  }
  if (c.min_sequence_length && (*c.min_sequence_length < 1 || *c.min_sequence_length > 1000000)) {
    fail("min_sequence_length",
         "must be within [1, 1000000], got " + std::to_string(*c.min_sequence_length));
  }
  if (c.max_events_per_user &&
      (*c.max_events_per_user < 0 || *c.max_events_per_user > 1000000000)) {
    fail("max_events_per_user",
         "must be 0 (no cap) or a positive count, got " + std::to_string(*c.max_events_per_user));
  }
  for (std::optional<std::string>* path : {&c.input, &c.item_attributes, &c.key_file, &c.output}) {
    if (*path) *path = resolve_path(origin, **path);
  }
}

}  // namespace

const std::vector<std::string>& prep_config_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    PrepConfig c;
    visit_fields(c, [&](const char* key, auto&) { out.emplace_back(key); });
    return out;
  }();
  return keys;
}

PrepConfig parse_prep_config(const std::string& yaml_text, const std::string& origin) {
  PrepConfig config;
  read_document(config, config_fields::load_document(yaml_text, origin), origin);
  check_settings(config, origin);
  return config;
}

PrepConfig load_prep_config(const std::string& path) {
  return parse_prep_config(read_text_file(path), path);
}

std::string resolved_prep_yaml(const PrepOptions& o) {
  // The run's settings in the config file's own keys; several sources go in a list instead.
  PrepConfig settings;
  if (o.sources.size() == 1) {
    const RawSourceSpec& s = o.sources.front();
    settings.format = raw_format_name(s.format);
    settings.input = s.path;
    if (!s.item_attributes.empty()) settings.item_attributes = s.item_attributes;
    settings.personal_columns = s.personal_columns;
  }
  settings.output = o.output_path;
  settings.max_reject_fraction = o.max_reject_fraction;
  settings.min_sequence_length = o.min_sequence_length;
  settings.max_events_per_user = o.max_events_per_user;
  settings.time_split_quantile = o.time_split_quantile;
  settings.time_split_cutoff = o.time_split_cutoff;

  YAML::Emitter out;
  out << YAML::Comment("resolved prep settings; user-hash key from: " + o.user_key_source +
                       " (the key itself is never stored)");
  out << YAML::BeginMap;
  if (o.sources.size() != 1) {
    out << YAML::Key << "sources" << YAML::Value << YAML::BeginSeq;
    for (const auto& s : o.sources) {
      out << YAML::BeginMap << YAML::Key << "format" << YAML::Value << raw_format_name(s.format)
          << YAML::Key << "input" << YAML::Value << s.path;
      if (!s.item_attributes.empty()) {
        out << YAML::Key << "item_attributes" << YAML::Value << s.item_attributes;
      }
      out << YAML::Key << "personal_columns" << YAML::Value;
      config_fields::write_value(out, s.personal_columns);
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  visit_fields(settings, [&](const char* key, const auto& field) {
    if (!field) return;
    out << YAML::Key << key << YAML::Value;
    config_fields::write_value(out, *field);
  });
  out << YAML::EndMap;
  CF_CHECK(out.good(), "the prep settings emitter rejected its own fields: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace cf::data
