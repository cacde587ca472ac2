#include "data/synth/writer.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <iterator>
#include <utility>

#include "core/error.h"

namespace cf::synth {
namespace {

namespace fs = std::filesystem;

// What the marker file holds: a later run recognises its own output by it.
constexpr std::string_view kMarkerText =
    "Written by cartformer synth. A later `cartformer synth --out` to this folder replaces it.\n";

bool carries_marker(const std::string& output_dir) {
  const std::string marker = (fs::path(output_dir) / kSynthMarkerFile).string();
  std::error_code ec;
  return fs::is_regular_file(marker, ec) && read_text_file(marker) == kMarkerText;
}

// The replace rule of OutputDirectory: neither a typo in --out nor an --out naming a folder of
// real logs in the same format (same file names) may ever wipe data synth did not write.
void check_replaceable(const std::string& output_dir) {
  std::error_code ec;
  if (!fs::exists(output_dir, ec)) return;
  if (!fs::is_directory(output_dir, ec))
    throw UserError(output_dir + ": exists and is not a directory");
  const std::string_view ours[] = {kSynthBehaviorFile,    kSynthItemFile,      kSynthActivityFile,
                                   kSynthGroundTruthFile, kSynthUserTruthFile, kSynthMarkerFile};
  fs::directory_iterator entries(output_dir, ec);
  if (ec) throw UserError(output_dir + ": cannot list: " + ec.message());
  bool empty = true;
  for (const auto& entry : entries) {
    empty = false;
    const std::string name = entry.path().filename().string();
    if (std::find(std::begin(ours), std::end(ours), name) == std::end(ours)) {
      throw UserError(output_dir + ": exists and holds '" + name +
                      "', which is not a synth output; refusing to replace it");
    }
  }
  if (!empty && !carries_marker(output_dir)) {
    throw UserError(output_dir + ": exists, is not empty and has no " + kSynthMarkerFile +
                    " marker, so its files were not written by cartformer synth; refusing to "
                    "replace them");
  }
}

}  // namespace

CsvFile::CsvFile(std::string path) : path_(std::move(path)), buffer_(kBufferBytes) {
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw UserError(path_ + ": cannot create file: " + std::strerror(errno));
}

CsvFile::~CsvFile() {
  if (file_) std::fclose(file_);
}

void CsvFile::close() {
  flush();
  if (std::fflush(file_) != 0 || std::ferror(file_)) fail();
  int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) fail();
}

void CsvFile::flush() {
  if (used_ == 0) return;
  if (std::fwrite(buffer_.data(), 1, used_, file_) != used_) fail();
  written_ += static_cast<int64_t>(used_);
  used_ = 0;
}

void CsvFile::fail() {
  throw UserError(path_ + ": write failed (disk full?): " + std::strerror(errno));
}

void write_items(const Catalog& catalog, const std::string& path) {
  CsvFile file(path);
  file.begin_row();
  file.put("item_id,category,price\n");
  const int64_t n = static_cast<int64_t>(catalog.public_id.size());
  std::vector<int32_t> by_id(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) by_id[catalog.public_id[i] - 1] = static_cast<int32_t>(i);
  for (int32_t item : by_id) {
    file.begin_row();
    file.put_int(catalog.public_id[item]);
    file.put(",c");
    file.put_int(catalog.category_of[item] + 1);
    file.put(',');
    file.put_hundredths(catalog.price_cents[item]);
    file.put('\n');
  }
  file.close();
}

void write_activities(const std::vector<Activity>& activities, const std::string& path) {
  CsvFile file(path);
  file.begin_row();
  file.put("activity_id,type,discount\n");
  for (const Activity& a : activities) {
    file.begin_row();
    file.put(a.id);
    file.put(a.coupon ? ",coupon," : ",campaign,");
    file.put_hundredths(a.discount_percent);
    file.put('\n');
  }
  file.close();
}

void write_text_file(const std::string& path, const std::string& text) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw UserError(path + ": cannot create file: " + std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  ok = std::fclose(file) == 0 && ok;
  if (!ok) throw UserError(path + ": write failed (disk full?)");
}

OutputDirectory::OutputDirectory(const std::string& output_dir) {
  check_replaceable(output_dir);
  pending_.emplace(output_dir, /*is_directory=*/true);
  write_text_file(path_of(kSynthMarkerFile), std::string(kMarkerText));
}

std::string OutputDirectory::path_of(std::string_view name) const {
  return (fs::path(pending_->temp_path()) / name).string();
}

void OutputDirectory::commit() { pending_->commit(); }

}  // namespace cf::synth
