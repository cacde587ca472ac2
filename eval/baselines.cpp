#include "eval/baselines.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace cf::eval {

namespace {
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// Sorts a row by target item and sums duplicates in place.
void compact_row(std::vector<std::pair<int32_t, double>>& row) {
  std::sort(row.begin(), row.end(),
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

PopularityBaseline::PopularityBaseline(const std::vector<int64_t>& item_counts)
    : scores_(item_counts.size()) {
  CF_CHECK(!item_counts.empty(), "item_counts must include the padding entry");
  for (size_t j = 0; j < item_counts.size(); ++j) scores_[j] = static_cast<float>(item_counts[j]);
  scores_[0] = kMinusInf;
}

void PopularityBaseline::score(const int32_t*, int32_t, float* out) const {
  std::copy(scores_.begin(), scores_.end(), out);
}

Json PopularityBaseline::describe() const {
  return Json{{"score", "training occurrences of the item (corpus item_counts)"}};
}

CooccurrenceBaseline::CooccurrenceBaseline(const std::vector<int64_t>& item_counts,
                                           CooccurrenceParams params)
    : params_(params), counts_(item_counts), building_(item_counts.size()) {
  CF_CHECK(!item_counts.empty(), "item_counts must include the padding entry");
  CF_CHECK(params_.window >= 1 && params_.recent_items >= 1, "window and recent_items >= 1");
  int64_t max_count = 0;
  for (int64_t c : counts_) max_count = std::max(max_count, c);
  const double epsilon = 1e-3 / (static_cast<double>(params_.window) * params_.recent_items);
  backoff_scale_ = static_cast<float>(epsilon / (1.0 + static_cast<double>(max_count)));
}

void CooccurrenceBaseline::add_sequence(const int32_t* items, int32_t length) {
  CF_CHECK(!finalized_, "add_sequence after finalize");
  const int32_t n = num_items();
  for (int32_t p = 0; p < length; ++p) {
    const int32_t from = items[p];
    if (from <= 0 || from >= n) continue;  // padding / out of vocabulary never votes
    auto& row = building_[from];
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

void CooccurrenceBaseline::finalize() {
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

float CooccurrenceBaseline::weight(int32_t from, int32_t to) const {
  CF_CHECK(finalized_, "weight() before finalize()");
  if (from <= 0 || from >= num_items()) return 0.0f;
  auto first = column_.begin() + row_start_[from];
  auto last = column_.begin() + row_start_[from + 1];
  auto it = std::lower_bound(first, last, to);
  return it != last && *it == to ? value_[static_cast<size_t>(it - column_.begin())] : 0.0f;
}

int64_t CooccurrenceBaseline::num_pairs() const {
  CF_CHECK(finalized_, "num_pairs() before finalize()");
  return static_cast<int64_t>(column_.size());
}

void CooccurrenceBaseline::score(const int32_t* history, int32_t length, float* out) const {
  CF_CHECK(finalized_, "score() before finalize()");
  const int32_t n = num_items();
  for (int32_t j = 0; j < n; ++j) out[j] = backoff_scale_ * static_cast<float>(counts_[j]);
  for (int32_t r = 1; r <= params_.recent_items && r <= length; ++r) {
    const int32_t from = history[length - r];
    if (from <= 0 || from >= n) continue;
    const float recency = 1.0f / static_cast<float>(r);
    for (int64_t at = row_start_[from]; at < row_start_[from + 1]; ++at) {
      out[column_[static_cast<size_t>(at)]] += recency * value_[static_cast<size_t>(at)];
    }
  }
  out[0] = kMinusInf;
}

Json CooccurrenceBaseline::describe() const {
  return Json{
      {"counts", "C[i][j] = sum over training events p and gaps d in 1..window with "
                 "item[p]=i, item[p+d]=j of 1/d"},
      {"score", "sum over the last recent_items history events r=1.. of (1/r)*C[h_r][j] + "
                "1e-3/(window*recent_items) * count[j]/(1+max count)"},
      {"window", params_.window},
      {"recent_items", params_.recent_items},
      {"nonzero_pairs", finalized_ ? num_pairs() : int64_t{0}}};
}

}  // namespace cf::eval
