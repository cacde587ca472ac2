// TrainingSplit: how many leading events of each sequence training may use, and so what the
// item baselines may count. The test event (the last) is never among them. The validation event
// (second-to-last) is left out for every user in the classic leave-one-out split, or only for a
// fixed sample of validation users (config `validation.holdout: validation_users`): the others
// train through it, as the gSASRec/eSASRec leave-one-out protocols do, so the model has seen
// each user's most recent transition before the test.
#pragma once
#include <cstdint>
#include <vector>

#include "data/corpus.h"

namespace cf::data {

class TrainingSplit {
 public:
  // Classic leave-one-out: every user's validation event left out.
  TrainingSplit() = default;
  // Only `validation_users` (corpus sequence ids) keep their validation event out.
  static TrainingSplit holding_out_only(int64_t num_sequences,
                                        const std::vector<int64_t>& validation_users);
  // A split fixed per sequence (a text corpus's split by title, CorpusReader::sequence_splits):
  // sequences marked 0 (train) train on all their events, the others on none.
  static TrainingSplit by_sequence(const std::vector<int8_t>& sequence_splits);

  // Events of sequence `sequence` (of `length` events) that training may use.
  int32_t train_length(int64_t sequence, int32_t length) const;
  // Whether `sequence`'s validation event is unseen by training (it may be scored).
  bool holds_out_validation(int64_t sequence) const;

 private:
  std::vector<uint8_t> trains_through_validation_;  // per sequence; empty = nobody does
  std::vector<uint8_t> whole_sequence_;             // by_sequence: 1 = all events train, 0 = none
};

// The validation users: with `users_wanted` 0 every eligible user (>= 3 events: an input, the
// validation and the test event), as eval takes them; N: N of them spread evenly over the
// corpus. Ascending ids, the same at every rank count and on resume.
std::vector<int64_t> validation_user_ids(const CorpusReader& corpus, int64_t users_wanted);

// Sequences with at least two trainable events (an input and a target) under `split`.
std::vector<int64_t> trainable_sequences(const CorpusReader& corpus, const TrainingSplit& split);

}  // namespace cf::data
