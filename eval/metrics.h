// Offline metrics: the ranking metrics of ranking/ranking_metrics.h under eval's names, and
// binary metrics (AUC, log loss, expected calibration error) for the propensity head.
#pragma once
#include <cstdint>
#include <vector>

#include "core/json.h"
#include "ranking/ranking_metrics.h"

namespace cf::eval {

// The ranking pieces live in ranking/ (the trainer's validation ranks with them too); eval
// keeps using them under its own names.
using ranking::default_cutoffs;
using ranking::full_rank;
using ranking::RankingAccumulator;
using ranking::sampled_rank;

// Area under the ROC curve via the Mann-Whitney rank statistic: the probability that a random
// positive scores above a random negative, ties counted one half (average ranks). NaN when
// either class is absent. `labels` are 0/1.
double roc_auc(const std::vector<double>& scores, const std::vector<int8_t>& labels);

// Mean binary cross-entropy computed from logits, in the overflow-free form
// softplus(z) - y*z (natural log). NaN for empty input.
double log_loss_from_logits(const std::vector<double>& logits, const std::vector<int8_t>& labels);

// Expected calibration error with `bins` equal-width probability bins over [0, 1] (p = 1 falls
// into the last bin): sum over bins of (n_bin / n) * |mean label - mean probability|.
double expected_calibration_error(const std::vector<double>& probabilities,
                                  const std::vector<int8_t>& labels, int bins = 10);

double sigmoid(double logit);

// The propensity summary: {"auc", "log_loss", "ece", "positive_rate", "mean_prediction", "n"}
// from logits and 0/1 labels (undefined values, e.g. AUC with one class, become null).
Json binary_metrics_json(const std::vector<double>& logits, const std::vector<int8_t>& labels,
                         int calibration_bins = 10);

}  // namespace cf::eval
