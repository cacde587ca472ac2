#include "trainer/model/gradient_support.h"

#include <algorithm>

namespace cf::trainer {
namespace {

bool by_begin(const GradientRange& a, const GradientRange& b) { return a.begin < b.begin; }

// Appends `r` to ascending `out`, joining it to the last range when they overlap or touch.
void append_merged(std::vector<GradientRange>& out, const GradientRange& r) {
  if (r.end <= r.begin) return;
  if (!out.empty() && r.begin <= out.back().end)
    out.back().end = std::max(out.back().end, r.end);
  else
    out.push_back(r);
}

// Sorts `ranges` and joins the ones that overlap or touch.
void sort_and_merge(std::vector<GradientRange>& ranges) {
  std::sort(ranges.begin(), ranges.end(), by_begin);
  std::vector<GradientRange> merged;
  merged.reserve(ranges.size());
  for (const GradientRange& r : ranges) append_merged(merged, r);
  ranges.swap(merged);
}

}  // namespace

GradientSupport::GradientSupport(const ModelConfig& config, const ModelLayout& layout,
                                 const data::VocabSizes& vocab, const data::ItemFeatures* features)
    : config_(config), features_(features), num_params_(layout.num_params) {
  const int64_t C = config.d_model;
  item_ = {layout.item_emb, C, vocab.items};
  head_ = {layout.item_head_weight, C, vocab.items};  // == item_ when tied
  head_bias_ = {layout.item_head_bias, 1, vocab.items};
  feature_ = {layout.item_feature_emb, C, vocab.item_features};
}

void GradientSupport::add_rows(const Table& table, int32_t id) {
  own_.push_back(
      {table.offset + int64_t(id) * table.width, table.offset + (int64_t(id) + 1) * table.width});
}

// What every pass under `loss` writes whatever its batch: every element outside the row
// tables; on the output side a full softmax's whole head (every item is scored), features on
// the output side's whole head and feature tables (the effective table is built and
// differentiated whole), or a sampled loss's rows of the shared candidates (in-batch
// negatives are targets, which of() adds).
void GradientSupport::build_shared(const LossOptions& loss) {
  shared_.clear();
  std::vector<GradientRange> spans;
  for (const Table* t : {&item_, &head_, &head_bias_, &feature_})
    if (t->offset != kAbsent) spans.push_back({t->offset, t->end()});
  sort_and_merge(spans);
  int64_t dense_begin = 0;
  for (const GradientRange& span : spans) {
    if (span.begin > dense_begin) shared_.push_back({dense_begin, span.begin});
    dense_begin = std::max(dense_begin, span.end);
  }
  if (num_params_ > dense_begin) shared_.push_back({dense_begin, num_params_});

  const bool output_features = features_on_output(config_.item_features);
  head_rows_per_batch_ = false;
  if (loss.item_loss) {
    if (!loss.sampled() || output_features) {
      shared_.push_back({head_.offset, head_.end()});
      shared_.push_back({head_bias_.offset, head_bias_.end()});
      if (output_features) shared_.push_back({feature_.offset, feature_.end()});
    } else {
      head_rows_per_batch_ = true;
      for (const int32_t id : loss.shared_negatives) {
        shared_.push_back({head_.offset + int64_t(id) * head_.width,
                           head_.offset + (int64_t(id) + 1) * head_.width});
        shared_.push_back({head_bias_.offset + id, head_bias_.offset + id + 1});
      }
    }
  }
  sort_and_merge(shared_);
  built_ = true;
  built_item_loss_ = loss.item_loss;
  built_sampled_ = loss.sampled();
  built_negatives_ = loss.shared_negatives;
}

const std::vector<GradientRange>& GradientSupport::of(const data::Batch& batch,
                                                      const LossOptions& loss) {
  if (!built_ || built_item_loss_ != loss.item_loss || built_sampled_ != loss.sampled() ||
      built_negatives_ != loss.shared_negatives)
    build_shared(loss);

  // The batch's own rows: its items at real positions (and their features when those enter
  // the input), and under a sampled loss its targets' head rows.
  own_.clear();
  const bool input_features = features_ && features_on_input(config_.item_features);
  for (int b = 0; b < batch.B; ++b)
    for (int t = 0; t < batch.length[size_t(b)]; ++t) {
      const int32_t id = batch.item[size_t(b) * batch.T + t];
      add_rows(item_, id);
      if (input_features)
        for (int64_t k = features_->offsets[size_t(id)]; k < features_->offsets[size_t(id) + 1];
             ++k)
          add_rows(feature_, features_->ids[size_t(k)]);
    }
  if (head_rows_per_batch_)
    for (const int32_t id : batch.target_item)
      if (id > 0) {
        add_rows(head_, id);
        add_rows(head_bias_, id);
      }
  sort_and_merge(own_);

  // One linear merge of the two ascending lists.
  merged_.clear();
  size_t i = 0, j = 0;
  while (i < shared_.size() || j < own_.size()) {
    const bool take_shared =
        j == own_.size() || (i < shared_.size() && shared_[i].begin <= own_[j].begin);
    append_merged(merged_, take_shared ? shared_[i++] : own_[j++]);
  }
  return merged_;
}

std::vector<GradientRange> gradient_support(const ModelConfig& config, const ModelLayout& layout,
                                            const data::VocabSizes& vocab,
                                            const data::ItemFeatures* features,
                                            const data::Batch& batch, const LossOptions& loss) {
  GradientSupport support(config, layout, vocab, features);
  return support.of(batch, loss);
}

}  // namespace cf::trainer
