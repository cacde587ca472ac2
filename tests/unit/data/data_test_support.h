// Test support for the data layer: scratch directories and an in-memory RawLogReader.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <memory>
#include <utility>

#include "data/prep.h"
#include "data/raw_event.h"

namespace cf::data::testing {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    path_ = std::filesystem::temp_directory_path() /
            ("cf_data_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Names of the entries in the directory (to check that nothing half-written was left).
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      out.push_back(e.path().filename().string());
    }
    return out;
  }

 private:
  std::filesystem::path path_;
};

inline std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// One raw row for VectorLogReader: either a good event or a reject with a reason.
struct TestRow {
  TestRow(std::string user_id, std::string item_id, std::string action_name, int64_t time,
          std::string category_id = "", std::string activity_id = "", int purchase = -1,
          std::string reject = "")
      : user(std::move(user_id)),
        item(std::move(item_id)),
        action(std::move(action_name)),
        timestamp(time),
        category(std::move(category_id)),
        activity(std::move(activity_id)),
        purchase_label(purchase),
        reject_reason(std::move(reject)) {}
  std::string user, item, action;
  int64_t timestamp;
  std::string category, activity;
  int purchase_label;
  std::string reject_reason;  // non-empty: the reader rejects this row
  std::string item_features;  // RawEvent::item_features (set after construction)
};

// `row` with item features `tokens` (joined with kItemFeatureSeparator).
inline TestRow with_features(TestRow row, const std::vector<std::string>& tokens) {
  row.item_features.clear();
  for (const auto& token : tokens) {
    if (&token != &tokens.front()) row.item_features.push_back(kItemFeatureSeparator);
    row.item_features += token;
  }
  return row;
}

// RawLogReader over a vector of rows, so the pipeline can be tested without file formats.
class VectorLogReader : public RawLogReader {
 public:
  VectorLogReader(std::vector<TestRow> rows, RejectSink rejects, std::string name = "memory.csv")
      : rows_(std::move(rows)), rejects_(std::move(rejects)), name_(std::move(name)) {}
  bool next(RawEvent& event) override {
    while (next_ < rows_.size()) {
      const TestRow& row = rows_[next_++];
      if (!row.reject_reason.empty()) {
        if (rejects_) {
          rejects_(RowReject{row.reject_reason, name_, static_cast<int64_t>(next_)});
        }
        continue;
      }
      event.user = row.user;
      event.item = row.item;
      event.action = row.action;
      event.timestamp = row.timestamp;
      event.category = row.category;
      event.activity = row.activity;
      event.purchase_label = row.purchase_label;
      event.item_features = row.item_features;
      event.line = static_cast<int64_t>(next_);
      return true;
    }
    return false;
  }
  uint64_t bytes_read() const override { return next_ * 10; }
  uint64_t bytes_total() const override { return rows_.size() * 10; }
  int64_t rows_read() const override { return static_cast<int64_t>(next_); }
  std::vector<std::string> source_files() const override { return {name_}; }

 private:
  std::vector<TestRow> rows_;
  RejectSink rejects_;
  std::string name_;
  size_t next_ = 0;
};

// The user-hash key of the in-memory preps (tests recompute pseudonyms with it).
inline const std::string kTestUserKey = "0123456789abcdef-test-key";

// Prep options for one in-memory source of `format` writing `out`, with a fixed test key.
inline PrepOptions in_memory_prep_options(const std::string& out, RawFormat format) {
  PrepOptions o;
  RawSourceSpec spec;
  spec.format = format;
  spec.path = "memory.csv";
  o.sources = {spec};
  o.output_path = out;
  o.user_key = kTestUserKey;
  o.user_key_source = "key-file";
  return o;
}

// Runs prep over `rows` through the in-memory reader.
inline PrepReport prep_rows(const PrepOptions& o, const std::vector<TestRow>& rows) {
  return run_prep_with(o, [&](const RawSourceSpec&, RejectSink sink) {
    return std::make_unique<VectorLogReader>(rows, std::move(sink));
  });
}

}  // namespace cf::data::testing
