// RawEvent and RawLogReader: the contract between the per-format readers and prep.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cf::data {

// Canonical action names every reader maps its source's behaviour types onto.
// Token ids in the corpus follow this order (0 is padding): view=1, fav=2, cart=3, buy=4.
inline const std::vector<std::string>& canonical_actions() {
  static const std::vector<std::string> names = {"<pad>", "view", "fav", "cart", "buy"};
  return names;
}

inline constexpr char kItemFeatureSeparator = '\x1f';  // ASCII unit separator

// One row of a raw log after parsing and (for the trio format) joining side tables.
// Fields are reused between calls to RawLogReader::next() to avoid allocation per row.
struct RawEvent {
  std::string user;      // raw user id, or session id for session logs (pseudonymised by prep)
  std::string item;      // raw item id
  std::string category;  // raw category id; empty when the source has none
  std::string action;    // one of canonical_actions() (never "<pad>")
  std::string activity;  // campaign / coupon id; empty when none
  // Side information about the item (attribute ids, category, brand) as feature tokens such as
  // "attr:17" or "brand:acme", separated by kItemFeatureSeparator; empty when none. prep keeps
  // the features of each item's first row.
  std::string item_features;
  int64_t timestamp = 0;  // unix seconds; for order-only sources the row's ordinal within its user
  double price = std::numeric_limits<double>::quiet_NaN();  // NaN when unknown
  int purchase_label = -1;  // per-row purchase flag where the source has one (trio format), else -1
  int64_t line = 0;         // 1-based line number in `source_file`, for messages
};

// A rejected row: counted by reason; the first few are printed as examples by prep. It names
// the row only by file and line: its text holds user ids and perhaps personal columns, which
// must never reach any output.
struct RowReject {
  std::string reason;  // short stable key, e.g. "wrong_field_count", "bad_timestamp", "unknown_action"
  std::string file;
  int64_t line = 0;
};
using RejectSink = std::function<void(const RowReject&)>;

// Streams events from one raw source. Readers never hold the whole file in memory.
// Malformed rows go to the reject sink and are skipped; I/O failures and structurally wrong
// files (missing header, unreadable file) throw cf::UserError naming the file.
class RawLogReader {
 public:
  virtual ~RawLogReader() = default;
  // Fills `event` with the next good row; returns false at end of input.
  virtual bool next(RawEvent& event) = 0;
  // Bytes consumed so far and total bytes, for progress (rate and ETA) on large inputs.
  virtual uint64_t bytes_read() const = 0;
  virtual uint64_t bytes_total() const = 0;
  // Data rows seen so far, good or rejected (header lines excluded).
  virtual int64_t rows_read() const = 0;
  // Source files this reader consumes (recorded as provenance in the corpus).
  virtual std::vector<std::string> source_files() const = 0;

  // The item side table whose coverage prep checks, or "" when there is none to check: the
  // user_item(s) item-attributes file, which is given apart from the log, so the attributes
  // of another data set are an easy mistake that would otherwise pass silently (items that
  // happen to share ids get wrong features, the rest none).
  virtual std::string checked_item_table() const { return ""; }
  // Whether that table lists `item` (listed with an empty attribute list counts as listed).
  virtual bool item_table_lists(std::string_view /*item*/) const { return false; }

  // A reader that joins each row with an item table may leave the rows' category,
  // item_features and price unset (empty, empty, NaN) and let prep ask join_item once per
  // distinct item instead of looking the item up on every row (most of the parsing thread's
  // time on a large log). It says so here, and only when join_item gives exactly what next()
  // would have put in every row of the item. join_item runs on prep's other thread while next()
  // runs: it may read only what the constructor built.
  virtual bool joins_items_on_request() const { return false; }
  virtual void join_item(std::string_view /*item*/, std::string& category, std::string& features,
                         double& price) const {
    category.clear();
    features.clear();
    price = std::numeric_limits<double>::quiet_NaN();
  }
};

// The input formats prep understands (docs/corpus-format.md lists what each maps to).
enum class RawFormat {
  kTrio,        // behavior_data.csv + item_data.csv + activity_data.csv (synth's output)
  kTaobao,      // UserBehavior.csv: user,item,category,behavior,ts
  kRees46,      // event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
  kUserItem,    // "user item" lines (BERT4Rec / SASRec)
  kUserItems,   // "user item item ..." lines (S3-Rec), optional item-attributes JSON
  kYoochoose,   // SessionId ItemId Time (TSV with header)
  kDiginetica,  // session_id;user_id;item_id;timeframe;eventdate
};

// Parses "trio", "taobao", "rees46", "user_item", "user_items", "yoochoose", "diginetica".
RawFormat parse_raw_format(const std::string& name);  // throws UserError listing valid names
std::string raw_format_name(RawFormat format);

struct RawSourceSpec {
  RawFormat format = RawFormat::kTrio;
  std::string path;             // the main file; for kTrio the folder holding the three CSVs
  std::string item_attributes;  // kUserItems: optional item-attributes JSON ({"item": [attr ids]})
  std::vector<std::string> personal_columns;  // header columns to drop (email, phone, ...)
};

// Opens the right reader for `spec`. Throws UserError if a file is missing or its header is wrong.
std::unique_ptr<RawLogReader> open_raw_log(const RawSourceSpec& spec, RejectSink rejects);

}  // namespace cf::data
