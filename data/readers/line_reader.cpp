#include "data/readers/line_reader.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace cf::data {

namespace fs = std::filesystem;

LineReader::LineReader(std::string path, size_t buffer_bytes) : path_(std::move(path)) {
  std::error_code ec;
  const fs::file_status status = fs::status(path_, ec);
  if (ec || !fs::exists(status)) throw UserError(path_ + ": no such file");
  if (!fs::is_regular_file(status)) throw UserError(path_ + ": not a regular file");
  bytes_total_ = fs::file_size(path_, ec);
  if (ec) bytes_total_ = 0;
  file_ = std::fopen(path_.c_str(), "rb");
  if (file_ == nullptr) {
    throw UserError(path_ + ": cannot open (" + std::strerror(errno) + ")");
  }
  // Our own buffer does the batching; stdio's would only add a second copy.
  std::setvbuf(file_, nullptr, _IONBF, 0);
  buffer_.resize(buffer_bytes < 64 ? 64 : buffer_bytes);
}

LineReader::~LineReader() {
  if (file_ != nullptr) std::fclose(file_);
}

bool LineReader::refill() {
  if (eof_) return false;
  if (begin_ > 0) {  // slide the partial line to the front to make room
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // a line longer than the buffer
  const size_t got = std::fread(buffer_.data() + end_, 1, buffer_.size() - end_, file_);
  if (got == 0) {
    if (std::ferror(file_)) throw UserError(path_ + ": read error (" + std::strerror(errno) + ")");
    eof_ = true;
    return false;
  }
  end_ += got;
  return true;
}

bool LineReader::next_line(std::string_view& line) {
  size_t scan_from = begin_;
  for (;;) {
    const char* base = buffer_.data();
    const void* newline = std::memchr(base + scan_from, '\n', end_ - scan_from);
    if (newline != nullptr) {
      const size_t stop = static_cast<size_t>(static_cast<const char*>(newline) - base);
      size_t length = stop - begin_;
      if (length > 0 && base[begin_ + length - 1] == '\r') --length;
      line = std::string_view(base + begin_, length);
      bytes_consumed_ += stop + 1 - begin_;
      begin_ = stop + 1;
      ++line_number_;
      return true;
    }
    const size_t scanned = end_ - begin_;  // refill() moves the tail to the front
    if (!refill()) break;
    scan_from = begin_ + scanned;
  }
  if (begin_ == end_) return false;
  // Last line without a trailing newline.
  size_t length = end_ - begin_;
  if (buffer_[begin_ + length - 1] == '\r') --length;
  line = std::string_view(buffer_.data() + begin_, length);
  bytes_consumed_ += end_ - begin_;
  begin_ = end_;
  ++line_number_;
  return true;
}

}  // namespace cf::data
