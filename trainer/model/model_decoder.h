// KvDecoder<T>: one-event-at-a-time inference over a ModelCore with a per-layer key/value cache.
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
// Reads the model's parameters: the model must outlive it.
template <class T>
class KvDecoder {
 public:
  explicit KvDecoder(const ModelCore<T>& model);
  void reset() { length_ = 0; }
  // Appends one event and returns its final-LayerNorm hidden state [d_model].
  // Throws UserError once max_len events have been fed, or for an out-of-vocabulary token.
  const std::vector<T>& append(int32_t item, int32_t action, int32_t category, int32_t time_gap,
                               int32_t activity);
  int length() const { return length_; }
  // Forgets every event after the first `length` (0 <= length <= length()): the cache holds only
  // keys and values by position, so the next append continues exactly as if they had never
  // been fed (n drafts share one prompt without feeding it n times).
  void truncate(int length);

 private:
  void attend(int layer);       // softmax: fills att_out_ from qkv_ (this position) and the cache
  void hstu_attend(int layer);  // pointwise: fills att_out_ from uvqk_ and the cache
  void gpt_block(int layer);
  void ligr_block(int layer);
  void hstu_block(int layer);

  const ModelCore<T>& model_;
  int length_ = 0;
  std::vector<std::vector<T>> keys_, values_;  // per layer [max_len, C]
  std::vector<T> x_, ln_, qkv_, att_out_, branch_, fc1_, gelu_, scores_, hidden_;
  std::vector<T> gate_, gate_up_, swiglu_;  // ligr
  std::vector<T> uvqk_linear_, uvqk_, av_normed_, gated_;  // hstu
  T mean_[1], rstd_[1];
};

extern template class KvDecoder<float>;
extern template class KvDecoder<double>;

}  // namespace cf::trainer
