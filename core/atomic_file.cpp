#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/error.h"

namespace cf {
namespace fs = std::filesystem;

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw UserError(path + ": cannot open to fsync: " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some filesystems refuse fsync on directories (EINVAL); the data files were synced anyway.
  if (rc != 0 && err != EINVAL) throw UserError(path + ": fsync failed: " + std::strerror(err));
}

static std::string parent_or_dot(const std::string& path) {
  fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

namespace {

void write_temporary(const PendingOutput& out, const std::string& content) {
  std::ofstream f(out.temp_path(), std::ios::binary | std::ios::trunc);
  if (!f) throw UserError(out.final_path() + ": cannot create " + out.temp_path());
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  f.flush();
  if (!f) throw UserError(out.final_path() + ": write failed (disk full?)");
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& content) {
  PendingOutput out(path);
  write_temporary(out, content);
  out.commit();
}

void write_files_atomically(
    const std::vector<std::pair<std::string, std::string>>& path_and_content) {
  std::vector<std::unique_ptr<PendingOutput>> outputs;
  for (const auto& [path, content] : path_and_content) {
    outputs.push_back(std::make_unique<PendingOutput>(path));
    write_temporary(*outputs.back(), content);
  }
  for (auto& out : outputs) out->commit();
}

void create_parent_folders(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) throw UserError(path + ": cannot create its folder: " + ec.message());
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw UserError(path + ": cannot open for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw UserError(path + ": read error");
  return ss.str();
}

PendingOutput::PendingOutput(std::string final_path, bool is_directory)
    : final_path_(std::move(final_path)), is_directory_(is_directory) {
  temp_path_ = final_path_ + ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(temp_path_, ec);
  if (is_directory_) {
    fs::create_directories(temp_path_, ec);
    if (ec) throw UserError(temp_path_ + ": cannot create directory: " + ec.message());
  }
}

PendingOutput::~PendingOutput() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_path_, ec);
  }
}

void PendingOutput::commit() {
  if (is_directory_) {
    for (const auto& entry : fs::directory_iterator(temp_path_)) {
      if (entry.is_regular_file()) fsync_path(entry.path().string());
    }
  }
  fsync_path(temp_path_);
  std::error_code ec;
  if (is_directory_ && fs::exists(final_path_)) {
    // rename() cannot replace a non-empty directory: move the old one aside first, so a valid
    // output exists at every instant, then drop it.
    std::string old = final_path_ + ".old." + std::to_string(::getpid());
    fs::rename(final_path_, old, ec);
    if (ec) throw UserError(final_path_ + ": cannot replace: " + ec.message());
    fs::rename(temp_path_, final_path_, ec);
    if (ec) throw UserError(final_path_ + ": cannot rename into place: " + ec.message());
    fs::remove_all(old, ec);
  } else {
    fs::rename(temp_path_, final_path_, ec);
    if (ec) throw UserError(final_path_ + ": cannot rename into place: " + ec.message());
  }
  fsync_path(parent_or_dot(final_path_));
  committed_ = true;
}

}  // namespace cf
