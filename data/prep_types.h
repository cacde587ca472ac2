// Prep's value types: the options of one prep run, the report it returns, and the callbacks
// it takes (progress, reader opener). Kept apart from prep.h so the pipeline's own parts
// (reading, configs) need not include its facade.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/raw_event.h"

namespace cf::data {

// Demo key for user hashing, allowed only when asked for explicitly (`--demo-key`): anyone can
// recompute these pseudonyms, so a corpus made with it records user_key_source = "demo-key".
inline constexpr const char* kDemoUserKey = "cartformer-public-demo-key-not-secret";
// Shortest accepted user-hash key in bytes (HMAC keys shorter than this are guessable).
inline constexpr size_t kMinUserKeyBytes = 16;

// Longest id (user, item, category, activity) prep accepts, in bytes. Vocabularies are stored
// as fixed-width strings as wide as their longest entry, so one huge id would make the whole
// table huge; longer ids are rejected rows.
inline constexpr size_t kMaxIdBytes = 256;
// Accepted event times in unix seconds: 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z. Anything
// else is a unit mistake or garbage, and differences between such values can overflow int64.
inline constexpr int64_t kMinEventTime = 0;
inline constexpr int64_t kMaxEventTime = 253402300799;

struct PrepOptions {
  std::vector<RawSourceSpec> sources;  // one or more raw inputs, read in order
  std::string output_path;
  std::string user_key;  // HMAC-SHA256 key for user ids; never written anywhere
  // Recorded instead of the key: "key-file", "environment" or "demo-key".
  std::string user_key_source;
  double max_reject_fraction = 0.01;  // rejected / read beyond this fails the prep
  int32_t min_sequence_length = 3;    // shorter users are dropped (LOO needs train+valid+test)
  int32_t max_events_per_user = 0;    // keep only the most recent N events; 0 = keep all
  double time_split_quantile = 0.9;   // cutoff = this quantile of kept timestamps ...
  std::optional<int64_t> time_split_cutoff;  // ... unless an explicit unix time is given
  std::string created_by = "cartformer";
  int max_reject_examples = 5;
};

struct PrepReport {
  std::string output_path;
  std::vector<std::string> source_files;
  int64_t rows_read = 0;      // data rows seen by the readers
  int64_t rows_rejected = 0;  // malformed rows (by reason below)
  int64_t rows_filtered = 0;  // good rows dropped by policy (short sequences, per-user cap)
  int64_t rows_kept = 0;      // events in the corpus
  std::vector<std::pair<std::string, int64_t>> rejects_by_reason;  // most frequent first
  // Rejected rows of side tables (trio item/activity tables, item attributes); not events, so
  // outside rows_read and the reject fraction.
  std::vector<std::pair<std::string, int64_t>> side_table_rejects_by_reason;
  std::vector<std::pair<std::string, int64_t>> filtered_by_reason;
  std::vector<RowReject> reject_examples;  // the first few, in input order
  int64_t users_seen = 0, sequences = 0, items = 0, categories = 0, activities = 0;
  // Item side information: distinct feature tokens (without padding) and the items carrying at
  // least one; both 0 when the source has none.
  int64_t item_features = 0, items_with_features = 0;
  int64_t time_split_cutoff = 0;
  std::string time_source;  // "timestamps" or "order"
  double read_seconds = 0, build_seconds = 0, write_seconds = 0;
};

// Called every few thousand rows while reading: bytes consumed / total over all sources, rows.
using PrepProgress = std::function<void(uint64_t bytes_read, uint64_t bytes_total, int64_t rows)>;
// Opens a reader for one source (open_raw_log in production; tests pass in-memory readers).
using RawLogOpener = std::function<std::unique_ptr<RawLogReader>(const RawSourceSpec&, RejectSink)>;

}  // namespace cf::data
