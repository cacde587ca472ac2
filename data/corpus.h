// Corpus: the tokenized HDF5 behaviour corpus (layout in docs/corpus-format.md) and its reader.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cf::data {

inline constexpr int kCorpusSchemaVersion = 1;

// Channels of one event. Token id 0 is padding in every channel.
enum class Channel { kItem = 0, kAction, kCategory, kTimeGap, kActivity };
inline constexpr int kNumChannels = 5;
const char* channel_name(Channel c);  // "item", "action", "category", "time_gap", "activity"

// Number of time-gap buckets including padding (0) and "first event" (1); see time_gap_bucket().
inline constexpr int kNumTimeGapBuckets = 16;
// Maps seconds since the user's previous event to a log-scale bucket in [2, kNumTimeGapBuckets).
// Order-only sources (no real time) use bucket 1 for every event.
int time_gap_bucket(int64_t gap_seconds);
// time_gap_bucket of `later - earlier` for any two int64 times: a difference beyond the int64
// range saturates (to "a week or more" when later is the greater) instead of wrapping.
int time_gap_bucket_between(int64_t earlier, int64_t later);

// Vocabulary sizes including padding row 0: what the model's embedding tables are sized by.
struct VocabSizes {
  int32_t items = 0;
  int32_t actions = 0;
  int32_t categories = 0;
  int32_t time_gaps = 0;
  int32_t activities = 0;
  // Item-feature tokens (ItemFeatures) including padding row 0; 0 = the corpus has none.
  int32_t item_features = 0;
  bool operator==(const VocabSizes&) const = default;
};

// Side information about items: the feature tokens (S3-Rec attribute ids, categories, brands)
// prep found for each item token, in CSR form. A model with model.item_features adds the mean
// of an item's feature embeddings to its item embedding. Empty when the corpus has none.
struct ItemFeatures {
  int32_t vocab_size = 0;        // feature tokens including padding 0; 0 = none
  std::vector<int64_t> offsets;  // item tokens + 1 entries; offsets[0] = 0
  std::vector<int32_t> ids;      // item t's features: ids[offsets[t], offsets[t + 1]), each >= 1
  bool empty() const { return vocab_size == 0; }
  int32_t count(int32_t item) const {
    return static_cast<int32_t>(offsets[item + 1] - offsets[item]);
  }
};

// One user's (or session's) events in time order, one vector per channel.
struct Sequence {
  int64_t index = 0;  // sequence number in the corpus
  std::vector<int32_t> item, action, category, time_gap, activity;
  std::vector<int64_t> timestamp;
  std::vector<int8_t> purchase;  // 1 if the event is a purchase (action buy, or source flag > 0)
  int32_t length() const { return static_cast<int32_t>(item.size()); }
};

// Read-only view of a corpus file. Reads hyperslabs on demand (never the whole file unless
// load_all is called) and is safe to use from one thread. Opening validates the schema
// version and required datasets; a truncated or foreign file is a UserError naming the file.
class CorpusReader {
 public:
  static std::unique_ptr<CorpusReader> open(const std::string& path);
  virtual ~CorpusReader() = default;

  virtual const std::string& path() const = 0;
  virtual int64_t num_sequences() const = 0;
  virtual int64_t num_events() const = 0;
  virtual VocabSizes vocab_sizes() const = 0;
  // Stable content hash of the vocabularies (hex sha256): a checkpoint records it and refuses
  // a corpus whose fingerprint differs.
  virtual std::string vocab_fingerprint() const = 0;

  // Offsets of every sequence (num_sequences + 1 entries): small, cached at open.
  virtual const std::vector<int64_t>& offsets() const = 0;
  // Reads sequence `i` (all channels) with one hyperslab read per channel.
  virtual void read_sequence(int64_t i, Sequence& out) const = 0;
  // Reads a contiguous range of sequences [first, first+count).
  virtual void read_sequences(int64_t first, int64_t count, std::vector<Sequence>& out) const = 0;
  // Reads every event channel into memory once (num_events * 29 bytes); later reads are then
  // memory copies. Worth it when a corpus is read at random many times (training epochs).
  // The default does nothing (reads keep going to the file), so test doubles need not care.
  virtual void load_all() {}

  // Per-sequence held-out purchase label for propensity evaluation under leave-one-out:
  // purchase flag of the last (test) event. Training derives its labels from earlier events'
  // flags (Sequence::purchase), so the test label is never seen in training.
  virtual const std::vector<int8_t>& purchase_labels() const = 0;
  // Same under the time split: 1 if any purchase happens at or after the cutoff.
  virtual const std::vector<int8_t>& time_split_purchase_labels() const = 0;
  // Pseudonymous user key of each sequence (keyed hash, hex).
  virtual std::vector<std::string> user_keys() const = 0;
  // Occurrences of each item token in the training part of the data (index = token id).
  virtual const std::vector<int64_t>& item_counts() const = 0;
  // Mean price of each item token (NaN where the source had none); empty when the corpus
  // records no prices (sources without prices, or a corpus from an older prep).
  virtual const std::vector<double>& item_prices() const {
    static const std::vector<double> none;
    return none;
  }
  // Feature tokens of every item token; empty (vocab_size 0) when the corpus has none.
  virtual const ItemFeatures& item_features() const {
    static const ItemFeatures none;
    return none;
  }
  // Raw name of each item-feature token ("attr:17", "brand:acme"; entry 0 is "<pad>").
  virtual std::vector<std::string> item_feature_raw_ids() const { return {}; }
  // Raw id of each item token (index = token id; entry 0 is "<pad>").
  virtual std::vector<std::string> item_raw_ids() const = 0;
  virtual std::vector<std::string> category_raw_ids() const = 0;
  virtual std::vector<std::string> action_names() const = 0;
  virtual std::vector<std::string> activity_raw_ids() const = 0;
  // Time-based split: per sequence, the number of leading events with timestamp < cutoff.
  virtual int64_t time_split_cutoff() const = 0;
  virtual const std::vector<int32_t>& time_split_train_length() const = 0;
  // Root attributes (provenance) as a JSON string.
  virtual std::string provenance_json() const = 0;
  // A text corpus read as sequences (data/text/copy_sequences.h): each sequence's split
  // (text::TextSplit: 0 train, 1 validation, 2 test), fixed by prep. Empty for behaviour
  // corpora, whose split is leave-one-out over each user's events.
  virtual const std::vector<int8_t>& sequence_splits() const {
    static const std::vector<int8_t> none;
    return none;
  }
};

// Leave-one-out split on a sequence of length L: test target = event L-1, validation target =
// event L-2, training uses events [0, L-2). Sequences shorter than 3 events are train-only.
enum class Split { kTrain, kValidation, kTest };
// Number of events of a length-L sequence visible as input when predicting the target of `split`
// (train: the whole prefix used for training; validation: L-2; test: L-1).
int32_t visible_length(int32_t length, Split split);

}  // namespace cf::data
