// Test helpers for the raw-log readers: fixture paths, temporary files, and draining a reader.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "data/raw_event.h"

namespace cf::data::testing {

// tests/fixtures, from CARTFORMER_FIXTURES (set by ctest) or next to this source file.
inline std::string fixture(const std::string& relative) {
  const char* env = std::getenv("CARTFORMER_FIXTURES");
  const std::filesystem::path root =
      env != nullptr && *env != '\0'
          ? std::filesystem::path(env)
          : std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "fixtures";
  return (root / relative).string();
}

// The shared real-data folder (CARTFORMER_SHARED_DATA, default /work/shared/data).
inline std::string shared_data_dir() {
  const char* env = std::getenv("CARTFORMER_SHARED_DATA");
  return env != nullptr && *env != '\0' ? env : "/work/shared/data";
}

// A fresh temporary folder removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("cf_readers_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" +
             std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  // Writes `bytes` verbatim (no newline translation) and returns the file's path.
  std::string write(const std::string& name, const std::string& bytes) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out << bytes;
    return file.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

struct ReadResult {
  std::vector<RawEvent> events;
  std::vector<RowReject> rejects;
  int64_t rows_read = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_total = 0;
  std::vector<std::string> source_files;
};

// Opens `spec` and reads it to the end, copying every event and reject. The events are as prep
// sees them: from a reader that joins its item table on request, each row comes without its
// item's side information (checked) and is completed with join_item, as prep does.
inline ReadResult read_all(const RawSourceSpec& spec) {
  ReadResult result;
  auto reader = open_raw_log(spec, [&](const RowReject& r) { result.rejects.push_back(r); });
  RawEvent event;
  while (reader->next(event)) {
    if (reader->joins_items_on_request()) {
      EXPECT_TRUE(event.category.empty() && event.item_features.empty() &&
                  std::isnan(event.price))
          << "line " << event.line << ": side information left to join_item was set";
      reader->join_item(event.item, event.category, event.item_features, event.price);
    }
    result.events.push_back(event);
  }
  result.rows_read = reader->rows_read();
  result.bytes_read = reader->bytes_read();
  result.bytes_total = reader->bytes_total();
  result.source_files = reader->source_files();
  return result;
}

inline ReadResult read_all(RawFormat format, const std::string& path,
                           const std::string& item_attributes = "") {
  RawSourceSpec spec;
  spec.format = format;
  spec.path = path;
  spec.item_attributes = item_attributes;
  return read_all(spec);
}

// The fields of a RawEvent a test names explicitly; price NaN compares equal to NaN.
struct ExpectedEvent {
  std::string user, item, category, action, activity;
  int64_t timestamp;
  double price;
  int purchase_label;
  int64_t line;
};

inline void expect_event(const RawEvent& got, const ExpectedEvent& want) {
  SCOPED_TRACE("line " + std::to_string(want.line));
  EXPECT_EQ(got.user, want.user);
  EXPECT_EQ(got.item, want.item);
  EXPECT_EQ(got.category, want.category);
  EXPECT_EQ(got.action, want.action);
  EXPECT_EQ(got.activity, want.activity);
  EXPECT_EQ(got.timestamp, want.timestamp);
  if (std::isnan(want.price)) {
    EXPECT_TRUE(std::isnan(got.price)) << got.price;
  } else {
    EXPECT_DOUBLE_EQ(got.price, want.price);
  }
  EXPECT_EQ(got.purchase_label, want.purchase_label);
  EXPECT_EQ(got.line, want.line);
}

inline void expect_events(const std::vector<RawEvent>& got,
                          const std::vector<ExpectedEvent>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) expect_event(got[i], want[i]);
}

struct ExpectedReject {
  std::string reason;
  std::string file_suffix;  // the reject's file must end with this
  int64_t line;
};

inline void expect_rejects(const std::vector<RowReject>& got,
                           const std::vector<ExpectedReject>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("reject " + std::to_string(i));
    EXPECT_EQ(got[i].reason, want[i].reason);
    EXPECT_TRUE(got[i].file.ends_with(want[i].file_suffix)) << got[i].file;
    EXPECT_EQ(got[i].line, want[i].line);
  }
}

inline const double kNoPrice = std::nan("");

// The item features of every event, in order, each split at every separator (so a stray
// leading, doubled or trailing separator shows up as an empty token).
inline std::vector<std::vector<std::string>> item_features_of(const std::vector<RawEvent>& events) {
  std::vector<std::vector<std::string>> out;
  for (const RawEvent& event : events) {
    std::vector<std::string> tokens;
    const std::string_view all = event.item_features;
    for (size_t start = 0; !all.empty();) {
      const size_t end = all.find(kItemFeatureSeparator, start);
      tokens.emplace_back(all.substr(start, end == std::string_view::npos ? end : end - start));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
    out.push_back(std::move(tokens));
  }
  return out;
}
using FeatureLists = std::vector<std::vector<std::string>>;

// Runs `action`, expecting a cf::UserError whose message contains every one of `parts`.
template <typename Action>
void expect_user_error(Action&& action, const std::vector<std::string>& parts) {
  try {
    action();
    ADD_FAILURE() << "expected cf::UserError";
  } catch (const cf::UserError& error) {
    const std::string message = error.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "message: " << message << "\nmissing: " << part;
    }
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line expected: " << message;
  }
}

}  // namespace cf::data::testing
