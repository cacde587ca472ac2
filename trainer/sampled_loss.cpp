#include "trainer/sampled_loss.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/random.h"
#include "trainer/model/model_random.h"

namespace cf::trainer {

SampledLossPlan::SampledLossPlan(const LossSection& loss, const std::vector<int64_t>& item_counts,
                                 const std::string& config_path, const std::string& corpus_path)
    : loss_(loss), num_items_(int32_t(item_counts.size())) {
  if (loss.kind == ItemLoss::kFullSoftmax) return;
  const int64_t catalogue = int64_t(num_items_) - 1;  // token 0 is padding
  if (loss.negatives > catalogue) {
    throw UserError(config_path + ": key 'loss.negatives' is " + std::to_string(loss.negatives) +
                    ", more than the " + std::to_string(catalogue) + " items of corpus " +
                    corpus_path);
  }
  double total_count = 0;
  for (int32_t v = 1; v < num_items_; ++v) total_count += double(item_counts[size_t(v)]);
  if (!(total_count > 0) && (loss.sampler == NegativeSampling::kPopularity ||
                             loss.in_batch_negatives > 0)) {
    throw UserError(corpus_path + ": no item occurs in the training part, so 'loss.sampler: "
                    "popularity' and 'loss.in_batch_negatives' have nothing to sample from");
  }
  frequency_.assign(size_t(num_items_), 0.0);
  if (total_count > 0)
    for (int32_t v = 1; v < num_items_; ++v)
      frequency_[size_t(v)] = double(item_counts[size_t(v)]) / total_count;

  if (loss.sampler == NegativeSampling::kPopularity) {
    cumulative_.resize(size_t(num_items_), 0.0);
    double sum = 0;
    for (int32_t v = 1; v < num_items_; ++v) {
      sum += std::pow(double(item_counts[size_t(v)]), double(loss.popularity_alpha));
      cumulative_[size_t(v)] = sum;
    }
  }

  // gSASRec: alpha = negatives per positive / possible negatives; beta interpolates between
  // plain BCE (t = 0, beta = 1) and full calibration (t = 1, beta = alpha).
  const double sampled = double(loss.negatives) + double(loss.in_batch_negatives);
  const double alpha = std::min(1.0, sampled / double(std::max<int64_t>(1, catalogue - 1)));
  gbce_beta_ = alpha * (double(loss.gbce_t) * (1.0 - 1.0 / alpha) + 1.0 / alpha);

  const bool correction_matters =
      loss.sampler == NegativeSampling::kPopularity || loss.in_batch_negatives > 0;
  if (loss.kind == ItemLoss::kSampledSoftmax && loss.logq_correction && correction_matters) {
    // Expected count of item v among the candidates: K draws of the sampler plus M in-batch
    // draws at the training frequency. Items that can never be drawn get the smallest count of
    // those that can, so a target that is never a candidate is not pushed to infinity.
    std::vector<double> expected(size_t(num_items_), 0.0);
    double smallest = INFINITY;
    for (int32_t v = 1; v < num_items_; ++v) {
      expected[size_t(v)] = double(loss.negatives) * sampler_probability(v) +
                            double(loss.in_batch_negatives) * in_batch_probability(v);
      if (expected[size_t(v)] > 0) smallest = std::min(smallest, expected[size_t(v)]);
    }
    auto log_q = std::make_shared<std::vector<float>>(size_t(num_items_), 0.0f);
    for (int32_t v = 1; v < num_items_; ++v)
      (*log_q)[size_t(v)] = float(std::log(std::max(expected[size_t(v)], smallest)));
    item_log_q_ = std::move(log_q);
  }
}

double SampledLossPlan::sampler_probability(int32_t item) const {
  if (item <= 0 || item >= num_items_) return 0.0;
  if (loss_.sampler == NegativeSampling::kUniform) return 1.0 / double(num_items_ - 1);
  const double total = cumulative_.back();
  return (cumulative_[size_t(item)] - cumulative_[size_t(item) - 1]) / total;
}

double SampledLossPlan::in_batch_probability(int32_t item) const {
  return item > 0 && item < num_items_ ? frequency_[size_t(item)] : 0.0;
}

std::vector<int32_t> SampledLossPlan::draw(uint64_t seed) const {
  std::vector<int32_t> out(size_t(loss_.negatives));
  for (int k = 0; k < loss_.negatives; ++k) {
    if (loss_.sampler == NegativeSampling::kUniform) {
      out[size_t(k)] = uniform_item(seed, uint64_t(k), num_items_);
      continue;
    }
    // Inverse CDF: the first token whose cumulative weight exceeds u * total.
    const uint64_t bits = splitmix64_mix(seed ^ splitmix64_mix(uint64_t(k)));
    const double u = unit_interval(bits) * cumulative_.back();
    const auto it = std::upper_bound(cumulative_.begin() + 1, cumulative_.end(), u);
    out[size_t(k)] = it == cumulative_.end() ? num_items_ - 1 : int32_t(it - cumulative_.begin());
  }
  return out;
}

void SampledLossPlan::apply(LossOptions& options, uint64_t seed) const {
  options.item_kind = loss_.kind;
  if (loss_.kind == ItemLoss::kFullSoftmax) return;
  options.shared_negatives = draw(seed);
  options.in_batch_negatives = loss_.in_batch_negatives;
  options.item_log_q = item_log_q_;
  options.gbce_beta = gbce_beta_;
}

}  // namespace cf::trainer
