// Atomic outputs: write under a temporary name, fsync, rename into place; never half-written.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace cf {

// fsyncs a file or directory; throws UserError naming the path on failure.
void fsync_path(const std::string& path);

// Writes `content` to `path` via "<path>.tmp.<pid>", fsync, rename, fsync of the parent dir.
void write_file_atomically(const std::string& path, const std::string& content);

// Several files that belong together (a CSV and its summary, an HTML page and its JSON): every
// temporary is written before any is renamed into place, so a failed write replaces none.
void write_files_atomically(
    const std::vector<std::pair<std::string, std::string>>& path_and_content);
// Creates the folders above `path` that are missing (a new output's); UserError naming `path`
// when that fails.
void create_parent_folders(const std::string& path);
// Reads a whole (small) file; throws UserError naming it if it cannot be read.
std::string read_text_file(const std::string& path);

// A file or directory being produced under a temporary sibling name. commit() fsyncs and
// renames it onto `final_path` (replacing an older one only at that moment); if the object is
// destroyed without commit() (error, exception), the temporary is removed and any existing
// `final_path` is left untouched.
class PendingOutput {
 public:
  explicit PendingOutput(std::string final_path, bool is_directory = false);
  ~PendingOutput();
  PendingOutput(const PendingOutput&) = delete;
  PendingOutput& operator=(const PendingOutput&) = delete;
  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }
  void commit();

 private:
  std::string final_path_;
  std::string temp_path_;
  bool is_directory_;
  bool committed_ = false;
};

}  // namespace cf
