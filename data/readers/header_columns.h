// HeaderColumns: finds the columns of a delimited file's header row by name.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cf::data {

class LineReader;
class FieldSplitter;

// Column positions of a header row, looked up by name (trimmed, ASCII case ignored), so files
// may order their columns freely and carry extra ones that are never read.
class HeaderColumns {
 public:
  // Reads the first non-blank line of `lines` (a UTF-8 byte order mark is dropped) and splits it
  // with `splitter`. Throws UserError "<file>: empty file ..." when there is none.
  HeaderColumns(LineReader& lines, FieldSplitter& splitter, std::string_view expected_header);

  // Index of column `name`; throws UserError "<file>: header has no column "<name>" ..." when
  // absent and "<file>: column "<name>" appears twice in the header" when ambiguous.
  size_t require(std::string_view name) const;
  std::optional<size_t> find(std::string_view name) const;
  size_t count() const { return names_.size(); }

 private:
  std::string file_;
  std::vector<std::string> names_;
};

}  // namespace cf::data
