// Non-learned next-item baselines scored on the same split as the model: most-popular and
// item-to-item co-occurrence.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "ranking/cooccurrence.h"

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

  // The same scores in the form eval ranks fastest: a row every user starts from (base(), -inf
  // at padding), changed for this user at a few items. change() writes the user's scores of
  // those items into `row` (which holds base() everywhere else) and lists them in `changed`
  // (distinct, cleared first); score() equals base() with those changes, to the bit.
  virtual const std::vector<float>& base() const = 0;
  virtual void change(const int32_t* history, int32_t length, float* row,
                      std::vector<int32_t>& changed) const = 0;
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
  const std::vector<float>& base() const override { return scores_; }
  void change(const int32_t*, int32_t, float*, std::vector<int32_t>& changed) const override {
    changed.clear();  // the same list for every user
  }

 private:
  std::vector<float> scores_;
};

using ranking::CooccurrenceParams;

// Item-to-item co-occurrence ("people who had i next had j"), over ranking::CooccurrenceTable:
//   score(j) = S(j)  +  eps * count[j] / (1 + max count)
//   with S the table's history score (sum over the last R = recent_items events of (1/r) *
//   C[h_r][j]) and eps = 1e-3 / (window * R). The popularity term is below any single
//   co-occurrence contribution (>= 1/(window * R)), so it essentially only orders items with
//   equal co-occurrence score, typically zero: a popularity back-off instead of a big tie.
class CooccurrenceBaseline final : public HistoryScorer {
 public:
  CooccurrenceBaseline(const std::vector<int64_t>& item_counts, CooccurrenceParams params = {});
  // Adds one sequence's training events (item tokens in time order). Call before finalize().
  void add_sequence(const int32_t* items, int32_t length) { table_.add_sequence(items, length); }
  // Compacts the counts into a sparse row-per-item table; scoring needs it.
  void finalize() { table_.finalize(); }

  std::string name() const override { return "cooccurrence"; }
  int32_t num_items() const override { return static_cast<int32_t>(backoff_.size()); }
  void score(const int32_t* history, int32_t length, float* out) const override;
  Json describe() const override;
  const std::vector<float>& base() const override { return backoff_; }
  // The items with a co-occurrence score: backoff plus S(j).
  void change(const int32_t* history, int32_t length, float* row,
              std::vector<int32_t>& changed) const override;

  float weight(int32_t from, int32_t to) const { return table_.weight(from, to); }
  int64_t num_pairs() const { return table_.num_pairs(); }
  const CooccurrenceParams& params() const { return table_.params(); }
  const ranking::CooccurrenceTable& table() const { return table_; }

 private:
  // Every item's score before the history's: a popularity tie-break (-inf at padding).
  std::vector<float> backoff_;
  ranking::CooccurrenceTable table_;
};

}  // namespace cf::eval
