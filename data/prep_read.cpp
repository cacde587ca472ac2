#include "data/prep_read.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "data/corpus_layout.h"

namespace cf::data::prep_detail {
namespace {

// Rows handed from the parsing thread to the interning thread: the five strings of each row
// packed into one buffer (RawEvent's fields are reused by the reader on every call).
struct RowBatch {
  static constexpr size_t kRows = 8192;
  static constexpr int kFields = 5;  // user, item, category, activity, item features
  std::string text;
  std::vector<uint32_t> ends;  // kFields per row: the end offset of each field
  std::vector<int8_t> action, purchase;
  std::vector<int64_t> timestamp;
  std::vector<double> price;  // NaN when the source has none
  int64_t expected_rows = 0;  // estimate of all rows of all sources, from bytes per row so far
  // The reader all rows came from, and whether it leaves category, features and price to
  // join_item (RawLogReader::joins_items_on_request).
  size_t reader = 0;
  bool joined_on_request = false;

  size_t rows() const { return action.size(); }
  void clear() {
    expected_rows = 0;
    reader = 0;
    joined_on_request = false;
    text.clear();
    ends.clear();
    action.clear();
    purchase.clear();
    timestamp.clear();
    price.clear();
  }
  void add(const RawEvent& e, int8_t action_id, int8_t purchase_flag) {
    for (const std::string* field :
         {&e.user, &e.item, &e.category, &e.activity, &e.item_features}) {
      text.append(*field);
      ends.push_back(static_cast<uint32_t>(text.size()));
    }
    action.push_back(action_id);
    purchase.push_back(purchase_flag);
    timestamp.push_back(e.timestamp);
    price.push_back(e.price);
  }
  std::string_view field(size_t row, int k) const {
    const size_t i = row * kFields + k;
    const uint32_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(text.data() + begin, ends[i] - begin);
  }
};

// A fixed pool of batches cycling between the two threads; either side can stop the other.
class BatchPipe {
 public:
  explicit BatchPipe(int batches) {
    for (int i = 0; i < batches; ++i) free_.push_back(std::make_unique<RowBatch>());
  }
  // Producer: an empty batch, or nullptr once the consumer has stopped.
  std::unique_ptr<RowBatch> take_free() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !free_.empty() || stopped_; });
    if (stopped_) return nullptr;
    auto batch = std::move(free_.front());
    free_.pop_front();
    return batch;
  }
  void put_full(std::unique_ptr<RowBatch> batch) {
    std::lock_guard<std::mutex> lock(mutex_);
    full_.push_back(std::move(batch));
    changed_.notify_all();
  }
  // Consumer: the next filled batch, or nullptr when the producer is finished.
  std::unique_ptr<RowBatch> take_full() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !full_.empty() || finished_ || stopped_; });
    if (full_.empty()) return nullptr;
    auto batch = std::move(full_.front());
    full_.pop_front();
    return batch;
  }
  void put_free(std::unique_ptr<RowBatch> batch) {
    batch->clear();
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(batch));
    changed_.notify_all();
  }
  void finish() {  // producer: no more batches
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
    changed_.notify_all();
  }
  void stop() {  // consumer: give up (an exception is unwinding)
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<RowBatch>> free_, full_;
  bool finished_ = false, stopped_ = false;
};

const int8_t kBuyToken = action_token("buy");

// Whether some feature token of `features` (kItemFeatureSeparator between tokens) is longer
// than an id may be: each token becomes a vocabulary entry, so the same width limit applies.
bool has_overlong_feature(std::string_view features) {
  if (features.size() <= kMaxIdBytes) return false;  // the usual case: no token can be longer
  size_t start = 0;
  while (start <= features.size()) {
    size_t end = features.find(kItemFeatureSeparator, start);
    if (end == std::string_view::npos) end = features.size();
    if (end - start > kMaxIdBytes) return true;
    start = end + 1;
  }
  return false;
}

// Why prep refuses an event a reader accepted, or nullptr: readers check their format, these
// checks guard what the corpus needs whatever the format.
const char* event_problem(const RawEvent& event, int8_t action) {
  if (event.user.empty()) return "empty_user";
  if (event.item.empty()) return "empty_item";
  if (action == 0) return "unknown_action";
  if (event.user.size() > kMaxIdBytes) return "user_too_long";
  if (event.item.size() > kMaxIdBytes) return "item_too_long";
  if (event.category.size() > kMaxIdBytes) return "category_too_long";
  if (event.activity.size() > kMaxIdBytes) return "activity_too_long";
  if (has_overlong_feature(event.item_features)) return "item_feature_too_long";
  // User ids are stored only as keyed hashes, so any bytes will do for them.
  if (!layout::is_storable_vocab_entry(event.item)) return "item_not_utf8";
  if (!layout::is_storable_vocab_entry(event.category)) return "category_not_utf8";
  if (!layout::is_storable_vocab_entry(event.activity)) return "activity_not_utf8";
  // The separator is ASCII and never inside a multibyte character, so the whole string is
  // valid UTF-8 exactly when each of its tokens is.
  if (!layout::is_storable_vocab_entry(event.item_features)) return "item_feature_not_utf8";
  if (event.timestamp < kMinEventTime || event.timestamp > kMaxEventTime) {
    return "timestamp_out_of_range";
  }
  return nullptr;
}

// The parsing side: runs every reader to the end, validating and packing rows.
void produce(const PrepOptions& options, std::vector<std::unique_ptr<RawLogReader>>& readers,
             uint64_t bytes_total, const PrepProgress& progress, RejectTally& tally,
             BatchPipe& pipe, int64_t& rows_read) {
  RawEvent event;
  uint64_t bytes_done_before = 0;
  int64_t rows_before = 0;
  std::unique_ptr<RowBatch> batch = pipe.take_free();
  // Hands the batch on when it holds rows and readies an empty one for reader r's rows (a batch
  // holds the rows of one reader); false once the consumer has stopped.
  auto batch_for_reader = [&](size_t r) {
    if (batch->rows() > 0) {
      pipe.put_full(std::move(batch));
      batch = pipe.take_free();
      if (!batch) return false;
    }
    batch->reader = r;
    batch->joined_on_request = readers[r]->joins_items_on_request();
    return true;
  };
  for (size_t r = 0; r < readers.size() && batch; ++r) {
    RawLogReader& reader = *readers[r];
    if (!batch_for_reader(r)) return;
    int64_t since_progress = 0;
    while (reader.next(event)) {
      if (++since_progress == 16384) {
        since_progress = 0;
        if (progress) {
          progress(bytes_done_before + reader.bytes_read(), bytes_total,
                   rows_before + reader.rows_read());
        }
      }
      const int8_t action = action_token(event.action);
      if (const char* problem = event_problem(event, action)) {
        const auto files = reader.source_files();
        tally.add(
            RowReject{problem, files.empty() ? options.sources[r].path : files[0], event.line},
            false);
        continue;
      }
      batch->add(event, action, action == kBuyToken || event.purchase_label > 0 ? 1 : 0);
      if (batch->rows() == RowBatch::kRows) {
        const uint64_t bytes_done = bytes_done_before + reader.bytes_read();
        if (bytes_done > 0) {
          const double rows_done = double(rows_before + reader.rows_read());
          // A row takes at least two bytes ("a\n"), which caps a wild early estimate.
          batch->expected_rows = static_cast<int64_t>(
              std::min(rows_done * double(bytes_total) / double(bytes_done), bytes_total / 2.0));
        }
        if (!batch_for_reader(r)) return;
      }
    }
    bytes_done_before += reader.bytes_total();
    rows_before += reader.rows_read();
  }
  if (batch && batch->rows() > 0) pipe.put_full(std::move(batch));
  rows_read = rows_before;
  if (progress) progress(bytes_total, bytes_total, rows_before);
}

// Records the features of a provisional item seen for the first time (the next id, as the
// interner assigns them in order): its distinct feature tokens as provisional feature ids.
void record_first_item_features(std::string_view features, ReadResult& result) {
  std::vector<int32_t>& ids = result.item_feature_ids;
  const size_t first = ids.size();
  size_t start = 0;
  while (start < features.size()) {
    size_t end = features.find(kItemFeatureSeparator, start);
    if (end == std::string_view::npos) end = features.size();
    if (end > start) {  // an empty token (a doubled separator) is nothing
      const int32_t id = result.item_features.intern(features.substr(start, end - start));
      // Items carry a handful of features: a linear scan beats any set.
      if (std::find(ids.begin() + static_cast<std::ptrdiff_t>(first), ids.end(), id) == ids.end()) {
        ids.push_back(id);
      }
    }
    start = end + 1;
  }
  result.item_feature_offsets.push_back(static_cast<int64_t>(ids.size()));
}

}  // namespace

int8_t action_token(const std::string& name) {
  const auto& names = canonical_actions();
  for (size_t i = 1; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int8_t>(i);
  }
  return 0;
}

void read_sources(const PrepOptions& options, const RawLogOpener& open,
                  const PrepProgress& progress, RejectTally& tally, ReadResult& result) {
  bool opening = true;  // rejects while opening come from side tables
  RejectSink sink = [&tally, &opening](const RowReject& r) { tally.add(r, opening); };
  std::vector<std::unique_ptr<RawLogReader>>& readers = result.readers;
  uint64_t bytes_total = 0;
  for (const auto& spec : options.sources) {
    readers.push_back(open(spec, sink));
    bytes_total += readers.back()->bytes_total();
    for (const auto& f : readers.back()->source_files()) result.source_files.push_back(f);
  }
  opening = false;  // from here on the tally is touched only by the producer thread

  BatchPipe pipe(4);
  std::exception_ptr producer_error;
  std::thread producer([&] {
    try {
      produce(options, readers, bytes_total, progress, tally, pipe, result.rows_read);
    } catch (...) {
      producer_error = std::current_exception();
    }
    pipe.finish();
  });
  // Whatever happens below, the producer is stopped and joined before this frame unwinds.
  struct JoinOnExit {
    BatchPipe& pipe;
    std::thread& thread;
    ~JoinOnExit() {
      pipe.stop();
      thread.join();
    }
  } join_on_exit{pipe, producer};

  RawColumns& c = result.columns;
  constexpr int32_t kNoCategoryYet = -2;
  std::vector<int32_t> category_of_item;
  // Readers that join on request: per reader, what join_item gave for each provisional item
  // (an index into `joins`, -1 before the item's first row from that reader).
  struct JoinedItem {
    std::string category, features;
    double price = 0.0;
  };
  std::vector<JoinedItem> joins;
  std::vector<std::vector<int32_t>> join_of_item(readers.size());
  auto joined = [&](size_t reader, int32_t item, std::string_view item_text) -> const JoinedItem& {
    std::vector<int32_t>& slots = join_of_item[reader];
    if (static_cast<size_t>(item) >= slots.size()) slots.resize(static_cast<size_t>(item) + 1, -1);
    int32_t& slot = slots[static_cast<size_t>(item)];
    if (slot < 0) {
      JoinedItem j;
      readers[reader]->join_item(item_text, j.category, j.features, j.price);
      slot = static_cast<int32_t>(joins.size());
      joins.push_back(std::move(j));
    }
    return joins[static_cast<size_t>(slot)];
  };
  std::string last_user;
  int32_t last_user_id = -1;
  bool reserved = false;
  while (auto batch = pipe.take_full()) {
    if (!reserved && batch->expected_rows > 0) {
      // One allocation per column instead of repeated doubling (which would briefly hold
      // 1.5x the final size and copy everything several times).
      const size_t n = static_cast<size_t>(batch->expected_rows * 1.02) + RowBatch::kRows;
      c.user.reserve(n);
      c.item.reserve(n);
      c.category.reserve(n);
      c.activity.reserve(n);
      c.action.reserve(n);
      c.purchase.reserve(n);
      c.timestamp.reserve(n);
      reserved = true;
    }
    const size_t rows = batch->rows();
    for (size_t i = 0; i < rows; ++i) {
      // Logs are usually grouped or bursty by user: skip the hash lookup on a repeat.
      const std::string_view user = batch->field(i, 0);
      if (last_user_id < 0 || user != last_user) {
        last_user_id = result.users.intern(user);
        last_user.assign(user);
      }
      std::string_view category = batch->field(i, 2), features = batch->field(i, 4);
      const std::string_view activity = batch->field(i, 3), item_text = batch->field(i, 1);
      const int32_t item = result.items.intern(item_text);
      double price = batch->price[i];
      if (batch->joined_on_request) {  // the row's side information, as next() would have set it
        const JoinedItem& j = joined(batch->reader, item, item_text);
        category = j.category;
        features = j.features;
        price = j.price;
      }
      if (static_cast<size_t>(item) + 1 == result.item_feature_offsets.size()) {
        record_first_item_features(features, result);  // prep keeps the first row's
      }
      // An item's category is almost always the same on every row (it comes from a catalog),
      // so the category last seen with the item is checked first: one short compare instead
      // of a hash-table probe.
      if (static_cast<size_t>(item) >= category_of_item.size()) {
        category_of_item.resize(static_cast<size_t>(item) + 1, kNoCategoryYet);
      }
      int32_t& known = category_of_item[item];
      const bool same =
          known == -1 ? category.empty() : known >= 0 && result.categories.at(known) == category;
      if (!same) known = category.empty() ? -1 : result.categories.intern(category);
      c.user.push_back(last_user_id);
      c.item.push_back(item);
      c.category.push_back(known);
      c.activity.push_back(activity.empty() ? -1 : result.activities.intern(activity));
      if (std::isfinite(price)) {
        if (static_cast<size_t>(item) >= result.item_price_count.size()) {
          result.item_price_count.resize(static_cast<size_t>(item) + 1, 0);
          result.item_price_sum.resize(static_cast<size_t>(item) + 1, 0.0);
        }
        ++result.item_price_count[item];
        result.item_price_sum[item] += price;
      }
    }
    c.action.insert(c.action.end(), batch->action.begin(), batch->action.end());
    c.purchase.insert(c.purchase.end(), batch->purchase.begin(), batch->purchase.end());
    c.timestamp.insert(c.timestamp.end(), batch->timestamp.begin(), batch->timestamp.end());
    pipe.put_free(std::move(batch));
  }
  if (producer_error) std::rethrow_exception(producer_error);
}

}  // namespace cf::data::prep_detail
