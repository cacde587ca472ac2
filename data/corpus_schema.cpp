// The small pure functions of the corpus schema: channel names, time-gap buckets, split lengths.
#include <array>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/sha256.h"
#include "data/corpus.h"
#include "data/corpus_layout.h"

namespace cf::data {

const char* channel_name(Channel c) {
  switch (c) {
    case Channel::kItem:
      return "item";
    case Channel::kAction:
      return "action";
    case Channel::kCategory:
      return "category";
    case Channel::kTimeGap:
      return "time_gap";
    case Channel::kActivity:
      return "activity";
  }
  return "unknown";
}

int time_gap_bucket(int64_t gap_seconds) {
  // Upper bounds (exclusive) of buckets 2..14 in seconds; bucket 15 is "a week or more".
  // Roughly logarithmic, with edges at durations people reason about (a minute, an hour, a
  // day), so a bucket can be read off in docs/corpus-format.md.
  static constexpr std::array<int64_t, 13> kUpperBounds = {
      1,          // 2: same second (also any negative gap, which sorting rules out)
      10,         // 3: [1 s, 10 s)
      30,         // 4: [10 s, 30 s)
      60,         // 5: [30 s, 1 min)
      180,        // 6: [1 min, 3 min)
      600,        // 7: [3 min, 10 min)
      1800,       // 8: [10 min, 30 min)
      3600,       // 9: [30 min, 1 h)
      3 * 3600,   // 10: [1 h, 3 h)
      12 * 3600,  // 11: [3 h, 12 h)
      86400,      // 12: [12 h, 1 d)
      3 * 86400,  // 13: [1 d, 3 d)
      7 * 86400,  // 14: [3 d, 7 d)
  };
  static_assert(kUpperBounds.size() + 3 == kNumTimeGapBuckets);
  for (size_t i = 0; i < kUpperBounds.size(); ++i) {
    if (gap_seconds < kUpperBounds[i]) return static_cast<int>(i) + 2;
  }
  return kNumTimeGapBuckets - 1;
}

int time_gap_bucket_between(int64_t earlier, int64_t later) {
  int64_t gap = 0;
  if (__builtin_sub_overflow(later, earlier, &gap)) {
    gap =
        later > earlier ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return time_gap_bucket(gap);
}

int32_t visible_length(int32_t length, Split split) {
  CF_CHECK(length >= 0, "negative sequence length");
  const bool has_holdout = length >= 3;
  switch (split) {
    case Split::kTrain:
      return has_holdout ? length - 2 : length;
    case Split::kValidation:
      return has_holdout ? length - 2 : 0;
    case Split::kTest:
      return has_holdout ? length - 1 : 0;
  }
  return 0;
}

namespace layout {

std::string vocab_fingerprint(const std::vector<std::string>& items,
                              const std::vector<std::string>& categories,
                              const std::vector<std::string>& activities,
                              const std::vector<std::string>& actions,
                              const std::vector<std::string>& item_feature_raw,
                              const std::vector<int64_t>& item_feature_offsets,
                              const std::vector<int32_t>& item_feature_ids) {
  Sha256 hash;
  auto add_vocab = [&](const char* name, const std::vector<std::string>& entries) {
    std::string head = std::string(name) + "\n";
    hash.update(head.data(), head.size());
    for (const auto& entry : entries) {
      std::string prefix = std::to_string(entry.size()) + ":";
      hash.update(prefix.data(), prefix.size());
      hash.update(entry.data(), entry.size());
      hash.update("\n", 1);
    }
  };
  add_vocab(kVocabItem, items);
  add_vocab(kVocabCategory, categories);
  add_vocab(kVocabActivity, activities);
  add_vocab(kVocabAction, actions);
  if (!item_feature_raw.empty()) {
    add_vocab(kVocabItemFeature, item_feature_raw);
    std::string lists = std::string(kItemFeatureIds) + "\n";
    for (size_t item = 0; item + 1 < item_feature_offsets.size(); ++item) {
      for (int64_t k = item_feature_offsets[item]; k < item_feature_offsets[item + 1]; ++k) {
        if (k > item_feature_offsets[item]) lists += ' ';
        lists += std::to_string(item_feature_ids[static_cast<size_t>(k)]);
      }
      lists += '\n';
    }
    hash.update(lists.data(), lists.size());
  }
  auto digest = hash.finish();
  return to_hex(digest.data(), digest.size());
}

}  // namespace layout
}  // namespace cf::data
