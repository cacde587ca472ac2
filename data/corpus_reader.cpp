// HdfCorpusReader: the CorpusReader over one HDF5 corpus file (layout in data/corpus_layout.h).
#include <fstream>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/json.h"
#include "data/corpus.h"
#include "data/corpus_layout.h"
#include "data/hdf5_file.h"

namespace cf::data {
namespace {

struct EventChannels {
  std::vector<int32_t> item, action, category, time_gap, activity;
  std::vector<int64_t> timestamp;
  std::vector<int8_t> purchase;
};

class HdfCorpusReader final : public CorpusReader {
 public:
  explicit HdfCorpusReader(const std::string& path);

  const std::string& path() const override { return path_; }
  int64_t num_sequences() const override { return static_cast<int64_t>(offsets_.size()) - 1; }
  int64_t num_events() const override { return offsets_.back(); }
  VocabSizes vocab_sizes() const override { return vocab_sizes_; }
  std::string vocab_fingerprint() const override { return fingerprint_; }
  const std::vector<int64_t>& offsets() const override { return offsets_; }
  void read_sequence(int64_t i, Sequence& out) const override;
  void read_sequences(int64_t first, int64_t count, std::vector<Sequence>& out) const override;
  void load_all() override;
  const std::vector<int8_t>& purchase_labels() const override { return label_loo_; }
  const std::vector<int8_t>& time_split_purchase_labels() const override { return label_time_; }
  std::vector<std::string> user_keys() const override { return user_key_.read_strings(); }
  const std::vector<int64_t>& item_counts() const override { return item_count_; }
  const std::vector<double>& item_prices() const override { return item_price_; }
  const ItemFeatures& item_features() const override { return item_features_; }
  std::vector<std::string> item_feature_raw_ids() const override {
    if (item_features_.empty()) return {};
    return strings(layout::kVocabItemFeature);
  }
  std::vector<std::string> item_raw_ids() const override { return strings(layout::kVocabItem); }
  std::vector<std::string> category_raw_ids() const override {
    return strings(layout::kVocabCategory);
  }
  std::vector<std::string> action_names() const override { return strings(layout::kVocabAction); }
  std::vector<std::string> activity_raw_ids() const override {
    return strings(layout::kVocabActivity);
  }
  int64_t time_split_cutoff() const override { return time_split_cutoff_; }
  const std::vector<int32_t>& time_split_train_length() const override {
    return time_train_length_;
  }
  std::string provenance_json() const override;

 private:
  [[noreturn]] void foreign(const std::string& why) const {
    throw UserError(path_ + ": not a Cartformer corpus (" + why + ")");
  }
  [[noreturn]] void corrupt(const std::string& why) const {
    throw UserError(path_ + ": truncated or corrupt HDF5 file (" + why + ")");
  }
  h5::Dataset open_checked(const char* name, size_t integer_bytes, int64_t expected_length);
  void read_item_features();
  std::vector<std::string> strings(const char* name) const {
    return file_.open_dataset(name).read_strings();
  }
  // Reads events [begin, end) of every channel into `out` (sized by the caller).
  void read_events(int64_t begin, int64_t end, Sequence& out) const;
  void check_tokens(const Sequence& s) const;

  std::string path_;
  h5::File file_;
  // Declared after file_ so they are closed before it.
  std::optional<h5::Dataset> item_, action_, category_, time_gap_, activity_, timestamp_, purchase_;
  h5::Dataset user_key_;
  std::vector<int64_t> offsets_;
  std::vector<int8_t> label_loo_, label_time_;
  std::vector<int32_t> time_train_length_;
  std::vector<int64_t> item_count_;
  std::vector<double> item_price_;
  ItemFeatures item_features_;
  VocabSizes vocab_sizes_;
  std::string fingerprint_;
  int64_t time_split_cutoff_ = 0;
  std::optional<EventChannels> in_memory_;
};

h5::Dataset HdfCorpusReader::open_checked(const char* name, size_t integer_bytes,
                                          int64_t expected_length) {
  if (!file_.has_link(name)) foreign(std::string("missing dataset ") + name);
  h5::Dataset d = file_.open_dataset(name);
  if (d.dims().size() != 1) foreign(std::string(name) + " is not one-dimensional");
  if (integer_bytes > 0 && !d.is_integer_of_size(integer_bytes)) {
    foreign(std::string(name) + " is not a " + std::to_string(integer_bytes * 8) +
            "-bit integer dataset");
  }
  if (integer_bytes == 0 && !d.is_string()) foreign(std::string(name) + " is not a string table");
  if (expected_length >= 0 && d.length() != expected_length) {
    corrupt(std::string(name) + " has " + std::to_string(d.length()) + " entries, expected " +
            std::to_string(expected_length));
  }
  return d;
}

h5::File open_corpus_file(const std::string& path) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw UserError(path + ": cannot open for reading (missing or unreadable)");
  }
  if (!h5::has_hdf5_signature(path)) {
    throw UserError(path + ": not a Cartformer corpus (not an HDF5 file)");
  }
  return h5::File::open_read_only(path);
}

HdfCorpusReader::HdfCorpusReader(const std::string& path)
    : path_(path),
      file_(open_corpus_file(path)),
      user_key_(h5::Handle(), path, layout::kSequenceUserKey) {
  // A text corpus (copy generation, data/text/text_corpus.h) is another kind of file.
  if (file_.has_attribute("corpus_kind") && file_.string_attribute("corpus_kind") == "text_pairs")
    throw UserError(path +
                    ": a text corpus (prep --format kobe / text_jsonl), not a behaviour "
                    "corpus: it trains a copy model (task.kind: copy), which cartformer "
                    "copy uses");
  if (!file_.has_attribute("schema_version")) foreign("no schema_version attribute");
  const int64_t version = file_.int_attribute("schema_version");
  if (version != kCorpusSchemaVersion) {
    throw UserError(path_ + ": corpus schema version " + std::to_string(version) +
                    " is not supported (this build reads version " +
                    std::to_string(kCorpusSchemaVersion) + "); re-run cartformer prep");
  }

  // Sequence table first: its last offset fixes the event count every channel must have.
  h5::Dataset offsets = open_checked(layout::kSequenceOffsets, 8, -1);
  if (offsets.length() < 1) corrupt("empty /sequences/offsets");
  offsets_ = offsets.read_all<int64_t>();
  const int64_t sequences = static_cast<int64_t>(offsets_.size()) - 1;
  if (offsets_.front() != 0) corrupt("/sequences/offsets does not start at 0");
  for (int64_t i = 0; i < sequences; ++i) {
    if (offsets_[i + 1] < offsets_[i]) {
      corrupt("/sequences/offsets decreases at sequence " + std::to_string(i));
    }
  }
  const int64_t events = offsets_.back();
  item_ = open_checked(layout::kEventItem, 4, events);
  action_ = open_checked(layout::kEventAction, 4, events);
  category_ = open_checked(layout::kEventCategory, 4, events);
  time_gap_ = open_checked(layout::kEventTimeGap, 4, events);
  activity_ = open_checked(layout::kEventActivity, 4, events);
  timestamp_ = open_checked(layout::kEventTimestamp, 8, events);
  purchase_ = open_checked(layout::kEventPurchase, 1, events);

  user_key_ = open_checked(layout::kSequenceUserKey, 0, sequences);
  label_loo_ = open_checked(layout::kSequenceLabelLoo, 1, sequences).read_all<int8_t>();
  label_time_ = open_checked(layout::kSequenceLabelTime, 1, sequences).read_all<int8_t>();
  time_train_length_ =
      open_checked(layout::kSequenceTimeTrainLength, 4, sequences).read_all<int32_t>();

  auto vocab_size = [&](const char* name) {
    h5::Dataset d = open_checked(name, 0, -1);
    if (d.length() < 1) corrupt(std::string(name) + " is empty (entry 0 must be <pad>)");
    return static_cast<int32_t>(d.length());
  };
  vocab_sizes_.items = vocab_size(layout::kVocabItem);
  vocab_sizes_.categories = vocab_size(layout::kVocabCategory);
  vocab_sizes_.activities = vocab_size(layout::kVocabActivity);
  vocab_sizes_.actions = vocab_size(layout::kVocabAction);
  vocab_sizes_.time_gaps = kNumTimeGapBuckets;
  item_count_ = open_checked(layout::kStatsItemCount, 8, vocab_sizes_.items).read_all<int64_t>();
  if (file_.has_link(layout::kStatsItemPrice)) {
    h5::Dataset prices = file_.open_dataset(layout::kStatsItemPrice);
    if (prices.dims().size() != 1 || !prices.is_float()) {
      foreign(std::string(layout::kStatsItemPrice) + " is not a one-dimensional float dataset");
    }
    if (prices.length() != vocab_sizes_.items) {
      corrupt(std::string(layout::kStatsItemPrice) + " has " + std::to_string(prices.length()) +
              " entries, expected " + std::to_string(vocab_sizes_.items));
    }
    item_price_ = prices.read_all<double>();
  }
  read_item_features();

  for (const char* name : {"vocab_fingerprint", "time_split_cutoff"}) {
    if (!file_.has_attribute(name)) foreign(std::string("missing attribute ") + name);
  }
  fingerprint_ = file_.string_attribute("vocab_fingerprint");
  time_split_cutoff_ = file_.int_attribute("time_split_cutoff");
}

// The optional item features: all three datasets or none (a corpus from a source without item
// side information, or from before features existed). Read whole at open (a few entries per
// item) and checked, so a damaged table cannot become an out-of-range embedding lookup later.
void HdfCorpusReader::read_item_features() {
  const char* names[] = {layout::kItemFeatureOffsets, layout::kItemFeatureIds,
                         layout::kVocabItemFeature};
  std::string present, missing;
  for (const char* name : names) {
    std::string& list = file_.has_link(name) ? present : missing;
    list += (list.empty() ? "" : ", ") + std::string(name);
  }
  if (present.empty()) return;
  if (!missing.empty()) corrupt("has " + present + " but not " + missing);

  h5::Dataset vocab = open_checked(layout::kVocabItemFeature, 0, -1);
  if (vocab.length() < 1) {
    corrupt(std::string(layout::kVocabItemFeature) + " is empty (entry 0 must be <pad>)");
  }
  ItemFeatures f;
  f.vocab_size = static_cast<int32_t>(vocab.length());
  f.offsets = open_checked(layout::kItemFeatureOffsets, 8, int64_t{vocab_sizes_.items} + 1)
                  .read_all<int64_t>();
  h5::Dataset ids = open_checked(layout::kItemFeatureIds, 4, -1);
  const std::string offsets_name = layout::kItemFeatureOffsets;
  if (f.offsets[0] != 0) corrupt(offsets_name + " does not start at 0");
  if (f.offsets[1] != 0) corrupt(offsets_name + " gives the padding item features");
  for (int32_t item = 0; item < vocab_sizes_.items; ++item) {
    if (f.offsets[item + 1] < f.offsets[item]) {
      corrupt(offsets_name + " decreases at item " + std::to_string(item));
    }
  }
  if (f.offsets.back() != ids.length()) {
    corrupt(offsets_name + " ends at " + std::to_string(f.offsets.back()) + " but " +
            layout::kItemFeatureIds + " has " + std::to_string(ids.length()) + " entries");
  }
  f.ids = ids.read_all<int32_t>();
  for (size_t k = 0; k < f.ids.size(); ++k) {
    if (f.ids[k] < 1 || f.ids[k] >= f.vocab_size) {
      corrupt(std::string(layout::kItemFeatureIds) + " entry " + std::to_string(k) + ": token " +
              std::to_string(f.ids[k]) + " outside [1, " + std::to_string(f.vocab_size) + ")");
    }
  }
  vocab_sizes_.item_features = f.vocab_size;
  item_features_ = std::move(f);
}

void HdfCorpusReader::read_events(int64_t begin, int64_t end, Sequence& out) const {
  const int64_t n = end - begin;
  out.item.resize(n);
  out.action.resize(n);
  out.category.resize(n);
  out.time_gap.resize(n);
  out.activity.resize(n);
  out.timestamp.resize(n);
  out.purchase.resize(n);
  if (in_memory_) {
    const EventChannels& m = *in_memory_;
    std::copy(m.item.begin() + begin, m.item.begin() + end, out.item.begin());
    std::copy(m.action.begin() + begin, m.action.begin() + end, out.action.begin());
    std::copy(m.category.begin() + begin, m.category.begin() + end, out.category.begin());
    std::copy(m.time_gap.begin() + begin, m.time_gap.begin() + end, out.time_gap.begin());
    std::copy(m.activity.begin() + begin, m.activity.begin() + end, out.activity.begin());
    std::copy(m.timestamp.begin() + begin, m.timestamp.begin() + end, out.timestamp.begin());
    std::copy(m.purchase.begin() + begin, m.purchase.begin() + end, out.purchase.begin());
    return;
  }
  item_->read(begin, n, out.item.data());
  action_->read(begin, n, out.action.data());
  category_->read(begin, n, out.category.data());
  time_gap_->read(begin, n, out.time_gap.data());
  activity_->read(begin, n, out.activity.data());
  timestamp_->read(begin, n, out.timestamp.data());
  purchase_->read(begin, n, out.purchase.data());
}

void HdfCorpusReader::check_tokens(const Sequence& s) const {
  // A damaged file must not turn into an out-of-range embedding lookup later on.
  auto check = [&](const std::vector<int32_t>& tokens, int32_t lo, int32_t size,
                   const char* channel) {
    for (int32_t t : tokens) {
      if (t < lo || t >= size) {
        corrupt(std::string("sequence ") + std::to_string(s.index) + ": " + channel + " token " +
                std::to_string(t) + " outside [" + std::to_string(lo) + ", " +
                std::to_string(size) + ")");
      }
    }
  };
  check(s.item, 1, vocab_sizes_.items, "item");
  check(s.action, 1, vocab_sizes_.actions, "action");
  check(s.category, 0, vocab_sizes_.categories, "category");
  check(s.time_gap, 1, vocab_sizes_.time_gaps, "time_gap");
  check(s.activity, 0, vocab_sizes_.activities, "activity");
}

void HdfCorpusReader::read_sequence(int64_t i, Sequence& out) const {
  CF_CHECK(i >= 0 && i < num_sequences(), "sequence index out of range");
  out.index = i;
  read_events(offsets_[i], offsets_[i + 1], out);
  check_tokens(out);
}

void HdfCorpusReader::read_sequences(int64_t first, int64_t count,
                                     std::vector<Sequence>& out) const {
  CF_CHECK(first >= 0 && count >= 0 && first + count <= num_sequences(),
           "sequence range out of bounds");
  out.resize(count);
  if (count == 0) return;
  // One hyperslab read per channel for the whole range, then split by offsets.
  Sequence all;
  const int64_t begin = offsets_[first];
  read_events(begin, offsets_[first + count], all);
  for (int64_t k = 0; k < count; ++k) {
    Sequence& s = out[k];
    s.index = first + k;
    const int64_t a = offsets_[first + k] - begin, b = offsets_[first + k + 1] - begin;
    s.item.assign(all.item.begin() + a, all.item.begin() + b);
    s.action.assign(all.action.begin() + a, all.action.begin() + b);
    s.category.assign(all.category.begin() + a, all.category.begin() + b);
    s.time_gap.assign(all.time_gap.begin() + a, all.time_gap.begin() + b);
    s.activity.assign(all.activity.begin() + a, all.activity.begin() + b);
    s.timestamp.assign(all.timestamp.begin() + a, all.timestamp.begin() + b);
    s.purchase.assign(all.purchase.begin() + a, all.purchase.begin() + b);
    check_tokens(s);
  }
}

void HdfCorpusReader::load_all() {
  if (in_memory_) return;
  EventChannels m;
  m.item = item_->read_all<int32_t>();
  m.action = action_->read_all<int32_t>();
  m.category = category_->read_all<int32_t>();
  m.time_gap = time_gap_->read_all<int32_t>();
  m.activity = activity_->read_all<int32_t>();
  m.timestamp = timestamp_->read_all<int64_t>();
  m.purchase = purchase_->read_all<int8_t>();
  in_memory_ = std::move(m);
}

std::string HdfCorpusReader::provenance_json() const {
  // Attributes that hold JSON text are embedded as JSON, so the result reads as one document.
  static const std::set<std::string> kJsonValued = {
      "source_files", "rejects_by_reason", "side_table_rejects_by_reason", "filtered_by_reason",
      "dropped_personal_columns"};
  static const std::set<std::string> kIntegers = {
      "schema_version", "rows_read",  "rows_kept",     "rows_rejected",
      "rows_filtered",  "num_events", "num_sequences", "time_split_cutoff"};
  Json out = Json::object();
  for (const auto& [name, text] : file_.attributes_as_text()) {
    if (kJsonValued.count(name)) {
      Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      out[name] = parsed.is_discarded() ? Json(text) : parsed;
    } else if (kIntegers.count(name)) {
      out[name] = file_.int_attribute(name);
    } else {
      out[name] = text;
    }
  }
  // Attribute text comes from the file and need not be UTF-8 (a damaged file, a Latin-1 file
  // name); JSON output must be, so invalid bytes become U+FFFD instead of an exception.
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::unique_ptr<CorpusReader> CorpusReader::open(const std::string& path) {
  return std::make_unique<HdfCorpusReader>(path);
}

}  // namespace cf::data
