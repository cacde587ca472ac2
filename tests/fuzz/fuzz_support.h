// Shared pieces of the libFuzzer targets: the input encodings, a scratch folder, file writing.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "data/raw_event.h"

namespace cf::fuzz {

// fuzz_raw_log_readers: byte 0 of an input, modulo the count, picks the format in this order.
inline constexpr data::RawFormat kRawFormats[] = {
    data::RawFormat::kTrio,      data::RawFormat::kTaobao,    data::RawFormat::kRees46,
    data::RawFormat::kUserItem,  data::RawFormat::kUserItems, data::RawFormat::kYoochoose,
    data::RawFormat::kDiginetica};
inline constexpr size_t kRawFormatCount = sizeof(kRawFormats) / sizeof(kRawFormats[0]);

// Inputs that carry several files (the trio format's three tables, a checkpoint's manifest and
// tensor files) separate them with this line. It is short and printable so that libFuzzer's
// mutations (and the dictionaries in tests/fuzz/dicts/) can insert, drop and move it.
inline constexpr std::string_view kPartSeparator = "\n--8<--\n";

// Splits `bytes` at every kPartSeparator; always returns at least one (possibly empty) part.
inline std::vector<std::string_view> split_parts(std::string_view bytes) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t at = bytes.find(kPartSeparator);
    if (at == std::string_view::npos) {
      parts.push_back(bytes);
      return parts;
    }
    parts.push_back(bytes.substr(0, at));
    bytes.remove_prefix(at + kPartSeparator.size());
  }
}

// The inverse of split_parts, used by the seed generator.
inline std::string join_parts(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += kPartSeparator;
    out += parts[i];
  }
  return out;
}

// Called with the UserError an input was refused with. Silent while fuzzing (most inputs are
// refused); with CF_FUZZ_VERBOSE=1 in the environment it prints the message, which is how one
// input is triaged: `CF_FUZZ_VERBOSE=1 build/fuzz/fuzz/<target> <input file>`.
inline void note_refusal(const UserError& error) {
  static const bool verbose = std::getenv("CF_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "refused: %s\n", error.what());
}

// One scratch folder per fuzzing process under $TMPDIR (tools/fuzz.sh points it at a folder it
// removes afterwards), emptied and refilled for every input so no state leaks between inputs.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& target) {
    const char* tmp = std::getenv("TMPDIR");
    root_ = std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
            ("cf_fuzz_" + target + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Removes everything written for the previous input.
  void clear() const {
    for (const auto& entry : std::filesystem::directory_iterator(root_)) {
      std::filesystem::remove_all(entry.path());
    }
  }
  std::string path() const { return root_.string(); }
  // Writes `bytes` verbatim to `name` inside the folder and returns the file's path.
  std::string write(const std::string& name, std::string_view bytes) const {
    const std::filesystem::path file = root_ / name;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return file.string();
  }

 private:
  std::filesystem::path root_;
};

}  // namespace cf::fuzz
