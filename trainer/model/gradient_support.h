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

// Ascending, disjoint, non-adjacent ranges covering every element forward_backward(batch, loss)
// can write. `features` is the model's item features (null when model.item_features is none).
std::vector<GradientRange> gradient_support(const ModelConfig& config, const ModelLayout& layout,
                                            const data::VocabSizes& vocab,
                                            const data::ItemFeatures* features,
                                            const data::Batch& batch, const LossOptions& loss);

}  // namespace cf::trainer
