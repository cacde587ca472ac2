// Writing a synth output: buffered CSV files, the item and activity tables, the output folder.
#pragma once
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/atomic_file.h"
#include "data/synth/catalog.h"

namespace cf::synth {

// Rows are formatted straight into a large buffer and written in big blocks: the generator's
// throughput is bounded by formatting, not by system calls.
class CsvFile {
 public:
  static constexpr size_t kBufferBytes = size_t{4} << 20;
  static constexpr size_t kMaxRowBytes = 512;

  explicit CsvFile(std::string path);
  ~CsvFile();
  CsvFile(const CsvFile&) = delete;
  CsvFile& operator=(const CsvFile&) = delete;

  // Called once per row: guarantees room for kMaxRowBytes of unchecked appends.
  void begin_row() {
    if (used_ + kMaxRowBytes > buffer_.size()) flush();
  }
  void put(char c) { buffer_[used_++] = c; }
  void put(std::string_view text) {
    std::memcpy(buffer_.data() + used_, text.data(), text.size());
    used_ += text.size();
  }
  void put_int(int64_t value) {
    auto result = std::to_chars(buffer_.data() + used_, buffer_.data() + buffer_.size(), value);
    used_ = static_cast<size_t>(result.ptr - buffer_.data());
  }
  // Fixed two decimals from an integer number of hundredths (exact, no floating point).
  void put_hundredths(int64_t hundredths) {
    put_int(hundredths / 100);
    put('.');
    put(static_cast<char>('0' + hundredths % 100 / 10));
    put(static_cast<char>('0' + hundredths % 10));
  }
  // Fixed six decimals of a non-negative value.
  void put_fixed6(double value) {
    int64_t millionths = std::llround(value * 1e6);
    put_int(millionths / 1000000);
    put('.');
    char digits[6];
    int64_t fraction = millionths % 1000000;
    for (int k = 5; k >= 0; --k, fraction /= 10) digits[k] = static_cast<char>('0' + fraction % 10);
    put(std::string_view(digits, 6));
  }
  int64_t bytes_written() const { return written_ + static_cast<int64_t>(used_); }

  void close();

 private:
  void flush();
  [[noreturn]] void fail();

  std::string path_;
  std::vector<char> buffer_;
  size_t used_ = 0;
  int64_t written_ = 0;
  std::FILE* file_ = nullptr;
};

// item_data.csv: one row per item, in item_id order.
void write_items(const Catalog& catalog, const std::string& path);
// activity_data.csv: one row per activity.
void write_activities(const std::vector<Activity>& activities, const std::string& path);
// A small file inside the output directory being built (committed with the directory).
void write_text_file(const std::string& path, const std::string& text);

// The output directory while it is being written. Synth never replaces files it did not write:
// an existing `output_dir` must be empty, or carry synth's marker file (kSynthMarkerFile) and
// hold nothing else than what synth writes. The files go to a temporary sibling that holds the
// marker from the start; commit() renames it onto `output_dir`, and without commit() it is
// removed.
class OutputDirectory {
 public:
  // Throws UserError naming `output_dir` (and the offending entry) if it may not be replaced.
  explicit OutputDirectory(const std::string& output_dir);
  // Where the file `name` is written until commit().
  std::string path_of(std::string_view name) const;
  void commit();

 private:
  std::optional<PendingOutput> pending_;  // constructed once the replace rule has been checked
};

}  // namespace cf::synth
