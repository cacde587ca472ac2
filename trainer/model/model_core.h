// ModelCore<T>: the decoder's forward, backward and heads, templated over the float type so
// the same code trains in float and is gradient-checked in double. Model wraps ModelCore<float>.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "trainer/model/activation_arena.h"
#include "trainer/model/model_layout.h"
#include "trainer/model/model_types.h"

namespace cf::trainer {

// Rows of the item softmax computed per chunk: 256 x V logits (56 MB at V = 54k) was the
// fastest of 64/128/256 in bench_kernels, and stays far below the full positions x V matrix.
// The memory estimate (trainer/memory_estimate.cpp) counts the chunk's buffers from it.
inline constexpr int kItemSoftmaxChunkRows = 256;

template <class T>
class ModelCore {
 public:
  // `item_features`: the corpus's feature tokens per item; required (and checked against
  // `vocab`) when config.item_features is not none, ignored otherwise.
  ModelCore(const ModelConfig& config, const data::VocabSizes& vocab,
            std::shared_ptr<const data::ItemFeatures> item_features = nullptr);

  const ModelConfig& config() const { return config_; }
  const data::VocabSizes& vocab() const { return vocab_; }
  const ModelLayout& layout() const { return layout_; }

  void init_weights(uint64_t seed);
  std::vector<T>& params() { return params_; }
  std::vector<T>& grads() { return grads_; }
  const std::vector<T>& params() const { return params_; }
  const std::vector<T>& grads() const { return grads_; }
  const ParamTensor& tensor(const std::string& name) const;

  LossSums forward_backward(const data::Batch& batch, const LossOptions& loss,
                            uint64_t dropout_seed);
  LossSums evaluate_loss(const data::Batch& batch, const LossOptions& loss);
  // Forward without dropout; final-LN hidden states [B*T, C], zero at padding positions.
  void hidden_states(const data::Batch& batch, std::vector<T>& out);
  void last_hidden(const data::Batch& batch, std::vector<T>& out);
  void item_scores(const T* hidden, int B, T* out) const;
  void propensity_logits(const T* hidden, int B, T* out) const;
  void action_logits(const T* hidden, int B, T* out) const;
  // `item_logits`: items scored per position by the item loss (0 = every item: full softmax).
  double flops_per_token(int seq_len, int64_t item_logits = 0) const;

  // Called during backward each time the gradients of every element at offset >= the argument
  // are final for this micro-batch (heads, then each block from the last, then embeddings), so
  // data-parallel training can start reducing them while backward continues.
  void set_grads_ready_hook(std::function<void(int64_t)> hook) { grads_ready_ = std::move(hook); }

  // Parameter pointer by layout offset (the decoder reads weights through this).
  const T* param(int64_t offset) const { return params_.data() + offset; }
  // Input side of model.item_features: rows[n] += mean of the feature embeddings of items[n]
  // (nothing when features are off the input or the item has none).
  void add_input_item_features(T* rows, const int32_t* items, int n) const;
  const std::shared_ptr<const data::ItemFeatures>& item_features() const { return features_; }

 private:
  void validate(const data::Batch& batch, const LossOptions* loss) const;
  // Collects the real positions of `batch` into the arena's packed rows.
  void pack(const data::Batch& batch);
  void scatter_to_padded(T* padded, const T* packed, int width, const data::Batch& batch) const;
  void gather_from_padded(T* packed, const T* padded, int width, const data::Batch& batch) const;
  // Identity of row b for dropout masks and negatives: its corpus sequence id when the batch
  // carries them, else b.
  static uint64_t sequence_key(const data::Batch& batch, int b);
  // Dropout over the packed rows, one mask stream per sequence (see model_core.cpp).
  void dropout_forward(T* out, const T* inp, float p, uint64_t site_seed,
                       const data::Batch& batch) const;
  void dropout_backward(T* dinp, const T* dout, float p, uint64_t site_seed,
                        const data::Batch& batch) const;
  void forward(const data::Batch& batch, float dropout, uint64_t dropout_seed);
  // One block each, residual[l] -> residual[l + 1]; the backward ones take d_residual as
  // dLoss/d(residual[l + 1]) and leave dLoss/d(residual[l]) in it.
  void gpt_block_forward(const data::Batch& batch, int l, float dropout, uint64_t dropout_seed);
  void ligr_block_forward(const data::Batch& batch, int l, float dropout, uint64_t dropout_seed);
  void hstu_block_forward(const data::Batch& batch, int l, float dropout, uint64_t dropout_seed);
  void gpt_block_backward(const data::Batch& batch, int l, float dropout, uint64_t dropout_seed);
  void ligr_block_backward(const data::Batch& batch, int l, float dropout, uint64_t dropout_seed);
  void hstu_block_backward(const data::Batch& batch, int l, float dropout, uint64_t dropout_seed);
  // The softmax attention sublayer gpt and ligr share: ln1 -> qkv -> attention -> proj
  // (into act.proj), and its backward from arena.d_branch = dLoss/d(act.proj), which adds
  // the gradient of residual[l] through ln1 into d_residual.
  void attention_sublayer_forward(const data::Batch& batch, int l);
  void attention_sublayer_backward(const data::Batch& batch, int l);
  // Loss heads on the final hidden states; with `with_grad` they also fill arena.d_hidden
  // and accumulate head parameter gradients.
  LossSums losses(const data::Batch& batch, const LossOptions& loss, bool with_grad);
  void backward(const data::Batch& batch, float dropout, uint64_t dropout_seed);

  // Output side of model.item_features: `table` [V, C] = the head's item weights plus each
  // item's mean feature embedding.
  void build_output_item_table(std::vector<T>& table) const;
  // Gradient of the mean feature embeddings: for every n, grad(feature f of items[n]) +=
  // d_rows[n] / (number of features of items[n]). items null: row n is item n (the whole table).
  void item_features_backward(const int32_t* items, const T* d_rows, int n);
  // rows[n] += mean feature embedding of items[n] (items null: of item n).
  void add_mean_item_features(T* rows, const int32_t* items, int n) const;
  // visit(n, feature, 1 / number of features) for every feature of items[n] (items null: n).
  template <class Visit>
  void for_each_item_feature(const int32_t* items, int n, Visit&& visit) const;

  T* p(int64_t offset) { return params_.data() + offset; }
  T* g(int64_t offset) { return grads_.data() + offset; }

  ModelConfig config_;
  data::VocabSizes vocab_;
  ModelLayout layout_;
  std::vector<T> params_, grads_;
  ActivationArena<T> arena_;
  std::shared_ptr<const data::ItemFeatures> features_;
  // Training with features on the output: the effective head table and its gradient, which
  // backward splits between the head weights and the feature table.
  std::vector<T> output_table_, d_output_table_;
  std::function<void(int64_t)> grads_ready_;
};

extern template class ModelCore<float>;
extern template class ModelCore<double>;

}  // namespace cf::trainer
