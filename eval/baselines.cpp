#include "eval/baselines.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace cf::eval {

namespace {
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
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
    : backoff_(item_counts.size()), table_(static_cast<int32_t>(item_counts.size()), params) {
  int64_t max_count = 0;
  for (int64_t c : item_counts) max_count = std::max(max_count, c);
  const double epsilon = 1e-3 / (static_cast<double>(params.window) * params.recent_items);
  const float scale = static_cast<float>(epsilon / (1.0 + static_cast<double>(max_count)));
  for (size_t j = 0; j < item_counts.size(); ++j)
    backoff_[j] = scale * static_cast<float>(item_counts[j]);
  backoff_[0] = kMinusInf;
}

void CooccurrenceBaseline::score(const int32_t* history, int32_t length, float* out) const {
  std::copy(backoff_.begin(), backoff_.end(), out);
  table_.add_history_scores(history, length, out);
}

void CooccurrenceBaseline::change(const int32_t* history, int32_t length, float* row,
                                  std::vector<int32_t>& changed) const {
  changed.clear();
  table_.add_history_scores(history, length, row, &changed);
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
}

Json CooccurrenceBaseline::describe() const {
  return Json{
      {"counts", "C[i][j] = sum over training events p and gaps d in 1..window with "
                 "item[p]=i, item[p+d]=j of 1/d"},
      {"score", "sum over the last recent_items history events r=1.. of (1/r)*C[h_r][j] + "
                "1e-3/(window*recent_items) * count[j]/(1+max count)"},
      {"window", params().window},
      {"recent_items", params().recent_items},
      {"nonzero_pairs", num_pairs()}};
}

}  // namespace cf::eval
