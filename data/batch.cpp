#include "data/batch.h"

#include <algorithm>
#include <mutex>

#include "core/error.h"
#include "core/random.h"

namespace cf::data {

void Batch::resize(int batch, int time) {
  CF_CHECK(batch >= 0 && time >= 0, "negative batch shape");
  B = batch;
  T = time;
  const size_t cells = static_cast<size_t>(batch) * static_cast<size_t>(time);
  for (auto* channel :
       {&item, &action, &category, &time_gap, &activity, &target_item, &target_action}) {
    channel->assign(cells, 0);
  }
  length.assign(batch, 0);
  label.assign(batch, 0.0f);
  sequence_index.assign(batch, 0);
}

void copy_row(const Batch& from, int b, Batch& to) {
  CF_CHECK(b >= 0 && b < from.B, "copy_row: row out of range");
  to.resize(1, from.T);
  const size_t first = size_t(b) * size_t(from.T), last = first + size_t(from.T);
  std::vector<int32_t> Batch::*const channels[] = {
      &Batch::item,     &Batch::action,      &Batch::category,     &Batch::time_gap,
      &Batch::activity, &Batch::target_item, &Batch::target_action};
  for (auto channel : channels) {
    const std::vector<int32_t>& source = from.*channel;
    std::copy(source.begin() + long(first), source.begin() + long(last), (to.*channel).begin());
  }
  to.length[0] = from.length[size_t(b)];
  to.label[0] = from.label[size_t(b)];
  to.sequence_index[0] = from.sequence_index[size_t(b)];
}

int64_t Batch::num_targets() const {
  return std::count_if(target_item.begin(), target_item.end(), [](int32_t t) { return t > 0; });
}

void fill_batch_row(Batch& batch, int b, const Sequence& seq, int32_t visible, bool train_targets) {
  CF_CHECK(b >= 0 && b < batch.B, "batch row out of range");
  CF_CHECK(visible >= 0 && visible <= seq.length(), "visible length beyond the sequence");
  // Left-truncate: keep the last T visible events, the most recent history.
  const int32_t n = std::min<int32_t>(visible, batch.T);
  const int32_t first = visible - n;
  const size_t row = static_cast<size_t>(b) * batch.T;
  for (int32_t t = 0; t < batch.T; ++t) {
    const size_t cell = row + t;
    const bool real = t < n;
    const int32_t e = first + t;
    batch.item[cell] = real ? seq.item[e] : 0;
    batch.action[cell] = real ? seq.action[e] : 0;
    batch.category[cell] = real ? seq.category[e] : 0;
    batch.time_gap[cell] = real ? seq.time_gap[e] : 0;
    batch.activity[cell] = real ? seq.activity[e] : 0;
    const bool has_target = train_targets && t < n - 1;
    batch.target_item[cell] = has_target ? seq.item[e + 1] : 0;
    batch.target_action[cell] = has_target ? seq.action[e + 1] : 0;
  }
  batch.length[b] = n;
  batch.label[b] = -1.0f;
  batch.sequence_index[b] = seq.index;
}

namespace {

// Uniform in [0, bound) without modulo bias: rejects the draws below 2^64 mod bound. (A
// fully specified Fisher-Yates: std::shuffle's use of a generator is implementation-defined.)
uint64_t uniform_below(Xoshiro256& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t r = rng.next();
    if (r >= threshold) return r % bound;
  }
}

}  // namespace

struct BatchSampler::EpochCache {
  std::mutex mutex;
  int64_t epoch = -1;
  std::vector<int64_t> order;
};

BatchSampler::BatchSampler(std::vector<int64_t> eligible, uint64_t seed, int global_batch)
    : eligible_(std::move(eligible)),
      seed_(seed),
      global_batch_(global_batch),
      cache_(std::make_shared<EpochCache>()) {
  CF_CHECK(global_batch > 0, "global batch size must be positive");
  std::sort(eligible_.begin(), eligible_.end());
  eligible_.erase(std::unique(eligible_.begin(), eligible_.end()), eligible_.end());
  if (eligible_.empty()) {
    throw UserError("training data: no sequence has enough events to train on");
  }
}

int64_t BatchSampler::steps_per_epoch() const {
  const int64_t n = static_cast<int64_t>(eligible_.size());
  return (n + global_batch_ - 1) / global_batch_;
}

std::vector<int64_t> BatchSampler::epoch_order(int64_t epoch) const {
  CF_CHECK(epoch >= 0, "negative epoch");
  // One independent stream per (seed, epoch): both are mixed through splitmix64.
  const uint64_t seed_word = splitmix64_mix(seed_);
  Xoshiro256 rng(splitmix64_mix(seed_word ^ static_cast<uint64_t>(epoch)));
  std::vector<int64_t> order = eligible_;
  for (size_t i = order.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(uniform_below(rng, i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

std::vector<int64_t> BatchSampler::global_batch(int64_t global_step) const {
  CF_CHECK(global_step >= 0, "negative global step");
  const int64_t n = static_cast<int64_t>(eligible_.size());
  std::vector<int64_t> out(global_batch_);
  std::lock_guard<std::mutex> lock(cache_->mutex);
  for (int64_t k = 0; k < global_batch_; ++k) {
    const int64_t position = global_step * global_batch_ + k;
    const int64_t epoch = position / n;
    if (cache_->epoch != epoch) {
      cache_->order = epoch_order(epoch);
      cache_->epoch = epoch;
    }
    out[k] = cache_->order[position % n];
  }
  return out;
}

}  // namespace cf::data
