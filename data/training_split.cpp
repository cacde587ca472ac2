#include "data/training_split.h"

#include "data/text/text_corpus.h"

namespace cf::data {

TrainingSplit TrainingSplit::holding_out_only(int64_t num_sequences,
                                              const std::vector<int64_t>& validation_users) {
  TrainingSplit split;
  split.trains_through_validation_.assign(size_t(num_sequences), 1);
  for (int64_t id : validation_users) split.trains_through_validation_[size_t(id)] = 0;
  return split;
}

TrainingSplit TrainingSplit::by_sequence(const std::vector<int8_t>& sequence_splits) {
  TrainingSplit split;
  split.whole_sequence_.reserve(sequence_splits.size());
  for (int8_t s : sequence_splits)
    split.whole_sequence_.push_back(s == int8_t(text::TextSplit::kTrain) ? 1 : 0);
  return split;
}

bool TrainingSplit::holds_out_validation(int64_t sequence) const {
  if (!whole_sequence_.empty()) return whole_sequence_[size_t(sequence)] == 0;
  return trains_through_validation_.empty() || trains_through_validation_[size_t(sequence)] == 0;
}

int32_t TrainingSplit::train_length(int64_t sequence, int32_t length) const {
  if (!whole_sequence_.empty()) return whole_sequence_[size_t(sequence)] ? length : 0;
  // Sequences too short for a held-out pair train on everything either way.
  return !holds_out_validation(sequence) && length >= 3 ? visible_length(length, Split::kTest)
                                                        : visible_length(length, Split::kTrain);
}

std::vector<int64_t> validation_user_ids(const CorpusReader& corpus, int64_t users_wanted) {
  const auto& offsets = corpus.offsets();
  std::vector<int64_t> eligible;
  for (int64_t i = 0; i + 1 < int64_t(offsets.size()); ++i) {
    if (offsets[size_t(i) + 1] - offsets[size_t(i)] >= 3) eligible.push_back(i);
  }
  if (users_wanted <= 0 || users_wanted >= int64_t(eligible.size())) return eligible;
  // Evenly spaced over the corpus, chosen once: the same users at every evaluation, rank count
  // and resume, so successive values compare like with like.
  std::vector<int64_t> users;
  const int64_t n = users_wanted, total = int64_t(eligible.size());
  for (int64_t k = 0; k < n; ++k) users.push_back(eligible[size_t(k * total / n)]);
  return users;
}

std::vector<int64_t> trainable_sequences(const CorpusReader& corpus, const TrainingSplit& split) {
  const auto& offsets = corpus.offsets();
  std::vector<int64_t> ids;
  for (int64_t i = 0; i + 1 < int64_t(offsets.size()); ++i) {
    const int32_t length = int32_t(offsets[size_t(i) + 1] - offsets[size_t(i)]);
    if (split.train_length(i, length) >= 2) ids.push_back(i);
  }
  return ids;
}

}  // namespace cf::data
