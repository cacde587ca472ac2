#include "trainer/task_rows.h"

#include <algorithm>

#include "core/random.h"
#include "data/text/char_tokenizer.h"

namespace cf::trainer {

namespace {
constexpr int32_t kBuyAction = 4;  // data::canonical_actions(): <pad>, view, fav, cart, buy

// Where row b's <sep> is (its length when it has none).
int separator_position(const data::Batch& batch, int b) {
  const int64_t row = int64_t(b) * batch.T;
  int t = 0;
  while (t < batch.length[b] && batch.item[row + t] != data::text::kSeparatorToken) ++t;
  return t;
}

}  // namespace

void clear_prompt_targets(data::Batch& batch, int b) {
  // Targets are the token after each position: the first one kept is the separator's, whose
  // target is the first description token; the last is the </s> (or the cut text's end).
  const int64_t row = int64_t(b) * batch.T;
  const int t = separator_position(batch, b);
  std::fill_n(batch.target_item.begin() + row, t, 0);
  std::fill_n(batch.target_action.begin() + row, batch.T, 0);
}

void noise_copy_inputs(data::Batch& batch, int b, float share, uint64_t row_draw) {
  if (share <= 0) return;
  const int64_t row = int64_t(b) * batch.T;
  // The description's inputs; a </s> at the end (a text cut at max_len has none) is neither
  // noised nor drawn.
  const int first = separator_position(batch, b) + 1;
  int end = batch.length[b];
  if (end > first && batch.item[row + end - 1] == data::text::kEndToken) --end;
  if (end - first < 2) return;
  const std::vector<int32_t> text(batch.item.begin() + row + first, batch.item.begin() + row + end);
  Xoshiro256 rng(row_draw ^ 0x6e6f697365ull);
  for (int t = first + 1; t < end; ++t)
    if (unit_interval(rng.next()) < double(share))
      batch.item[row + t] = text[size_t(rng.next() % uint64_t(text.size()))];
}

TaskSpec task_spec(const TaskSection& task) {
  TaskSpec spec;
  spec.kind = task.kind;
  spec.purchases_only = task.purchases_only;
  spec.action_loss_weight = task.action_loss_weight;
  spec.copy_input_noise = task.copy_input_noise;
  return spec;
}

ModelConfig model_config_for_task(const ModelConfig& model, const TaskSpec& task) {
  ModelConfig mc = model;
  if (task.kind == TaskKind::kPretrain && task.action_loss_weight > 0) mc.action_head = true;
  if (task.kind == TaskKind::kPropensity) mc.propensity_head = true;
  if (task.kind == TaskKind::kCopy) {
    // A text corpus's only channel is the tokens (data/text/copy_sequences.h).
    mc.use_action = mc.use_category = mc.use_time_gap = mc.use_activity = false;
  }
  return mc;
}

uint64_t training_row_draw(uint64_t seed, int64_t step, int64_t row) {
  return splitmix64_mix(splitmix64_mix(seed ^ 0x70726f70656e73ull) ^
                        splitmix64_mix(uint64_t(step) * 0x100000001b3ull + uint64_t(row)));
}

RowPlan plan_training_row(const TaskSpec& task, const data::Sequence& seq, int32_t train_len,
                          uint64_t row_draw) {
  RowPlan plan;
  if (task.kind == TaskKind::kPropensity) {
    // Predict whether the event at a cut inside the training part is a purchase from the
    // events before it, so neither the validation nor the test event is ever seen.
    if (train_len < 2) {
      plan.visible = train_len;
      plan.label = -1.f;
      return plan;
    }
    const int32_t cut = 1 + int32_t(row_draw % uint64_t(train_len - 1));  // in [1, train_len)
    plan.visible = cut;
    plan.label = float(seq.purchase[size_t(cut)]);
  } else {
    plan.visible = train_len;
  }
  return plan;
}

void restrict_targets(const TaskSpec& task, data::Batch& batch, int b) {
  if (task.kind == TaskKind::kPropensity) {
    // The propensity task trains only its head's loss; no next-item targets.
    std::fill_n(batch.target_item.begin() + int64_t(b) * batch.T, batch.T, 0);
    std::fill_n(batch.target_action.begin() + int64_t(b) * batch.T, batch.T, 0);
  } else if (task.kind == TaskKind::kCopy) {
    clear_prompt_targets(batch, b);
  } else if (task.kind == TaskKind::kNextItem && task.purchases_only) {
    for (int t = 0; t < batch.T; ++t) {
      int64_t i = int64_t(b) * batch.T + t;
      if (batch.target_action[i] != kBuyAction) batch.target_item[i] = 0;
    }
  }
}

LossOptions loss_options_for_task(const TaskSpec& task) {
  LossOptions lo;
  switch (task.kind) {
    case TaskKind::kPretrain:
      lo.item_loss = true;
      lo.action_loss = task.action_loss_weight > 0;
      break;
    case TaskKind::kNextItem:
    case TaskKind::kCopy:
      lo.item_loss = true;
      break;
    case TaskKind::kPropensity:
      lo.item_loss = false;
      lo.propensity_loss = true;
      break;
  }
  return lo;
}

double task_loss(const TaskSpec& task, const LossSums& s) {
  auto mean = [](double sum, int64_t n) { return n > 0 ? sum / double(n) : 0.0; };
  if (task.kind == TaskKind::kPropensity) return mean(s.propensity, s.propensity_count);
  double loss = mean(s.item, s.item_count);
  if (task.kind == TaskKind::kPretrain && task.action_loss_weight > 0)
    loss += task.action_loss_weight * mean(s.action, s.action_count);
  return loss;
}

void add_sums(LossSums& into, const LossSums& s) {
  into.item += s.item;
  into.action += s.action;
  into.propensity += s.propensity;
  into.item_count += s.item_count;
  into.action_count += s.action_count;
  into.propensity_count += s.propensity_count;
}

namespace {

// Row b of `batch` from sequence `id`, global row `row` of the step; adds to `counts` (but its
// item and action targets, which the caller counts per batch).
void fill_training_row(const TaskSpec& task, const data::TrainingSplit& split,
                       const data::CorpusReader& corpus, int64_t id, uint64_t seed, int64_t step,
                       int64_t row, data::Batch& batch, int b, data::Sequence& seq,
                       StepTargetCounts& counts) {
  corpus.read_sequence(id, seq);
  const uint64_t row_draw = training_row_draw(seed, step, row);
  const RowPlan plan = plan_training_row(task, seq, split.train_length(id, seq.length()), row_draw);
  data::fill_batch_row(batch, b, seq, plan.visible, true);
  batch.label[b] = plan.label;
  restrict_targets(task, batch, b);
  if (task.kind == TaskKind::kCopy) noise_copy_inputs(batch, b, task.copy_input_noise, row_draw);
  counts.tokens += batch.length[b];
  counts.labels += plan.label >= 0 ? 1 : 0;
}

void count_targets(const data::Batch& batch, StepTargetCounts& counts) {
  counts.items += batch.num_targets();
  for (int32_t a : batch.target_action) counts.actions += a > 0 ? 1 : 0;
}

}  // namespace

StepTargetCounts fill_micro_batches(const TaskSpec& task, const data::TrainingSplit& split,
                                    const data::CorpusReader& corpus,
                                    const std::vector<int64_t>& ids, int64_t first_row,
                                    int64_t rows, uint64_t seed, int64_t step, int micro_batch,
                                    int max_len, std::vector<data::Batch>& micro) {
  StepTargetCounts counts;
  data::Sequence seq;
  micro.resize(size_t((rows + micro_batch - 1) / micro_batch));
  for (size_t m = 0; m < micro.size(); ++m) {
    data::Batch& batch = micro[m];
    batch.resize(micro_batch, max_len);  // rows past `rows` stay empty (length 0)
    for (int b = 0; b < micro_batch; ++b) {
      const int64_t offset = int64_t(m) * micro_batch + b;
      if (offset >= rows) break;
      const int64_t row = first_row + offset;
      fill_training_row(task, split, corpus, ids[size_t(row)], seed, step, row, batch, b, seq,
                        counts);
    }
    count_targets(batch, counts);
  }
  return counts;
}

StepTargetCounts row_target_counts(const data::Batch& row) {
  StepTargetCounts counts;
  count_targets(row, counts);
  counts.labels = row.label[0] >= 0 ? 1 : 0;
  counts.tokens = row.length[0];
  return counts;
}

LossOptions step_loss_options(const TaskSpec& task, const StepTargetCounts& global,
                              const SampledLossPlan& item_loss, uint64_t negative_seed) {
  LossOptions lo = loss_options_for_task(task);
  if (lo.item_loss) item_loss.apply(lo, negative_seed);
  lo.item_grad_scale = global.items > 0 ? 1.f / float(global.items) : 0.f;
  lo.action_grad_scale = global.actions > 0 ? task.action_loss_weight / float(global.actions) : 0.f;
  lo.propensity_grad_scale = global.labels > 0 ? 1.f / float(global.labels) : 0.f;
  lo.negative_seed = negative_seed;
  return lo;
}

void all_reduce_sums(comm::Communicator& comm, LossSums& s) {
  if (comm.world_size() == 1) return;
  double v[6] = {s.item,
                 s.action,
                 s.propensity,
                 double(s.item_count),
                 double(s.action_count),
                 double(s.propensity_count)};
  comm.all_reduce_sum(v, 6);
  s.item = v[0];
  s.action = v[1];
  s.propensity = v[2];
  s.item_count = int64_t(v[3]);
  s.action_count = int64_t(v[4]);
  s.propensity_count = int64_t(v[5]);
}

ValidationSet::ValidationSet(const data::CorpusReader& corpus, int rows_wanted,
                             const TaskSpec& task, int micro_batch, int max_len,
                             const std::vector<int64_t>& only_from)
    : task_(task), micro_batch_(micro_batch), max_len_(max_len) {
  const auto& offsets = corpus.offsets();
  std::vector<int64_t> candidates;
  auto consider = [&](int64_t i) {
    if (offsets[size_t(i) + 1] - offsets[size_t(i)] >= 3) candidates.push_back(i);
  };
  if (only_from.empty()) {
    for (int64_t i = 0; i + 1 < int64_t(offsets.size()); ++i) consider(i);
  } else {
    for (int64_t i : only_from) consider(i);
  }
  // Evenly spaced pick: deterministic and spread over the corpus.
  int n = std::min<int64_t>(rows_wanted, candidates.size());
  for (int k = 0; k < n; ++k) ids_.push_back(candidates[int64_t(k) * candidates.size() / n]);
}

double ValidationSet::loss(const data::CorpusReader& corpus, const Evaluate& evaluate,
                           comm::Communicator& comm) const {
  // This rank's share: rows rank, rank + world, ...
  std::vector<int64_t> mine;
  for (size_t i = size_t(comm.rank()); i < ids_.size(); i += size_t(comm.world_size()))
    mine.push_back(ids_[i]);
  const int mb = micro_batch_, T = max_len_;
  LossOptions lo = loss_options_for_task(task_);
  // Validation always scores the full softmax (loss_options_for_task's item loss).
  lo.action_loss = false;
  LossSums total;
  data::Batch batch;
  data::Sequence seq;
  for (size_t first = 0; first < mine.size(); first += mb) {
    int rows = int(std::min<size_t>(mb, mine.size() - first));
    batch.resize(rows, T);
    for (int b = 0; b < rows; ++b) {
      corpus.read_sequence(mine[first + b], seq);
      int32_t visible = data::visible_length(seq.length(), data::Split::kValidation);
      if (task_.kind == TaskKind::kCopy) {
        // The whole validation pair; the loss covers its description, as in training.
        data::fill_batch_row(batch, b, seq, seq.length(), true);
        restrict_targets(task_, batch, b);
      } else if (task_.kind == TaskKind::kPropensity) {
        data::fill_batch_row(batch, b, seq, visible, false);
        batch.label[b] = float(seq.purchase[visible]);
      } else {
        // Feed one more event so the last position's target is the validation event.
        data::fill_batch_row(batch, b, seq, visible + 1, true);
        int last = batch.length[b] - 1;
        for (int t = 0; t < T; ++t) {
          if (t != last - 1) batch.target_item[int64_t(b) * T + t] = 0;
          batch.target_action[int64_t(b) * T + t] = 0;
        }
        batch.length[b] = last;  // the validation event itself is not input
        int64_t p = int64_t(b) * T + last;
        batch.item[p] = batch.action[p] = batch.category[p] = batch.time_gap[p] =
            batch.activity[p] = 0;
        batch.target_item[p] = 0;
      }
    }
    add_sums(total, evaluate(batch, lo));
  }
  all_reduce_sums(comm, total);
  return task_loss(task_, total);
}

}  // namespace cf::trainer
