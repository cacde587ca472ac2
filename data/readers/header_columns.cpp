#include "data/readers/header_columns.h"

#include "core/error.h"
#include "data/readers/csv_line.h"
#include "data/readers/line_reader.h"

namespace cf::data {

namespace {

std::string normalised_column_name(std::string_view name) {
  while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  std::string lower(name);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

}  // namespace

HeaderColumns::HeaderColumns(LineReader& lines, FieldSplitter& splitter,
                             std::string_view expected_header)
    : file_(lines.path()) {
  std::string_view header;
  bool found = false;
  while (lines.next_line(header)) {
    if (header.substr(0, 3) == "\xEF\xBB\xBF") header.remove_prefix(3);
    if (!is_blank_line(header)) {
      found = true;
      break;
    }
  }
  if (!found) {
    throw UserError(file_ + ": empty file, expected a header row \"" +
                    std::string(expected_header) + "\"");
  }
  if (!splitter.split(header)) {
    throw UserError(file_ + ": malformed quoting in the header row");
  }
  for (std::string_view name : splitter.fields()) names_.push_back(normalised_column_name(name));
}

std::optional<size_t> HeaderColumns::find(std::string_view name) const {
  const std::string wanted = normalised_column_name(name);
  std::optional<size_t> found;
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] != wanted) continue;
    if (found) {
      throw UserError(file_ + ": column \"" + std::string(name) + "\" appears twice in the header");
    }
    found = i;
  }
  return found;
}

size_t HeaderColumns::require(std::string_view name) const {
  if (const std::optional<size_t> index = find(name)) return *index;
  std::string present;
  for (const std::string& column : names_) {
    present += present.empty() ? "" : ",";
    present += column;
  }
  // A data row mistaken for a header can be long; keep the message to one readable line.
  if (present.size() > 160) present = present.substr(0, 160) + "...";
  throw UserError(file_ + ": header has no column \"" + std::string(name) +
                  "\" (found: " + present + ")");
}

}  // namespace cf::data
