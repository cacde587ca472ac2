#include "data/readers/csv_line.h"

#include <cstring>

namespace cf::data {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view without_trailing_blanks(std::string_view field) {
  while (!field.empty() && is_blank(field.back())) field.remove_suffix(1);
  return field;
}

}  // namespace

bool FieldSplitter::split(std::string_view line) {
  if (quoting_ && std::memchr(line.data(), '"', line.size()) != nullptr) return split_quoted(line);
  fields_.clear();
  const char* cursor = line.data();
  const char* const end = line.data() + line.size();
  for (;;) {
    const void* hit = std::memchr(cursor, delimiter_, static_cast<size_t>(end - cursor));
    if (hit == nullptr) {
      fields_.emplace_back(cursor, static_cast<size_t>(end - cursor));
      if (trim_blanks_) {
        for (auto& field : fields_) {
          while (!field.empty() && is_blank(field.front())) field.remove_prefix(1);
          field = without_trailing_blanks(field);
        }
      }
      return true;
    }
    const char* stop = static_cast<const char*>(hit);
    fields_.emplace_back(cursor, static_cast<size_t>(stop - cursor));
    cursor = stop + 1;
  }
}

bool FieldSplitter::split_quoted(std::string_view line) {
  fields_.clear();
  unescaped_.clear();
  // Unescaped text is never longer than the line, so reserving it once keeps earlier views valid.
  unescaped_.reserve(line.size());
  size_t pos = 0;
  const size_t n = line.size();
  for (;;) {
    if (trim_blanks_) {
      while (pos < n && is_blank(line[pos])) ++pos;
    }
    if (pos < n && line[pos] == '"') {
      size_t close = pos + 1;
      bool has_doubled_quote = false;
      for (;;) {
        close = line.find('"', close);
        if (close == std::string_view::npos) return false;  // unterminated
        if (close + 1 < n && line[close + 1] == '"') {
          has_doubled_quote = true;
          close += 2;
          continue;
        }
        break;
      }
      std::string_view inner = line.substr(pos + 1, close - pos - 1);
      if (has_doubled_quote) {
        const size_t start = unescaped_.size();
        for (size_t i = 0; i < inner.size(); ++i) {
          unescaped_.push_back(inner[i]);
          if (inner[i] == '"') ++i;  // skip the second quote of a ""
        }
        inner = std::string_view(unescaped_.data() + start, unescaped_.size() - start);
      }
      fields_.push_back(inner);
      pos = close + 1;
      if (trim_blanks_) {
        while (pos < n && is_blank(line[pos])) ++pos;
      }
      if (pos == n) return true;
      if (line[pos] != delimiter_) return false;  // text after the closing quote
      ++pos;
      continue;
    }
    const size_t stop = line.find(delimiter_, pos);
    std::string_view field =
        line.substr(pos, stop == std::string_view::npos ? n - pos : stop - pos);
    fields_.push_back(trim_blanks_ ? without_trailing_blanks(field) : field);
    if (stop == std::string_view::npos) return true;
    pos = stop + 1;
  }
}

std::string csv_quoted_field(std::string_view field) {
  if (field.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(field);
  std::string quoted = "\"";
  for (const char c : field) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::vector<std::string> split_comma_list(std::string_view text) {
  FieldSplitter splitter(',', /*quoting=*/false);
  splitter.split(text);  // cannot fail without quoting
  std::vector<std::string> entries;
  for (std::string_view field : splitter.fields()) {
    if (!field.empty()) entries.emplace_back(field);
  }
  return entries;
}

void split_on_blanks(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  size_t pos = 0;
  const size_t n = line.size();
  for (;;) {
    while (pos < n && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    if (pos == n) return;
    size_t stop = pos;
    while (stop < n && line[stop] != ' ' && line[stop] != '\t') ++stop;
    fields.push_back(line.substr(pos, stop - pos));
    pos = stop;
  }
}

}  // namespace cf::data
