#include "trainer/validation_ranking.h"

#include <algorithm>

#include "core/error.h"
#include "data/batch.h"
#include "trainer/cooccurrence_prior.h"
#include "ranking/ranking_metrics.h"

namespace cf::trainer {

namespace {

// Marks (value 1) or clears (0) the items of the first `visible` events: the history the
// filtered protocol removes from the candidates.
void mark_history(std::vector<uint8_t>& marks, const data::Sequence& seq, int32_t visible,
                  uint8_t value) {
  const int32_t n = static_cast<int32_t>(marks.size());
  for (int32_t t = 0; t < visible; ++t) {
    const int32_t item = seq.item[size_t(t)];
    if (item > 0 && item < n) marks[size_t(item)] = value;
  }
}

}  // namespace

ValidationRanks ValidationRanking::score(Model& model, const data::CorpusReader& corpus,
                                         comm::Communicator& comm,
                                         const ranking::CooccurrenceTable* prior,
                                         bool choose_by_hr, int max_batch_rows) const {
  const int32_t num_items = corpus.vocab_sizes().items;
  CF_CHECK(model.vocab().items == num_items, "model and corpus item vocabularies differ");
  const int max_len = model.config().max_len;
  const int batch_rows = ranking::score_batch_rows(max_batch_rows, num_items);

  // This rank's users: a contiguous block, so one rank batches exactly as eval does (corpus
  // order, batch_rows users per call). rank_of[k] is user k's rank, 0 where skipped or another
  // rank's; the sum over ranks then holds every user's rank, whatever the world size.
  const int64_t total = size();
  const int world = comm.world_size(), me = comm.rank();
  const int64_t first = total * me / world, last = total * (me + 1) / world;
  // With a prior, user k's rank under weight w sits at rank_of[k * weights + w].
  const int weights = prior ? kNumPriorWeights : 1;
  std::vector<double> rank_of(size_t(total) * size_t(weights), 0.0);

  struct Pending {
    int64_t slot;  // index into users_
    data::Sequence sequence;
    int32_t visible, target;
  };
  std::vector<Pending> pending;
  data::Batch batch;
  std::vector<float> hidden, scores;
  auto score_pending = [&] {
    const int B = int(pending.size());
    int longest = 1;
    for (const auto& p : pending) longest = std::max(longest, p.visible);
    batch.resize(B, std::min(longest, max_len));
    for (int b = 0; b < B; ++b) {
      data::fill_batch_row(batch, b, pending[size_t(b)].sequence, pending[size_t(b)].visible,
                           /*train_targets=*/false);
    }
    model.last_hidden(batch, hidden);
    scores.resize(size_t(B) * size_t(num_items));
    model.item_scores(hidden.data(), B, scores.data());
#pragma omp parallel
    {
      std::vector<uint8_t> marks(size_t(num_items), 0);
      std::vector<std::pair<int32_t, float>> terms;
      int64_t ranks[kNumPriorWeights];
#pragma omp for schedule(dynamic, 4)
      for (int b = 0; b < B; ++b) {
        const Pending& p = pending[size_t(b)];
        const float* row = scores.data() + size_t(b) * size_t(num_items);
        mark_history(marks, p.sequence, p.visible, 1);
        if (prior) {
          prior->log_prior_terms(p.sequence.item.data(), p.visible, terms);
          ranking::full_ranks_with_bonus(row, num_items, p.target, marks.data(), terms,
                                         kPriorWeights, kNumPriorWeights, ranks);
          for (int w = 0; w < weights; ++w) {
            rank_of[size_t(p.slot) * size_t(weights) + size_t(w)] = double(ranks[w]);
          }
        } else {
          rank_of[size_t(p.slot)] =
              double(ranking::full_rank(row, num_items, p.target, marks.data()));
        }
        mark_history(marks, p.sequence, p.visible, 0);
      }
    }
    pending.clear();
  };

  for (int64_t k = first; k < last; ++k) {
    Pending p;
    corpus.read_sequence(users_[size_t(k)], p.sequence);
    p.slot = k;
    p.visible = data::visible_length(p.sequence.length(), data::Split::kValidation);
    p.target = p.sequence.item[size_t(p.visible)];
    // As eval: a padding or out-of-vocabulary target is not a user to rank.
    if (p.target <= 0 || p.target >= num_items) continue;
    pending.push_back(std::move(p));
    if (int(pending.size()) == batch_rows) score_pending();
  }
  if (!pending.empty()) score_pending();

  // Ranks are integers, exact in a double sum; the metrics are then accumulated in user order
  // on every rank, so each rank (and every world size) gets the same bits.
  comm.all_reduce_sum(rank_of.data(), rank_of.size());
  std::vector<ranking::RankingAccumulator> accumulators(size_t(weights),
                                                        ranking::RankingAccumulator({10}));
  for (size_t k = 0; k < rank_of.size(); ++k) {
    if (rank_of[k] >= 1) accumulators[k % size_t(weights)].add(int64_t(rank_of[k]));
  }
  auto metric = [&](int w) {
    return choose_by_hr ? accumulators[size_t(w)].hit_rate(10) : accumulators[size_t(w)].ndcg(10);
  };
  int best = 0;  // strictly better only: ties keep the smaller weight
  for (int w = 1; w < weights; ++w) {
    if (metric(w) > metric(best)) best = w;
  }
  ValidationRanks out;
  out.hr_at_10 = accumulators[size_t(best)].hit_rate(10);
  out.ndcg_at_10 = accumulators[size_t(best)].ndcg(10);
  out.users = accumulators[size_t(best)].count();
  out.prior_weight = prior ? kPriorWeights[best] : 0.0f;
  out.model_hr_at_10 = accumulators[0].hit_rate(10);
  out.model_ndcg_at_10 = accumulators[0].ndcg(10);
  return out;
}

}  // namespace cf::trainer
