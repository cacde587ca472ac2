// Validation ranking: the in-training twin of `cartformer eval --split validation`'s main
// protocol (full_filtered) for the model being trained. Each chosen user's validation target
// (the second-to-last event) is ranked among every item not in the user's input history (the
// target always stays), with pessimistic ties; the model sees the events before the target,
// left-truncated to its max_len. Users are scored in batches through Model::last_hidden and
// item_scores (one GEMM per batch), split over the ranks, and the per-user ranks are summed
// across ranks, so HR@10 / NDCG@10 are the same bits at any world size.
#pragma once
#include <cstdint>
#include <vector>

#include "data/corpus.h"
#include "data/training_split.h"
#include "ranking/cooccurrence.h"
#include "trainer/comm/communicator.h"
#include "trainer/model/model.h"

namespace cf::trainer {

struct ValidationRanks {
  double hr_at_10 = 0;
  double ndcg_at_10 = 0;
  int64_t users = 0;  // users ranked (targets that are padding or out of vocabulary are skipped)
  // With a co-occurrence prior: the weight of kPriorWeights whose scores the metrics above are
  // (the best by the chosen metric), and the model's own metrics (weight 0).
  float prior_weight = 0;
  double model_hr_at_10 = 0, model_ndcg_at_10 = 0;
};

class ValidationRanking {
 public:
  // Ranks the users of data::validation_user_ids(corpus, users_wanted).
  ValidationRanking(const data::CorpusReader& corpus, int64_t users_wanted)
      : users_(data::validation_user_ids(corpus, users_wanted)) {}
  const std::vector<int64_t>& users() const { return users_; }
  bool empty() const { return users_.empty(); }
  int64_t size() const { return int64_t(users_.size()); }
  // Scores `model` (the same parameters on every rank) on this rank's share of the users;
  // collective over `comm`. `max_batch_rows`: users per model call (fewer when the catalogue
  // is huge, as eval does).
  // `prior`: a co-occurrence table (trainer/cooccurrence_prior.h) or null; with one, every user
  // is ranked under each of kPriorWeights and the weight with the best HR@10 (`choose_by_hr`)
  // or NDCG@10 is returned with its metrics.
  ValidationRanks score(Model& model, const data::CorpusReader& corpus, comm::Communicator& comm,
                        const ranking::CooccurrenceTable* prior = nullptr,
                        bool choose_by_hr = false, int max_batch_rows = 256) const;

 private:
  std::vector<int64_t> users_;  // corpus sequence ids, ascending
};

}  // namespace cf::trainer
