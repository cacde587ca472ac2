// KvDecoder<T>: event-by-event inference over a ModelCore with a per-layer key/value cache, for
// one sequence or several stepping together (lanes).
#pragma once
#include <cstdint>
#include <vector>

#include "trainer/model/model_core.h"

namespace cf::trainer {

// Keeps K and V of every fed position for every block, so appending event t costs one
// position's matmuls plus attention over t+1 cached keys. Its hidden state equals the full
// forward's at that position (tested) for every block kind: gpt and ligr cache softmax
// attention's K and V; hstu caches its K and V after the SiLU (its pointwise attention divides
// by the constant max_len, so earlier positions never change as events are appended).
//
// Lanes: a decoder may hold several sequences of one length that step together (the drafts of
// one prompt). Appending to n lanes runs each product once over n rows, which reads every weight
// once per step instead of once per sequence: batch-1 decoding is bound by memory traffic.
// Each lane's hidden states equal those of a one-lane decoder fed the same events (within
// float rounding: the products' summation order may differ with the row count; tested).
// Reads the model's parameters: the model must outlive it.
template <class T>
class KvDecoder {
 public:
  explicit KvDecoder(const ModelCore<T>& model, int lanes = 1);
  void reset() { length_ = 0; }
  int lanes() const { return lanes_; }
  // Appends one event to lane 0 and returns its final-LayerNorm hidden state (the first d_model
  // values; the vector holds lanes() rows). Throws UserError once max_len events have been fed,
  // or for an out-of-vocabulary token.
  const std::vector<T>& append(int32_t item, int32_t action, int32_t category, int32_t time_gap,
                               int32_t activity) {
    return append_lanes(1, &item, &action, &category, &time_gap, &activity);
  }
  // Appends event b to lane b for b < n (1 <= n <= lanes()) and returns their hidden states, row
  // b for lane b. Lanes n and above are not fed: they fall behind and hold nothing usable past
  // their last append until copy_lane overwrites them.
  const std::vector<T>& append_lanes(int n, const int32_t* items, const int32_t* actions,
                                     const int32_t* categories, const int32_t* time_gaps,
                                     const int32_t* activities);
  // Every lane's length: that of the lanes fed last.
  int length() const { return length_; }
  // Forgets every event after the first `length` (0 <= length <= length()) in every lane: the
  // cache holds only keys and values by position, so the next append continues exactly as if
  // they had never been fed (a new round of drafts starts again from the shared prompt).
  void truncate(int length);
  // Makes lane `to` hold what lane `from` holds (its first length() events): a prompt fed once
  // in lane 0 is copied to the others (n drafts share it without feeding it n times); a running
  // draft moves into the lane of a finished one.
  void copy_lane(int from, int to);

 private:
  // Stores this position's key and value of layer l for lanes 0..n-1: row b of `rows` (`stride`
  // values apart) holds its key at `key_at` and its value at `value_at`.
  void cache_position(int l, int n, const T* rows, int stride, int key_at, int value_at);
  // Softmax: fills att_out_'s first n rows from qkv_ (this position of each lane) and the cache.
  void attend(int layer, int n);
  void hstu_attend(int layer, int n);  // pointwise: the same from uvqk_
  // gpt and ligr: LayerNorm, q/k/v, the cache, attention and its projection into branch_.
  void attention_branch(int layer, int n);
  void gpt_block(int layer, int n);
  void ligr_block(int layer, int n);
  void hstu_block(int layer, int n);
  // Lane b's cached keys (or values) of layer l, [max_len, C].
  T* lane_cache(std::vector<std::vector<T>>& cache, int l, int b) {
    return cache[size_t(l)].data() + int64_t(b) * max_len_ * d_model_;
  }

  const ModelCore<T>& model_;
  const int lanes_, max_len_, d_model_;
  int length_ = 0;
  std::vector<std::vector<T>> keys_, values_;  // per layer [lanes, max_len, C]
  // Per lane one row each.
  std::vector<T> x_, ln_, qkv_, att_out_, branch_, fc1_, gelu_, hidden_, mean_, rstd_;
  std::vector<T> scores_;                   // [max_len], one lane and head at a time
  std::vector<T> gate_, gate_up_, swiglu_;  // ligr
  std::vector<T> uvqk_linear_, uvqk_, av_normed_, gated_;  // hstu
};

extern template class KvDecoder<float>;
extern template class KvDecoder<double>;

}  // namespace cf::trainer
