// Corpus layout: the dataset and attribute names of schema version 1, shared by writer and reader.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"

namespace cf::data::layout {

// Per-event datasets (all of length num_events, grouped by sequence, time order within each).
inline constexpr const char* kEventItem = "/events/item";
inline constexpr const char* kEventAction = "/events/action";
inline constexpr const char* kEventCategory = "/events/category";
inline constexpr const char* kEventTimeGap = "/events/time_gap";
inline constexpr const char* kEventActivity = "/events/activity";
inline constexpr const char* kEventTimestamp = "/events/timestamp";
inline constexpr const char* kEventPurchase = "/events/purchase";

// Per-sequence datasets (num_sequences entries; offsets has one more).
inline constexpr const char* kSequenceOffsets = "/sequences/offsets";
inline constexpr const char* kSequenceUserKey = "/sequences/user_key";
inline constexpr const char* kSequenceLabelLoo = "/sequences/label_loo";
inline constexpr const char* kSequenceLabelTime = "/sequences/label_time";
inline constexpr const char* kSequenceTimeTrainLength = "/sequences/time_train_length";

// Vocabularies: index = token id, entry 0 = kPadToken.
inline constexpr const char* kVocabItem = "/vocab/item_raw";
inline constexpr const char* kVocabCategory = "/vocab/category_raw";
inline constexpr const char* kVocabActivity = "/vocab/activity_raw";
inline constexpr const char* kVocabAction = "/vocab/action_names";
// Optional (corpora whose source has no item side information lack all three): the feature
// tokens of each item token in CSR form, and the feature vocabulary.
inline constexpr const char* kItemFeatureOffsets = "/item_features/offsets";  // int64, items + 1
inline constexpr const char* kItemFeatureIds = "/item_features/ids";          // int32
inline constexpr const char* kVocabItemFeature = "/vocab/item_feature_raw";
inline constexpr const char* kPadToken = "<pad>";
// Whether `entry` can be stored in a vocabulary: the datasets hold NUL-terminated strings
// declared UTF-8, so other bytes would make the file undecodable (h5py) and a NUL would cut it.
inline bool is_storable_vocab_entry(std::string_view entry) {
  return is_valid_utf8(entry) && entry.find('\0') == std::string_view::npos;
}

inline constexpr const char* kStatsItemCount = "/stats/item_count";
// Optional (corpora from before it was added lack it): mean price per item token, NaN unknown.
inline constexpr const char* kStatsItemPrice = "/stats/item_price";

// Hex characters of a stored user key: HMAC-SHA256 truncated to 128 bits.
inline constexpr int kUserKeyHexChars = 32;
inline constexpr const char* kUserIdHashing = "hmac-sha256";

// sha256 (hex) over the four vocabularies in the order item, category, activity, action; each
// contributes its dataset name and then every entry as "<byte length>:<bytes>\n", so neither
// an entry boundary nor a vocabulary boundary can be shifted without changing the hash.
// A corpus with item features (item_feature_raw not empty) also hashes, after those, the
// feature vocabulary the same way and then kItemFeatureIds's name and one line per item token
// with its feature tokens in decimal, space-separated: a model trained with features then
// refuses a corpus whose features differ. Without them the hash is the four-vocabulary one,
// as before item features existed, so the fingerprints of older corpora stay valid.
std::string vocab_fingerprint(const std::vector<std::string>& items,
                              const std::vector<std::string>& categories,
                              const std::vector<std::string>& activities,
                              const std::vector<std::string>& actions,
                              const std::vector<std::string>& item_feature_raw = {},
                              const std::vector<int64_t>& item_feature_offsets = {},
                              const std::vector<int32_t>& item_feature_ids = {});

}  // namespace cf::data::layout
