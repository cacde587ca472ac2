// Config fields in YAML: the one way every config (training, prep) turns YAML values into typed
// fields with the same strictness, and writes fields back so that they read back equal.
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace cf::config_fields {

// A value as YAML gave it (from a file or a --set override), before it has a type.
struct RawValue {
  enum class Shape { kScalar, kNull, kMap, kSequence };
  Shape shape = Shape::kScalar;
  std::string text;  // a scalar's text, quotes already removed by the parser
  YAML::Node node;   // the node itself (a list's elements are read from it)

  static RawValue of(const YAML::Node& node);
  bool is_scalar() const { return shape == Shape::kScalar; }
  // For messages: "'text'", "nothing", "a map" or "a list".
  std::string describe() const;
};

// Why a value does not fit its field. Thrown by the readers below; the config reading the value
// knows the file and the key, and words the one-line error.
struct WrongType {
  std::string expected;  // e.g. "an integer", "true or false", "one of cosine, linear"
  RawValue found;
};

// The readers: each accepts only what its type can hold exactly, or throws WrongType.
// Integers also accept an exact integral value in exponent form ("1e5"); numbers must be finite.
template <class Int>
Int read_integer(const RawValue& raw);
float read_float(const RawValue& raw);
double read_double(const RawValue& raw);
bool read_bool(const RawValue& raw);           // true/false, yes/no, on/off, any case
std::string read_string(const RawValue& raw);  // a scalar; nothing (null) is not a string
std::vector<std::string> read_names(const RawValue& raw);  // a list of non-empty scalars
// The index of the scalar among `names`.
size_t read_choice(const RawValue& raw, std::initializer_list<const char*> names);

// Parses a document; a syntax error is a UserError naming `origin` and the line.
YAML::Node load_document(const std::string& text, const std::string& origin);
// A mapping key's name; a key that is not a plain scalar is a UserError naming `origin`.
std::string key_name(const YAML::Node& key, const std::string& origin);

// The shortest decimal text that reads back as exactly the same value ("0.1", not
// "0.100000001").
std::string shortest_decimal(float value);
std::string shortest_decimal(double value);

// The writers, through YAML::Emitter, which quotes and escapes whatever needs it.
void write_value(YAML::Emitter& out, bool value);
void write_value(YAML::Emitter& out, float value);
void write_value(YAML::Emitter& out, double value);
void write_value(YAML::Emitter& out, const std::string& value);
void write_value(YAML::Emitter& out, const std::vector<std::string>& value);  // [a, b]
template <class Int>
requires std::is_integral_v<Int>
void write_value(YAML::Emitter& out, Int value) { out << value; }

}  // namespace cf::config_fields
