#include "data/corpus_writer.h"


#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "data/corpus.h"
#include "data/corpus_layout.h"
#include "data/hdf5_file.h"

namespace cf::data {
namespace {

void check_item_features(const CorpusContents& c) {
  if (c.item_feature_raw.empty()) {
    CF_CHECK(c.item_feature_offsets.empty() && c.item_feature_ids.empty(),
             "item features without a feature vocabulary");
    return;
  }
  CF_CHECK(c.item_feature_raw.front() == layout::kPadToken,
           "the item-feature vocabulary must start with <pad>");
  for (const auto& entry : c.item_feature_raw) {
    CF_CHECK(layout::is_storable_vocab_entry(entry), "item feature is not NUL-free UTF-8");
  }
  const auto& offsets = c.item_feature_offsets;
  CF_CHECK(offsets.size() == c.item_raw.size() + 1,
           "item_feature_offsets must have one entry per item token, plus one");
  CF_CHECK(offsets[0] == 0 && offsets[1] == 0, "the padding item has no features");
  for (size_t t = 0; t + 1 < offsets.size(); ++t) {
    CF_CHECK(offsets[t] <= offsets[t + 1], "item_feature_offsets must not decrease");
  }
  CF_CHECK(offsets.back() == static_cast<int64_t>(c.item_feature_ids.size()),
           "item_feature_offsets must span all item_feature_ids");
  const auto vocab = static_cast<int64_t>(c.item_feature_raw.size());
  for (const int32_t id : c.item_feature_ids) {
    CF_CHECK(id >= 1 && id < vocab, "item feature token outside the feature vocabulary");
  }
}

void check_consistent(const CorpusContents& c) {
  const size_t events = c.item.size();
  CF_CHECK(c.action.size() == events && c.category.size() == events &&
               c.time_gap.size() == events && c.activity.size() == events &&
               c.timestamp.size() == events && c.purchase.size() == events,
           "event channels differ in length");
  const size_t sequences = c.user_keys.size();
  CF_CHECK(c.offsets.size() == sequences + 1, "offsets must have num_sequences + 1 entries");
  CF_CHECK(c.offsets.front() == 0 && c.offsets.back() == static_cast<int64_t>(events),
           "offsets must span all events");
  CF_CHECK(c.label_loo.size() == sequences && c.label_time.size() == sequences &&
               c.time_train_length.size() == sequences,
           "per-sequence datasets differ in length");
  CF_CHECK(c.item_price.empty() || c.item_price.size() == c.item_raw.size(),
           "item_price must have one entry per item token");
  for (const auto* vocab : {&c.item_raw, &c.category_raw, &c.activity_raw, &c.action_names}) {
    CF_CHECK(!vocab->empty() && vocab->front() == layout::kPadToken,
             "vocabularies must start with <pad>");
    for (const auto& entry : *vocab) {  // prep rejects the rows of other ids
      CF_CHECK(layout::is_storable_vocab_entry(entry), "vocabulary entry is not NUL-free UTF-8");
    }
  }
  CF_CHECK(c.item_count.size() == c.item_raw.size(), "item_count must match the item vocabulary");
  check_item_features(c);
  for (const auto& key : c.user_keys) {
    CF_CHECK(key.size() == static_cast<size_t>(layout::kUserKeyHexChars), "user key width");
  }
}

// Names the user chose (file names, columns) need not be UTF-8; provenance only describes
// them, so such bytes are written as U+FFFD instead of failing the prep.
std::string json_names(const std::vector<std::string>& names) {
  return Json(names).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string json_counts(const std::vector<std::pair<std::string, int64_t>>& counts) {
  Json j = Json::object();
  for (const auto& [reason, n] : counts) j[reason] = n;
  return j.dump();
}

void write_provenance(h5::File& file, const CorpusContents& c) {
  const CorpusProvenance& p = c.provenance;
  file.set_attribute("schema_version", static_cast<int64_t>(kCorpusSchemaVersion));
  file.set_attribute("created_by", p.created_by);
  file.set_attribute("source_format", p.source_format);
  file.set_attribute("source_files", json_names(p.source_files));
  file.set_attribute("prep_config", p.prep_config_yaml);
  file.set_attribute("rows_read", p.rows_read);
  file.set_attribute("rows_kept", p.rows_kept);
  file.set_attribute("rows_rejected", p.rows_rejected);
  file.set_attribute("rejects_by_reason", json_counts(p.rejects_by_reason));
  file.set_attribute("side_table_rejects_by_reason", json_counts(p.side_table_rejects_by_reason));
  file.set_attribute("rows_filtered", p.rows_filtered);
  file.set_attribute("filtered_by_reason", json_counts(p.filtered_by_reason));
  file.set_attribute("user_id_hashing", layout::kUserIdHashing);
  file.set_attribute("user_key_source", p.user_key_source);
  file.set_attribute("dropped_personal_columns", json_names(p.dropped_personal_columns));
  file.set_attribute("time_source", p.time_source);
  file.set_attribute("time_split_cutoff", p.time_split_cutoff);
  file.set_attribute("num_sequences", c.num_sequences());
  file.set_attribute("num_events", c.num_events());
  file.set_attribute(
      "vocab_fingerprint",
      layout::vocab_fingerprint(c.item_raw, c.category_raw, c.activity_raw, c.action_names,
                                c.item_feature_raw, c.item_feature_offsets, c.item_feature_ids));
}

}  // namespace

void write_corpus(const std::string& path, const CorpusContents& c) {
  check_consistent(c);
  // A missing output folder is created (only now, when there is something to write).
  create_parent_folders(path);
  PendingOutput output(path);
  h5::File file = h5::File::create(output.temp_path(), path);
  const h5::DatasetLayout events_layout;  // 64k-element chunks, shuffle + deflate 1
  h5::DatasetLayout table_layout;
  table_layout.chunk_elements = 16 * 1024;  // per-sequence and vocabulary tables are smaller

  for (const char* group : {"/events", "/sequences", "/vocab", "/stats"}) file.create_group(group);
  const int64_t n = c.num_events();
  file.write_dataset(layout::kEventItem, c.item.data(), n, events_layout);
  file.write_dataset(layout::kEventAction, c.action.data(), n, events_layout);
  file.write_dataset(layout::kEventCategory, c.category.data(), n, events_layout);
  file.write_dataset(layout::kEventTimeGap, c.time_gap.data(), n, events_layout);
  file.write_dataset(layout::kEventActivity, c.activity.data(), n, events_layout);
  file.write_dataset(layout::kEventTimestamp, c.timestamp.data(), n, events_layout);
  file.write_dataset(layout::kEventPurchase, c.purchase.data(), n, events_layout);

  const int64_t s = c.num_sequences();
  file.write_dataset(layout::kSequenceOffsets, c.offsets.data(), s + 1, table_layout);
  file.write_strings(layout::kSequenceUserKey, c.user_keys, table_layout);
  file.write_dataset(layout::kSequenceLabelLoo, c.label_loo.data(), s, table_layout);
  file.write_dataset(layout::kSequenceLabelTime, c.label_time.data(), s, table_layout);
  file.write_dataset(layout::kSequenceTimeTrainLength, c.time_train_length.data(), s, table_layout);

  file.write_strings(layout::kVocabItem, c.item_raw, table_layout);
  file.write_strings(layout::kVocabCategory, c.category_raw, table_layout);
  file.write_strings(layout::kVocabActivity, c.activity_raw, table_layout);
  file.write_strings(layout::kVocabAction, c.action_names, table_layout);
  file.write_dataset(layout::kStatsItemCount, c.item_count.data(),
                     static_cast<int64_t>(c.item_count.size()), table_layout);
  if (!c.item_price.empty()) {
    file.write_dataset(layout::kStatsItemPrice, c.item_price.data(),
                       static_cast<int64_t>(c.item_price.size()), table_layout);
  }
  if (!c.item_feature_raw.empty()) {
    file.create_group("/item_features");
    file.write_dataset(layout::kItemFeatureOffsets, c.item_feature_offsets.data(),
                       static_cast<int64_t>(c.item_feature_offsets.size()), table_layout);
    file.write_dataset(layout::kItemFeatureIds, c.item_feature_ids.data(),
                       static_cast<int64_t>(c.item_feature_ids.size()), table_layout);
    file.write_strings(layout::kVocabItemFeature, c.item_feature_raw, table_layout);
  }

  write_provenance(file, c);
  file.close();
  output.commit();
}

}  // namespace cf::data
