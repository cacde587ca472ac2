#include "trainer/validation_ranking.h"

#include <algorithm>

#include "core/error.h"
#include "data/batch.h"
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
                                         comm::Communicator& comm, int max_batch_rows) const {
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
  std::vector<double> rank_of(size_t(total), 0.0);

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
#pragma omp for schedule(dynamic, 4)
      for (int b = 0; b < B; ++b) {
        const Pending& p = pending[size_t(b)];
        mark_history(marks, p.sequence, p.visible, 1);
        rank_of[size_t(p.slot)] = double(ranking::full_rank(
            scores.data() + size_t(b) * size_t(num_items), num_items, p.target, marks.data()));
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
  ranking::RankingAccumulator accumulator({10});
  for (double r : rank_of) {
    if (r >= 1) accumulator.add(int64_t(r));
  }
  return {accumulator.hit_rate(10), accumulator.ndcg(10), accumulator.count()};
}

}  // namespace cf::trainer
