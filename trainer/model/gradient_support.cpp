#include "trainer/model/gradient_support.h"

#include <algorithm>

namespace cf::trainer {
namespace {

// A table whose gradient a pass writes row by row (the rows of the ids it sees), or whole.
struct RowTable {
  RowTable() = default;
  RowTable(int64_t table_offset, int64_t table_rows, int64_t row_width)
      : offset(table_offset), rows(table_rows), width(row_width) {}
  int64_t offset = kAbsent;
  int64_t rows = 0, width = 0;
  std::vector<int32_t> ids;
  bool whole = false;
  int64_t end() const { return offset + rows * width; }
};

void add_row_ranges(RowTable& table, std::vector<GradientRange>& out) {
  if (table.offset == kAbsent) return;
  if (table.whole) {
    out.push_back({table.offset, table.end()});
    return;
  }
  std::sort(table.ids.begin(), table.ids.end());
  table.ids.erase(std::unique(table.ids.begin(), table.ids.end()), table.ids.end());
  for (int32_t id : table.ids)
    out.push_back(
        {table.offset + int64_t(id) * table.width, table.offset + (int64_t(id) + 1) * table.width});
}

}  // namespace

std::vector<GradientRange> gradient_support(const ModelConfig& config, const ModelLayout& layout,
                                            const data::VocabSizes& vocab,
                                            const data::ItemFeatures* features,
                                            const data::Batch& batch, const LossOptions& loss) {
  const int64_t C = config.d_model;
  RowTable item{layout.item_emb, vocab.items, C};
  RowTable head_weight;  // the untied head; the tied one is `item`
  if (layout.item_head_weight != layout.item_emb)
    head_weight = RowTable(layout.item_head_weight, vocab.items, C);
  RowTable head_bias{layout.item_head_bias, vocab.items, 1};
  RowTable feature{layout.item_feature_emb, vocab.item_features, C};
  RowTable& head = head_weight.offset == kAbsent ? item : head_weight;

  // Input side: the items at real positions, and their features when those enter the input.
  const bool input_features = features && features_on_input(config.item_features);
  for (int b = 0; b < batch.B; ++b)
    for (int t = 0; t < batch.length[size_t(b)]; ++t) {
      const int32_t id = batch.item[size_t(b) * batch.T + t];
      item.ids.push_back(id);
      if (input_features)
        for (int64_t k = features->offsets[size_t(id)]; k < features->offsets[size_t(id) + 1]; ++k)
          feature.ids.push_back(features->ids[size_t(k)]);
    }

  // Output side: the item loss's head rows. A full softmax scores every item, and features on
  // the output build (and differentiate) the whole effective table; sampled losses touch the
  // targets and the candidates (the shared negatives; in-batch negatives are targets).
  if (loss.item_loss) {
    if (!loss.sampled() || features_on_output(config.item_features)) {
      head.whole = head_bias.whole = true;
      if (features_on_output(config.item_features)) feature.whole = true;
    } else {
      for (int32_t id : batch.target_item)
        if (id > 0) {
          head.ids.push_back(id);
          head_bias.ids.push_back(id);
        }
      for (int32_t id : loss.shared_negatives) {
        head.ids.push_back(id);
        head_bias.ids.push_back(id);
      }
    }
  }

  std::vector<GradientRange> ranges;
  std::vector<GradientRange> table_spans;
  for (RowTable* table : {&item, &head_weight, &head_bias, &feature}) {
    if (table->offset == kAbsent) continue;
    table_spans.push_back({table->offset, table->end()});
    add_row_ranges(*table, ranges);
  }
  // Every element outside the row tables is counted whole.
  std::sort(table_spans.begin(), table_spans.end(),
            [](const GradientRange& a, const GradientRange& b) { return a.begin < b.begin; });
  int64_t dense_begin = 0;
  for (const GradientRange& span : table_spans) {
    if (span.begin > dense_begin) ranges.push_back({dense_begin, span.begin});
    dense_begin = std::max(dense_begin, span.end);
  }
  if (layout.num_params > dense_begin) ranges.push_back({dense_begin, layout.num_params});

  std::sort(ranges.begin(), ranges.end(),
            [](const GradientRange& a, const GradientRange& b) { return a.begin < b.begin; });
  std::vector<GradientRange> merged;
  for (const GradientRange& r : ranges) {
    if (r.end <= r.begin) continue;
    if (!merged.empty() && r.begin <= merged.back().end)
      merged.back().end = std::max(merged.back().end, r.end);
    else
      merged.push_back(r);
  }
  return merged;
}

}  // namespace cf::trainer
