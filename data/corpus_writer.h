// CorpusContents and write_corpus: everything a corpus file holds, and the atomic HDF5 writer.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cf::data {

// Where the data came from and what prep did to it (root attributes of the file).
struct CorpusProvenance {
  std::string created_by;     // e.g. "cartformer prep 0.1.0"
  std::string source_format;  // raw_format_name() of the input
  std::vector<std::string> source_files;
  std::string prep_config_yaml;  // the resolved prep configuration
  int64_t rows_read = 0, rows_kept = 0, rows_rejected = 0, rows_filtered = 0;
  std::vector<std::pair<std::string, int64_t>> rejects_by_reason;  // malformed event rows
  std::vector<std::pair<std::string, int64_t>> side_table_rejects_by_reason;  // item tables etc.
  std::vector<std::pair<std::string, int64_t>> filtered_by_reason;  // good rows dropped by policy
  std::string user_key_source;  // "key-file", "environment" or "demo-key" (never the key)
  std::vector<std::string> dropped_personal_columns;
  int64_t time_split_cutoff = 0;
  std::string time_source;  // "timestamps" (real unix seconds) or "order" (ordinals only)
};

// A whole corpus in memory, laid out as on disk (docs/corpus-format.md).
struct CorpusContents {
  // Events: concatenated sequences, each in time order.
  std::vector<int32_t> item, action, category, time_gap, activity;
  std::vector<int64_t> timestamp;
  std::vector<int8_t> purchase;
  // Sequences.
  std::vector<int64_t> offsets;        // num_sequences + 1, offsets[0] = 0
  std::vector<std::string> user_keys;  // hex, layout::kUserKeyHexChars each
  std::vector<int8_t> label_loo, label_time;
  std::vector<int32_t> time_train_length;
  // Vocabularies (index = token id, entry 0 = "<pad>").
  std::vector<std::string> item_raw, category_raw, activity_raw, action_names;
  // Training-part item occurrences (index = token id).
  std::vector<int64_t> item_count;
  // Mean price per item token where the source has prices (NaN elsewhere); may be empty.
  std::vector<double> item_price;
  // Item features (ItemFeatures in data/corpus.h), all three empty when the source has none:
  // the feature vocabulary (entry 0 = "<pad>"), and item token t's feature tokens
  // item_feature_ids[item_feature_offsets[t], [t + 1]) (offsets: one per item token, plus one).
  std::vector<std::string> item_feature_raw;
  std::vector<int64_t> item_feature_offsets;
  std::vector<int32_t> item_feature_ids;
  CorpusProvenance provenance;

  int64_t num_events() const { return static_cast<int64_t>(item.size()); }
  int64_t num_sequences() const { return static_cast<int64_t>(user_keys.size()); }
};

// Writes `contents` to `path` under a temporary name and renames it into place only when the
// file is complete, so an existing corpus at `path` survives any failure. Inconsistent
// contents are a programming error (CF_CHECK); I/O failures are UserErrors naming `path`.
void write_corpus(const std::string& path, const CorpusContents& contents);

}  // namespace cf::data
