// LineReader: streams a text file line by line through one reusable buffer (no per-line copies).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace cf::data {

// Yields each line without its "\n" and without a trailing "\r" (CRLF files read like LF
// files); a last line without a newline is still returned. A returned view stays valid only
// until the next call. Opening a missing, unreadable or non-regular path throws UserError.
class LineReader {
 public:
  explicit LineReader(std::string path, size_t buffer_bytes = size_t{1} << 20);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Returns false at end of file; throws UserError on a read error.
  bool next_line(std::string_view& line);

  const std::string& path() const { return path_; }
  int64_t line_number() const { return line_number_; }  // 1-based number of the last line
  uint64_t bytes_read() const { return bytes_consumed_; }
  uint64_t bytes_total() const { return bytes_total_; }

 private:
  bool refill();  // reads more input behind the unconsumed tail; false at end of file

  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;
  size_t begin_ = 0;  // first unconsumed byte in buffer_
  size_t end_ = 0;    // one past the last valid byte in buffer_
  bool eof_ = false;
  int64_t line_number_ = 0;
  uint64_t bytes_consumed_ = 0;
  uint64_t bytes_total_ = 0;
};

// True for a line holding only blanks; readers skip such lines without counting them as rows.
inline bool is_blank_line(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

}  // namespace cf::data
