// Item-to-item co-occurrence counts over the training events ("people who had i next had j"):
// the table behind eval's co-occurrence baseline and behind the co-occurrence prior a model may
// add to its next-item scores (model.cooccurrence_prior).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace cf::ranking {

struct CooccurrenceParams {
  int window = 3;        // j counts as following i when it comes 1..window events later
  int recent_items = 3;  // how many of the user's last events vote
};

// Counts, over the TRAINING part of every sequence (add_sequence is given only that part):
//   C[i][j] = sum over positions p and gaps d in 1..window with items[p] = i, items[p+d] = j
//             of 1/d
// and the history score of item j for a history h_1..h_n (most recent last):
//   S(j) = sum_{r=1..min(R,n)} (1/r) * C[h_{n-r+1}][j]           (R = recent_items)
class CooccurrenceTable {
 public:
  // `num_items`: vocabulary size including padding token 0.
  CooccurrenceTable(int32_t num_items, CooccurrenceParams params = {});
  // Adds one sequence's training events (item tokens in time order). Call before finalize().
  void add_sequence(const int32_t* items, int32_t length);
  // Compacts the counts into a sparse row-per-item table; everything below needs it.
  void finalize();

  int32_t num_items() const { return num_items_; }
  const CooccurrenceParams& params() const { return params_; }
  float weight(int32_t from, int32_t to) const;  // C[from][to]
  int64_t num_pairs() const;                     // stored non-zero C entries

  // out[j] += S(j) for every item (dense). With `touched`, the items it added to are appended
  // to it (an item once per addition).
  void add_history_scores(const int32_t* history, int32_t length, float* out,
                          std::vector<int32_t>* touched = nullptr) const;
  // The items with S(j) > 0 and their S(j), ascending by item: the sparse form of the above.
  // `out` is cleared first.
  void history_scores(const int32_t* history, int32_t length,
                      std::vector<std::pair<int32_t, float>>& out) const;
  // The co-occurrence prior's terms: (j, log(1 + S(j))) for the items with S(j) > 0, ascending.
  void log_prior_terms(const int32_t* history, int32_t length,
                       std::vector<std::pair<int32_t, float>>& out) const;
  // The co-occurrence prior: scores[j] += weight * log(1 + S(j)) (only items with S(j) > 0
  // change). `scratch` is reused between calls.
  void add_log_prior(const int32_t* history, int32_t length, float weight, float* scores,
                     std::vector<std::pair<int32_t, float>>& scratch) const;

 private:
  int32_t num_items_;
  CooccurrenceParams params_;
  std::vector<std::vector<std::pair<int32_t, double>>> building_;  // per source item
  std::vector<int64_t> row_start_;                                // CSR after finalize()
  std::vector<int32_t> column_;
  std::vector<float> value_;
  bool finalized_ = false;
};

}  // namespace cf::ranking
