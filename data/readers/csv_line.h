// FieldSplitter: splits one delimited line into fields (RFC 4180 quoting) without allocating;
// the one splitter for raw logs, hand-written CSVs and comma-separated flag values.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace cf::data {

// Splits lines on a one-character delimiter. With quoting on, a field that starts with '"'
// runs to the matching '"' (delimiters inside are data, "" is one literal quote) and must be
// followed by the delimiter or the end of the line. Quoted fields do not span lines. A quote
// inside an unquoted field is kept as data. Fields are views into the line (or into an internal
// scratch buffer for fields that contained ""), valid until the next split().
class FieldSplitter {
 public:
  // Whether spaces and tabs at either end of a field belong to it. Hand-written files are
  // easier to read as "u1, \"a,b\"": with kTrimmed those blanks are dropped and may stand
  // around a quoted field's quotes (blanks inside the quotes stay data).
  enum class Blanks { kKept, kTrimmed };

  FieldSplitter(char delimiter, bool quoting, Blanks blanks = Blanks::kKept)
      : delimiter_(delimiter), quoting_(quoting), trim_blanks_(blanks == Blanks::kTrimmed) {}

  // Returns false (fields unspecified) when the quoting is malformed: an unterminated quoted
  // field or text between a closing quote and the next delimiter.
  bool split(std::string_view line);

  size_t size() const { return fields_.size(); }
  std::string_view operator[](size_t index) const { return fields_[index]; }
  const std::vector<std::string_view>& fields() const { return fields_; }

 private:
  bool split_quoted(std::string_view line);

  char delimiter_;
  bool quoting_;
  bool trim_blanks_;
  std::vector<std::string_view> fields_;
  std::string unescaped_;  // storage for quoted fields that contained ""
};

// `field` as one CSV field (RFC 4180): as it is unless it holds a comma, a quote or a line
// break; then in quotes, with each quote doubled. What FieldSplitter reads back as `field`.
std::string csv_quoted_field(std::string_view field);

// The non-empty entries of a comma-separated list, in order ("a,,b," -> a, b): how list flags
// and list-valued config keys are written. No quoting: entries cannot contain commas.
std::vector<std::string> split_comma_list(std::string_view text);

// Splits on runs of spaces and tabs, ignoring leading and trailing blanks ("1  2\t3" -> 3 fields).
void split_on_blanks(std::string_view line, std::vector<std::string_view>& fields);

}  // namespace cf::data
