#include "core/config_fields.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>
#include <type_traits>

#include "core/error.h"

namespace cf::config_fields {
namespace {

[[noreturn]] void wrong(const char* expected, const RawValue& raw) {
  throw WrongType{expected, raw};
}

// The scalar's text without one leading '+', which from_chars does not take.
std::string_view number_text(const RawValue& raw) {
  std::string_view text = raw.text;
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  return text;
}

template <class Float>
Float read_floating(const RawValue& raw) {
  if (!raw.is_scalar()) wrong("a number", raw);
  const std::string_view text = number_text(raw);
  Float value = 0;
  // from_chars rounds once, so the shortest form shortest_decimal writes reads back exactly.
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) wrong("a number", raw);
  if (!std::isfinite(value)) wrong("a finite number", raw);
  return value;
}

template <class Float>
std::string shortest(Float value) {
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  CF_CHECK(error == std::errc(), "32 characters hold any float or double");
  return std::string(buffer, end);
}

}  // namespace

RawValue RawValue::of(const YAML::Node& node) {
  RawValue raw;
  raw.node = node;
  if (!node || node.IsNull()) {
    raw.shape = Shape::kNull;
  } else if (node.IsMap()) {
    raw.shape = Shape::kMap;
  } else if (node.IsSequence()) {
    raw.shape = Shape::kSequence;
  } else {
    raw.text = node.Scalar();
  }
  return raw;
}

std::string RawValue::describe() const {
  switch (shape) {
    case Shape::kNull:
      return "nothing";
    case Shape::kMap:
      return "a map";
    case Shape::kSequence:
      return "a list";
    case Shape::kScalar:
      break;
  }
  return "'" + text + "'";
}

template <class Int>
Int read_integer(const RawValue& raw) {
  if (!raw.is_scalar()) wrong("an integer", raw);
  const std::string_view text = number_text(raw);
  const char* const end = text.data() + text.size();
  Int value{};
  auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error == std::errc() && stop == end) return value;
  double exact = 0;
  auto [double_stop, double_error] = std::from_chars(text.data(), end, exact);
  if (double_error == std::errc() && double_stop == end && std::isfinite(exact) &&
      exact == std::floor(exact) && exact >= static_cast<double>(std::numeric_limits<Int>::min()) &&
      // Exclusive and exact: the maximum itself rounds up to 2^digits as a double, and
      // converting 2^63 to int64 is undefined.
      exact < std::ldexp(1.0, std::numeric_limits<Int>::digits)) {
    return static_cast<Int>(exact);
  }
  if (error == std::errc::result_out_of_range) wrong("an integer in range", raw);
  wrong(std::is_signed_v<Int> ? "an integer" : "a non-negative integer", raw);
}

template int32_t read_integer<int32_t>(const RawValue&);
template int64_t read_integer<int64_t>(const RawValue&);
template uint64_t read_integer<uint64_t>(const RawValue&);

float read_float(const RawValue& raw) { return read_floating<float>(raw); }
double read_double(const RawValue& raw) { return read_floating<double>(raw); }

bool read_bool(const RawValue& raw) {
  if (raw.is_scalar()) {
    std::string text = raw.text;
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (text == "true" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "no" || text == "off") return false;
  }
  wrong("true or false", raw);
}

std::string read_string(const RawValue& raw) {
  if (!raw.is_scalar()) wrong("a string", raw);
  return raw.text;
}

std::vector<std::string> read_names(const RawValue& raw) {
  if (raw.shape != RawValue::Shape::kSequence) wrong("a list of names", raw);
  std::vector<std::string> names;
  for (const YAML::Node& element : raw.node) {
    if (!element.IsScalar() || element.Scalar().empty()) wrong("a list of names", raw);
    names.push_back(element.Scalar());
  }
  return names;
}

size_t read_choice(const RawValue& raw, std::initializer_list<const char*> names) {
  if (raw.is_scalar()) {
    size_t index = 0;
    for (const char* name : names) {
      if (raw.text == name) return index;
      ++index;
    }
  }
  std::string listed;
  for (const char* name : names) listed += (listed.empty() ? "" : ", ") + std::string(name);
  throw WrongType{"one of " + listed, raw};
}

YAML::Node load_document(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    const std::string line = e.mark.line >= 0 ? " at line " + std::to_string(e.mark.line + 1) : "";
    throw UserError(origin + ": invalid YAML" + line + ": YAML syntax error: " + e.msg);
  }
}

std::string key_name(const YAML::Node& key, const std::string& origin) {
  if (!key.IsScalar()) {
    const std::string line =
        key.Mark().line >= 0 ? " at line " + std::to_string(key.Mark().line + 1) : "";
    throw UserError(origin + ": the key" + line + " must be a plain name, got " +
                    RawValue::of(key).describe());
  }
  return key.Scalar();
}

std::string shortest_decimal(float value) { return shortest(value); }
std::string shortest_decimal(double value) { return shortest(value); }

void write_value(YAML::Emitter& out, bool value) { out << value; }
void write_value(YAML::Emitter& out, float value) { out << shortest_decimal(value); }
void write_value(YAML::Emitter& out, double value) { out << shortest_decimal(value); }
void write_value(YAML::Emitter& out, const std::string& value) { out << value; }
void write_value(YAML::Emitter& out, const std::vector<std::string>& value) {
  out << YAML::Flow << value;
}

}  // namespace cf::config_fields
