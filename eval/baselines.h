// Non-learned next-item baselines scored on the same split as the model: most-popular and
// item-to-item co-occurrence.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"

namespace cf::eval {

// Anything that turns a history of item tokens into a score for every item token.
class HistoryScorer {
 public:
  virtual ~HistoryScorer() = default;
  virtual std::string name() const = 0;
  virtual int32_t num_items() const = 0;  // vocabulary size including padding token 0
  // out[num_items]: higher = more likely next; out[0] (padding) is -inf. `history` holds the
  // user's input events in time order (already cut to what the protocol allows the user to see).
  virtual void score(const int32_t* history, int32_t length, float* out) const = 0;
  // Parameters and formula, recorded in eval.json so the numbers can be reproduced.
  virtual Json describe() const = 0;
};

// score(j) = training occurrences of item j (the corpus item_counts): the same list for
// every user.
class PopularityBaseline final : public HistoryScorer {
 public:
  explicit PopularityBaseline(const std::vector<int64_t>& item_counts);
  std::string name() const override { return "popularity"; }
  int32_t num_items() const override { return static_cast<int32_t>(scores_.size()); }
  void score(const int32_t* history, int32_t length, float* out) const override;
  Json describe() const override;

 private:
  std::vector<float> scores_;
};

struct CooccurrenceParams {
  int window = 3;        // j counts as following i when it comes 1..window events later
  int recent_items = 3;  // how many of the user's last events vote
};

// Item-to-item co-occurrence ("people who had i next had j").
//   Counts, over the TRAINING part of every sequence (add_sequence is given only that part):
//     C[i][j] = sum over positions p and gaps d in 1..window with items[p] = i, items[p+d] = j
//               of 1/d
//   Score of item j for a history h_1..h_n (most recent last):
//     score(j) = sum_{r=1..min(R,n)} (1/r) * C[h_{n-r+1}][j]  +  eps * count[j] / (1 + max count)
//   with R = recent_items and eps = 1e-3 / (window * R). The popularity term is below any single
//   co-occurrence contribution (>= 1/(window * R)), so it essentially only orders items with
//   equal co-occurrence score, typically zero: a popularity back-off instead of a big tie.
class CooccurrenceBaseline final : public HistoryScorer {
 public:
  CooccurrenceBaseline(const std::vector<int64_t>& item_counts, CooccurrenceParams params = {});
  // Adds one sequence's training events (item tokens in time order). Call before finalize().
  void add_sequence(const int32_t* items, int32_t length);
  // Compacts the counts into a sparse row-per-item table; scoring needs it.
  void finalize();

  std::string name() const override { return "cooccurrence"; }
  int32_t num_items() const override { return static_cast<int32_t>(counts_.size()); }
  void score(const int32_t* history, int32_t length, float* out) const override;
  Json describe() const override;

  float weight(int32_t from, int32_t to) const;  // C[from][to] (after finalize)
  int64_t num_pairs() const;                     // stored non-zero C entries
  const CooccurrenceParams& params() const { return params_; }

 private:
  CooccurrenceParams params_;
  std::vector<int64_t> counts_;
  float backoff_scale_ = 0;
  std::vector<std::vector<std::pair<int32_t, double>>> building_;  // per source item
  std::vector<int64_t> row_start_;                                // CSR after finalize()
  std::vector<int32_t> column_;
  std::vector<float> value_;
  bool finalized_ = false;
};

}  // namespace cf::eval
