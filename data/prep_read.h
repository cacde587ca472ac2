// Prep stage 1 (private to prep): streams raw sources into compact id columns, tallying rejects.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/prep_types.h"
#include "data/string_interner.h"

namespace cf::data::prep_detail {

// Rows of side tables (trio's item_data.csv, an item-attributes file), which readers load
// while being opened, are tallied apart from event rows: the reject fraction is a property of
// the event stream, and rows_read counts event rows only.
class RejectTally {
 public:
  explicit RejectTally(int max_examples) : max_examples_(max_examples) {}
  void add(const RowReject& reject, bool side_table) {
    ++(side_table ? side_counts_ : counts_)[reject.reason];
    if (!side_table && total_++ == 0) first_event_reject_ = reject;
    if (static_cast<int>(examples_.size()) < max_examples_) examples_.push_back(reject);
  }
  int64_t total() const { return total_; }  // event rows only
  const std::vector<RowReject>& examples() const { return examples_; }
  const std::optional<RowReject>& first_event_reject() const { return first_event_reject_; }
  std::vector<std::pair<std::string, int64_t>> by_reason() const { return sorted(counts_); }
  std::vector<std::pair<std::string, int64_t>> side_table_by_reason() const {
    return sorted(side_counts_);
  }

 private:
  // Most frequent first; ties by name so the order is stable.
  static std::vector<std::pair<std::string, int64_t>> sorted(
      const std::map<std::string, int64_t>& counts) {
    std::vector<std::pair<std::string, int64_t>> out(counts.begin(), counts.end());
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    return out;
  }
  int max_examples_;
  int64_t total_ = 0;
  std::map<std::string, int64_t> counts_, side_counts_;
  std::vector<RowReject> examples_;
  std::optional<RowReject> first_event_reject_;
};

// Events in input order, as provisional dense ids (first-appearance order per interner).
// About 26 bytes per event, so 10M events take ~260 MB.
struct RawColumns {
  std::vector<int32_t> user, item, category, activity;  // category/activity: -1 = none
  std::vector<int8_t> action, purchase;
  std::vector<int64_t> timestamp;
  size_t size() const { return user.size(); }
};

struct ReadResult {
  RawColumns columns;
  StringInterner users, items, categories, activities;
  // The item features of each provisional item id (those of the first row that carried it), in
  // CSR form over provisional item ids: item i has the provisional feature ids (of the
  // item_features interner) item_feature_ids[item_feature_offsets[i], [i + 1]), all distinct.
  StringInterner item_features;
  std::vector<int64_t> item_feature_offsets{0};
  std::vector<int32_t> item_feature_ids;
  // The readers, still open after reading: prep asks them about their item tables.
  std::vector<std::unique_ptr<RawLogReader>> readers;
  int64_t rows_read = 0;
  std::vector<std::string> source_files;
  // Prices seen per provisional item id (rows with a price only): the corpus keeps the mean.
  std::vector<double> item_price_sum;
  std::vector<int64_t> item_price_count;
};

// Opens every source (rejects reported meanwhile are side-table rejects), then reads all
// rows. Parsing runs on a second thread while this one interns ids, so the two halves of the
// work overlap. Reader errors are rethrown here.
void read_sources(const PrepOptions& options, const RawLogOpener& open,
                  const PrepProgress& progress, RejectTally& tally, ReadResult& result);

// Action token of a canonical action name (1..4), 0 when unknown.
int8_t action_token(const std::string& name);

}  // namespace cf::data::prep_detail
