#include "trainer/cooccurrence_prior.h"

#include <algorithm>

#include "data/text/text_corpus.h"
#include "trainer/checkpoint.h"

namespace cf::trainer {

RunTrainingSplit run_training_split(const Config& config, const data::CorpusReader& corpus) {
  RunTrainingSplit out;
  const std::vector<int8_t>& fixed = corpus.sequence_splits();
  if (!fixed.empty()) {
    // A text corpus: prep split it by title; validation scores the validation pairs.
    out.split = data::TrainingSplit::by_sequence(fixed);
    for (int64_t i = 0; i < int64_t(fixed.size()); ++i)
      if (fixed[size_t(i)] == int8_t(data::text::TextSplit::kValidation))
        out.validation_users.push_back(i);
    out.name = "by title (" + std::to_string(out.validation_users.size()) + " validation pairs)";
    return out;
  }
  if (config.validation.holdout == ValidationHoldout::kValidationUsers) {
    out.validation_users = data::validation_user_ids(corpus, config.validation.users);
    out.split = data::TrainingSplit::holding_out_only(corpus.num_sequences(), out.validation_users);
    out.name = "validation_users (" + std::to_string(out.validation_users.size()) + ")";
  } else {
    out.name = "all_users";
  }
  return out;
}

std::shared_ptr<const ranking::CooccurrenceTable> build_cooccurrence_table(
    const data::CorpusReader& corpus, const data::TrainingSplit& split,
    ranking::CooccurrenceParams params) {
  auto table = std::make_shared<ranking::CooccurrenceTable>(corpus.vocab_sizes().items, params);
  const int64_t n = corpus.num_sequences();
  constexpr int64_t kChunk = 4096;
  std::vector<data::Sequence> chunk;
  for (int64_t first = 0; first < n; first += kChunk) {
    const int64_t count = std::min(kChunk, n - first);
    corpus.read_sequences(first, count, chunk);
    for (int64_t k = 0; k < count; ++k) {
      const data::Sequence& seq = chunk[size_t(k)];
      const int32_t train = split.train_length(first + k, seq.length());
      table->add_sequence(seq.item.data(), std::min(train, seq.length()));
    }
  }
  table->finalize();
  return table;
}

CooccurrencePrior cooccurrence_prior_of(const LoadedCheckpoint& checkpoint,
                                        const data::CorpusReader& corpus) {
  CooccurrencePrior prior;
  prior.weight = float(checkpoint.state.cooccurrence_prior_weight);
  if (prior.weight != 0.0f) {
    prior.table =
        build_cooccurrence_table(corpus, run_training_split(checkpoint.config, corpus).split);
  }
  return prior;
}

}  // namespace cf::trainer
