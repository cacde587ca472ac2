// The support of one forward_backward's gradient: every element of the flat gradient buffer
// that the pass may write, given its batch and loss. Everything outside stays exactly as it
// was. DP-SGD (trainer/privacy/dp_sgd.h) uses it to take a user's norm, clip and sum over the
// rows that user touched instead of the whole buffer: for an item catalogue of 50k rows a
// user's pass touches its own items, its targets and the step's sampled candidates, a few
// percent of the model, and the result is the same, exactly.
//
// The tables whose rows a pass touches by token id are item_emb, the untied item_head.weight,
// item_head.bias and item_feature_emb. Every other tensor (blocks, small embedding tables,
// action/propensity heads, ln_f) is counted whole. A full-softmax item loss, or item features
// on the output side, touches the whole head (and feature) table.
#pragma once
#include <cstdint>
#include <vector>

#include "data/batch.h"
#include "data/corpus.h"
#include "trainer/model/model_layout.h"
#include "trainer/model/model_types.h"

namespace cf::trainer {

struct GradientRange {
  int64_t begin = 0, end = 0;  // [begin, end) in elements of the flat buffer
};

// The support of one model's passes. The part every pass under the same item loss and shared
// candidates writes (the dense tensors, whole tables, the candidates' rows) is kept between
// calls, so during a DP-SGD step a user's call costs its own rows plus one linear merge.
class GradientSupport {
 public:
  // `features`: the model's item features (null when model.item_features is none).
  GradientSupport(const ModelConfig& config, const ModelLayout& layout,
                  const data::VocabSizes& vocab, const data::ItemFeatures* features);
  // Ascending, disjoint, non-adjacent ranges covering every element forward_backward(batch,
  // loss) can write; valid until the next call.
  const std::vector<GradientRange>& of(const data::Batch& batch, const LossOptions& loss);

 private:
  struct Table {
    int64_t offset = kAbsent, width = 0, rows = 0;
    int64_t end() const { return offset + rows * width; }
  };
  void build_shared(const LossOptions& loss);
  void add_rows(const Table& table, int32_t id);

  const ModelConfig config_;
  const data::ItemFeatures* features_;
  int64_t num_params_ = 0;
  Table item_, head_, head_bias_, feature_;  // head_ is item_ when the head is tied
  // The cache key of shared_: the loss settings it was built for.
  bool built_ = false, built_item_loss_ = false, built_sampled_ = false;
  std::vector<int32_t> built_negatives_;
  bool head_rows_per_batch_ = false;  // a sampled item loss touching the targets' head rows
  std::vector<GradientRange> shared_, own_, merged_;
};

// GradientSupport(...).of(batch, loss), for a single call.
std::vector<GradientRange> gradient_support(const ModelConfig& config, const ModelLayout& layout,
                                            const data::VocabSizes& vocab,
                                            const data::ItemFeatures* features,
                                            const data::Batch& batch, const LossOptions& loss);

}  // namespace cf::trainer
