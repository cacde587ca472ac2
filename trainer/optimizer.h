// AdamW: the optimizer over the model's flat parameter buffer, with per-tensor weight-decay
// groups, learning-rate multipliers and freezing (fine-tuning), and global-norm clipping.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "trainer/config.h"
#include "trainer/model/model_types.h"

namespace cf::trainer {

struct AdamWHyperparams {
  float beta1 = 0.9f, beta2 = 0.98f, eps = 1e-8f;
  float weight_decay = 0.1f;
  bool decay_embeddings = false;  // matrix weights always decay; embedding tables only if set
};
AdamWHyperparams adamw_hyperparams(const TrainSection& train);

// Parameter groups, decided from the names build_model_layout gives (trainer/model/model_layout.cpp):
// input embedding tables are "<channel>_emb.weight"; heads are "<head>_head.{weight,bias}".
bool is_embedding_tensor(const ParamTensor& t);
// The head(s) a task trains: pretrain -> item_head and action_head, next_item -> item_head,
// propensity -> propensity_head. Everything else is the "body" (task.body_lr_scale).
bool is_task_head_tensor(const ParamTensor& t, TaskKind task);

// What the optimizer does to one tensor.
struct TensorUpdateRule {
  float lr_scale = 1.0f;      // multiplies the scheduled learning rate
  float weight_decay = 0.0f;  // decoupled decay coefficient (0 for biases, LayerNorm, ...)
  bool frozen = false;        // neither updated nor counted in the gradient norm
};

class AdamW {
 public:
  // `tensors` as Model::tensors(); `num_params` the size of the flat buffer they live in.
  AdamW(const std::vector<ParamTensor>& tensors, int64_t num_params,
        const AdamWHyperparams& hyperparams);

  // Fine-tuning policy: freezes blocks [0, task.freeze_blocks) and, if that is > 0, the input
  // embeddings; scales the LR of every non-head tensor by task.body_lr_scale.
  void apply_task_policy(const TaskSection& task);
  void set_frozen(const std::string& tensor_name, bool frozen);
  void set_lr_scale(const std::string& tensor_name, float scale);
  const TensorUpdateRule& rule(const std::string& tensor_name) const;  // throws if absent

  // L2 norm of the gradient over the trainable (non-frozen) tensors, summed in double.
  // Unsharded optimizer only.
  double grad_norm(const std::vector<float>& grads) const;

  // One AdamW step on every trainable tensor: grads are multiplied by `grad_scale` (the
  // clipping factor) and the learning rate by each tensor's lr_scale. Bias correction uses the
  // 1-based count of steps taken, including those restored by load_state(). Unsharded only.
  void step(std::vector<float>& params, const std::vector<float>& grads, float lr,
            float grad_scale = 1.0f);

  // ZeRO-1: this optimizer keeps state for, and updates, only elements [begin, end) of the
  // flat buffer (its rank's shard); the other ranks own the rest. Drops any state held.
  void set_shard(int64_t begin, int64_t end);
  int64_t shard_begin() const { return shard_begin_; }
  int64_t shard_end() const { return shard_end_; }
  // Sum of squared gradients over the trainable elements of the shard; `shard_grads` holds
  // the gradient of element shard_begin() first. (Ranks add theirs to get the global norm.)
  double grad_sum_of_squares(const float* shard_grads) const;
  // step() restricted to the shard: updates params[shard_begin(), shard_end()) in the full
  // buffer `params` from `shard_grads`.
  void step_shard(float* params, const float* shard_grads, float lr, float grad_scale = 1.0f);

  // Optimizer state of the shard (the whole buffer unless set_shard was called), laid out
  // like the parameters from shard_begin() on.
  const std::vector<float>& m() const { return m_; }
  const std::vector<float>& v() const { return v_; }
  int64_t steps_taken() const { return steps_taken_; }
  // Runs of adjacent tensors sharing one rule, for optimizers that run elsewhere (the CUDA
  // backend applies the same rules to its device buffers), and the step counter they advance.
  struct Range {
    int64_t begin = 0, count = 0;
    TensorUpdateRule rule;
  };
  const std::vector<Range>& update_ranges() const { return ranges(); }
  const AdamWHyperparams& hyperparams() const { return hyperparams_; }
  // Counts a step taken on the device; returns the new 1-based step count (bias correction).
  int64_t count_external_step() { return ++steps_taken_; }

  // Restores state saved by a checkpoint: either the whole buffer (the shard's part is kept)
  // or exactly the shard.
  void load_state(std::vector<float> m, std::vector<float> v, int64_t steps_taken);

 private:
  size_t index_of(const std::string& tensor_name) const;
  const std::vector<Range>& ranges() const;

  std::vector<ParamTensor> tensors_;     // sorted by offset
  std::vector<TensorUpdateRule> rules_;  // parallel to tensors_
  AdamWHyperparams hyperparams_;
  std::vector<float> m_, v_;
  int64_t steps_taken_ = 0;
  int64_t num_params_ = 0, shard_begin_ = 0, shard_end_ = 0;
  mutable std::vector<Range> ranges_;  // rebuilt lazily after a rule changes
  mutable bool ranges_stale_ = true;
};

// Factor that scales a gradient of norm `grad_norm` down to `max_norm` (1 when it is already
// within, or when max_norm <= 0, i.e. clipping is off).
float clip_factor(double grad_norm, float max_norm);

}  // namespace cf::trainer
