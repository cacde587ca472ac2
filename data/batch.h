// Batch and BatchSampler: fixed-shape training batches and the global sample order.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "data/corpus.h"

namespace cf::data {

// B sequences x T positions, right-padded: position t < length[b] is a real event, the rest is
// padding (all channels 0). Long histories are left-truncated to the last T events.
// target_item[b*T+t] is the item of the event after position t (0 = no target, ignored by the
// loss); target_action likewise. label[b] is the sequence's purchase label (-1 unknown).
struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> item, action, category, time_gap, activity;  // [B*T]
  std::vector<int32_t> target_item, target_action;                  // [B*T]
  std::vector<int32_t> length;                                      // [B] real positions
  std::vector<float> label;                                         // [B]
  std::vector<int64_t> sequence_index;                              // [B] corpus sequence ids
  void resize(int batch, int time);                                 // zero-fills everything
  int64_t num_targets() const;                                      // count of target_item > 0
};

// `to` becomes a one-row batch holding row b of `from` (DP-SGD's per-user passes).
void copy_row(const Batch& from, int b, Batch& to);

// Fills row `b` of `batch` from the first `visible` events of `seq`. With `train_targets`
// every position t < n-1 gets target = event t+1 (next-event pretraining); otherwise no
// targets are set (inference rows: the caller scores the last position).
// The whole row is overwritten (stale values from an earlier batch never leak through);
// sequence_index[b] = seq.index and label[b] = -1, which a fine-tuning caller then sets.
void fill_batch_row(Batch& batch, int b, const Sequence& seq, int32_t visible, bool train_targets);

// The global sample order is a pure function of (seed, epoch, step), never of world size or
// micro-batch size: the sampler permutes the eligible sequences per epoch (seeded), and global
// step s covers positions [s*G, (s+1)*G) of that stream, where G is the global batch size.
// A rank then takes its micro-batches out of that global batch. This is what lets N ranks
// equal one rank with N-fold accumulation, and a run resume at another world size.
class BatchSampler {
 public:
  // `eligible`: corpus sequence ids that have training events (>= 2 visible events). They are
  // sorted and de-duplicated first, so the order the caller lists them in does not matter.
  // No eligible ids is a UserError (nothing to train on).
  BatchSampler(std::vector<int64_t> eligible, uint64_t seed, int global_batch);
  // Sequence ids of the global batch at `global_step` (epoch derived from it).
  std::vector<int64_t> global_batch(int64_t global_step) const;
  // ceil(eligible / G): an epoch's last batch is completed from the start of the next epoch.
  int64_t steps_per_epoch() const;
  int global_batch_size() const { return global_batch_; }
  // The permutation of the eligible ids used in `epoch` (xoshiro256** Fisher-Yates; the same on
  // every platform and compiler).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  struct EpochCache;
  std::vector<int64_t> eligible_;
  uint64_t seed_;
  int global_batch_;
  std::shared_ptr<EpochCache> cache_;  // last epoch's order; shared by copies (same values)
};

}  // namespace cf::data
