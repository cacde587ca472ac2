#include "ranking/cooccurrence.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace cf::ranking {

namespace {
// Sorts a row by target item and sums duplicates in place. Stable, so each item's values add up
// in the order they were appended.
template <typename Value>
void compact_row(std::vector<std::pair<int32_t, Value>>& row) {
  std::stable_sort(row.begin(), row.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t out = 0;
  for (size_t i = 0; i < row.size(); ++i) {
    if (out > 0 && row[out - 1].first == row[i].first) {
      row[out - 1].second += row[i].second;
    } else {
      row[out++] = row[i];
    }
  }
  row.resize(out);
}
}  // namespace

CooccurrenceTable::CooccurrenceTable(int32_t num_items, CooccurrenceParams params)
    : num_items_(num_items), params_(params), building_(size_t(std::max(num_items, 0))) {
  CF_CHECK(num_items >= 1, "the item vocabulary must include the padding entry");
  CF_CHECK(params_.window >= 1 && params_.recent_items >= 1, "window and recent_items >= 1");
}

void CooccurrenceTable::add_sequence(const int32_t* items, int32_t length) {
  CF_CHECK(!finalized_, "add_sequence after finalize");
  const int32_t n = num_items_;
  for (int32_t p = 0; p < length; ++p) {
    const int32_t from = items[p];
    if (from <= 0 || from >= n) continue;  // padding / out of vocabulary never votes
    auto& row = building_[size_t(from)];
    for (int32_t d = 1; d <= params_.window && p + d < length; ++d) {
      const int32_t to = items[p + d];
      if (to <= 0 || to >= n) continue;
      row.emplace_back(to, 1.0 / d);  // double: long corpora sum many thirds
    }
    // Keep memory proportional to distinct pairs rather than to events on long corpora.
    if (row.size() >= 4096 && row.size() == row.capacity()) {
      compact_row(row);
      // Mostly distinct pairs: grow instead of compacting again after a few more events.
      if (row.size() * 2 > row.capacity()) row.reserve(row.capacity() * 2);
    }
  }
}

void CooccurrenceTable::finalize() {
  if (finalized_) return;
  row_start_.assign(building_.size() + 1, 0);
  for (size_t i = 0; i < building_.size(); ++i) {
    compact_row(building_[i]);
    row_start_[i + 1] = row_start_[i] + static_cast<int64_t>(building_[i].size());
  }
  column_.resize(static_cast<size_t>(row_start_.back()));
  value_.resize(column_.size());
  for (size_t i = 0; i < building_.size(); ++i) {
    int64_t at = row_start_[i];
    for (const auto& [to, w] : building_[i]) {
      column_[static_cast<size_t>(at)] = to;
      value_[static_cast<size_t>(at)] = static_cast<float>(w);
      ++at;
    }
  }
  building_.clear();
  building_.shrink_to_fit();
  finalized_ = true;
}

float CooccurrenceTable::weight(int32_t from, int32_t to) const {
  CF_CHECK(finalized_, "weight() before finalize()");
  if (from <= 0 || from >= num_items_) return 0.0f;
  auto first = column_.begin() + row_start_[size_t(from)];
  auto last = column_.begin() + row_start_[size_t(from) + 1];
  auto it = std::lower_bound(first, last, to);
  return it != last && *it == to ? value_[static_cast<size_t>(it - column_.begin())] : 0.0f;
}

int64_t CooccurrenceTable::num_pairs() const {
  CF_CHECK(finalized_, "num_pairs() before finalize()");
  return static_cast<int64_t>(column_.size());
}

void CooccurrenceTable::add_history_scores(const int32_t* history, int32_t length, float* out,
                                           std::vector<int32_t>* touched) const {
  CF_CHECK(finalized_, "scoring before finalize()");
  for (int32_t r = 1; r <= params_.recent_items && r <= length; ++r) {
    const int32_t from = history[length - r];
    if (from <= 0 || from >= num_items_) continue;
    const float recency = 1.0f / static_cast<float>(r);
    const int64_t first = row_start_[size_t(from)], last = row_start_[size_t(from) + 1];
    for (int64_t at = first; at < last; ++at) {
      out[column_[static_cast<size_t>(at)]] += recency * value_[static_cast<size_t>(at)];
    }
    if (touched) touched->insert(touched->end(), column_.begin() + first, column_.begin() + last);
  }
}

void CooccurrenceTable::history_scores(const int32_t* history, int32_t length,
                                       std::vector<std::pair<int32_t, float>>& out) const {
  CF_CHECK(finalized_, "scoring before finalize()");
  out.clear();
  // The same additions, in the same order per item, as add_history_scores, so the sparse and
  // dense forms agree to the bit.
  for (int32_t r = 1; r <= params_.recent_items && r <= length; ++r) {
    const int32_t from = history[length - r];
    if (from <= 0 || from >= num_items_) continue;
    const float recency = 1.0f / static_cast<float>(r);
    for (int64_t at = row_start_[size_t(from)]; at < row_start_[size_t(from) + 1]; ++at) {
      out.emplace_back(column_[static_cast<size_t>(at)], recency * value_[static_cast<size_t>(at)]);
    }
  }
  // Equal items keep the order of r, so each item's sum adds up as the dense form does.
  compact_row(out);
}

void CooccurrenceTable::log_prior_terms(const int32_t* history, int32_t length,
                                        std::vector<std::pair<int32_t, float>>& out) const {
  history_scores(history, length, out);
  for (auto& term : out) term.second = std::log1p(term.second);
}

void CooccurrenceTable::add_log_prior(const int32_t* history, int32_t length, float weight,
                                      float* scores,
                                      std::vector<std::pair<int32_t, float>>& scratch) const {
  if (weight == 0.0f) return;
  log_prior_terms(history, length, scratch);
  for (const auto& [item, term] : scratch) scores[item] += weight * term;
}

}  // namespace cf::ranking
