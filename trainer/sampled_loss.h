// SampledLossPlan: everything a step needs for a sampled next-item loss (sampled softmax or
// gBCE), built once per run from the loss config and the corpus item counts: the negative
// sampling distribution, the logQ table and gBCE's beta. Each step then draws its shared
// negatives from the step's seed, so a resumed run draws exactly what it would have.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainer/config.h"
#include "trainer/model/model_types.h"

namespace cf::trainer {

class SampledLossPlan {
 public:
  // `item_counts`: occurrences of each item token in the training part (index = token, entry 0
  // padding). UserError naming `config_path` and `corpus_path` when the corpus cannot support
  // the settings (more negatives than items, a popularity sampler without counts).
  SampledLossPlan(const LossSection& loss, const std::vector<int64_t>& item_counts,
                  const std::string& config_path, const std::string& corpus_path);

  // Sets the item-loss fields of `options` (kind, negatives drawn from `seed`, logQ, beta).
  // Leaves `options` untouched for the full softmax.
  void apply(LossOptions& options, uint64_t seed) const;
  // The step's shared negatives: `negatives` item tokens in [1, V), with replacement.
  std::vector<int32_t> draw(uint64_t seed) const;

  // P(item) of one draw of the sampler and of one in-batch draw (the training frequency).
  double sampler_probability(int32_t item) const;
  double in_batch_probability(int32_t item) const;
  // Null when the correction is off or changes nothing (uniform negatives only: the same
  // constant is subtracted from every logit).
  const std::shared_ptr<const std::vector<float>>& item_log_q() const { return item_log_q_; }
  double gbce_beta() const { return gbce_beta_; }

 private:
  LossSection loss_;
  int32_t num_items_ = 0;            // V, padding included
  std::vector<double> cumulative_;   // popularity sampler: cumulative weights over tokens 1..V-1
  std::vector<double> frequency_;    // training frequency of each token (sums to 1)
  std::shared_ptr<const std::vector<float>> item_log_q_;
  double gbce_beta_ = 1.0;
};

}  // namespace cf::trainer
