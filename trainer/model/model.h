// Model: the GPT-style behaviour-sequence decoder (embeddings, pre-LN blocks, heads) with
// explicit forward and backward, parameters in one contiguous buffer, activations in an arena.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/corpus.h"
#include "trainer/model/gradient_support.h"
#include "trainer/model/model_types.h"

namespace cf::trainer {

class Model {
 public:
  // `item_features` (the corpus's, data::CorpusReader::item_features) is needed when
  // config.item_features is not none: UserError if it is missing or does not fit `vocab`.
  Model(const ModelConfig& config, const data::VocabSizes& vocab,
        std::shared_ptr<const data::ItemFeatures> item_features = nullptr);
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  const ModelConfig& config() const;
  const data::VocabSizes& vocab() const;
  // The item features the model was built with (null when model.item_features is none).
  const std::shared_ptr<const data::ItemFeatures>& item_features() const;

  // Deterministic initialisation from `seed` (normal(0, 0.02) weights, LN = 1/0, biases 0;
  // attn.proj / mlp.fc2 weights scaled by 1/sqrt(2*n_layer)). Each tensor's values depend only
  // on (seed, tensor name). Row 0 (padding) of every embedding table is an ordinary trainable
  // row: padding positions are never computed, so it only trains where a real event carries
  // token 0 (and, for the tied item table, through the softmax, which learns to rank it last).
  void init_weights(uint64_t seed);
  std::vector<float>& params();
  std::vector<float>& grads();
  const std::vector<float>& params() const;  // for checkpoint writers holding a const Model&
  const std::vector<float>& grads() const;
  const std::vector<ParamTensor>& tensors() const;
  const ParamTensor& tensor(const std::string& name) const;  // throws if absent

  // Training: forward + backward on one micro-batch, ACCUMULATING into grads().
  // `dropout_seed` makes dropout masks a pure function of the step (bit-exact resume). Masks
  // and sampled negatives are drawn per sequence (keyed by batch.sequence_index, or the row
  // number when it is empty), so how a global batch is cut into micro-batches does not matter.
  // Only real positions are computed (packed rows); padding costs nothing outside attention.
  LossSums forward_backward(const data::Batch& batch, const LossOptions& loss,
                            uint64_t dropout_seed);
  // During forward_backward, `hook(first)` is called each time the gradients of every element
  // at offset >= first are final (heads and ln_f, each block from the last, then the
  // embeddings at first = 0): data-parallel training starts reducing those while backward
  // goes on. Empty function = no calls.
  void set_grads_ready_hook(std::function<void(int64_t first_final_offset)> hook);
  // Every element of grads() that forward_backward(batch, loss) may write, ascending
  // (trainer/model/gradient_support.h); the rest it leaves untouched. Valid until the next
  // call; calls under the same shared candidates reuse their common part.
  const std::vector<GradientRange>& gradient_support(const data::Batch& batch,
                                                     const LossOptions& loss);
  // Forward only, no dropout, returns loss sums (validation loss).
  LossSums evaluate_loss(const data::Batch& batch, const LossOptions& loss);

  // Inference (no dropout): final-LayerNorm hidden state at position length[b]-1 of each row.
  // out: [B, d_model].
  void last_hidden(const data::Batch& batch, std::vector<float>& out);
  // Inference (no dropout): final-LayerNorm hidden state at every position, zeros at padding
  // positions (they are never computed). out: [B*T, d_model].
  void hidden_states(const data::Batch& batch, std::vector<float>& out);
  // Scores over the whole item vocabulary for hidden[B, d]: out [B, items] (index = token id;
  // column 0 is padding and is set to -inf).
  void item_scores(const float* hidden, int B, float* out) const;
  // Purchase propensity logits for hidden[B, d] (needs propensity_head). out [B].
  void propensity_logits(const float* hidden, int B, float* out) const;
  // Next-action logits for hidden[B, d] (needs action_head): out [B, actions] (index = action
  // token; column 0 is padding and is set to -inf).
  void action_logits(const float* hidden, int B, float* out) const;

  // Incremental decoding with a key/value cache, for multi-step generation: feed one event per
  // lane at a time (position = number of events fed so far), get the final hidden state of
  // that event.
  class Decoder {
   public:
    virtual ~Decoder() = default;
    virtual void reset() = 0;
    // Appends one event to lane 0; returns its final-LN hidden state (the first d_model values;
    // the vector holds lanes() rows). Throws if max_len reached.
    virtual const std::vector<float>& append(int32_t item, int32_t action, int32_t category,
                                             int32_t time_gap, int32_t activity) = 0;
    virtual int length() const = 0;
    // Keeps the first `length` events (<= length()) and forgets the rest, exactly.
    virtual void truncate(int length) = 0;
    // Lanes (KvDecoder): sequences of one length that step together. append feeds lane 0;
    // append_lanes feeds event b to lane b for b < n and returns n rows [n, d_model] (lanes n
    // and above fall behind until copy_lane overwrites them); copy_lane(from, to) makes lane
    // `to` hold lane `from`'s events.
    virtual int lanes() const = 0;
    virtual const std::vector<float>& append_lanes(int n, const int32_t* items,
                                                   const int32_t* actions,
                                                   const int32_t* categories,
                                                   const int32_t* time_gaps,
                                                   const int32_t* activities) = 0;
    virtual void copy_lane(int from, int to) = 0;
  };
  // The decoder reads this model's parameters: the model must outlive it.
  std::unique_ptr<Decoder> make_decoder(int lanes = 1) const;

  // Forward + backward FLOPs per real token (for tokens/s -> GFLOP/s in benchmarks).
  // `item_logits`: items scored per position by the item loss (0 = every item: full softmax).
  double flops_per_token(int seq_len, int64_t item_logits = 0) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf::trainer
