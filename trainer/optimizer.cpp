#include "trainer/optimizer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"

namespace cf::trainer {
namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool same_rule(const TensorUpdateRule& a, const TensorUpdateRule& b) {
  return a.lr_scale == b.lr_scale && a.weight_decay == b.weight_decay && a.frozen == b.frozen;
}

}  // namespace

AdamWHyperparams adamw_hyperparams(const TrainSection& train) {
  AdamWHyperparams h;
  h.beta1 = train.beta1;
  h.beta2 = train.beta2;
  h.eps = train.eps;
  h.weight_decay = train.weight_decay;
  h.decay_embeddings = train.decay_embeddings;
  return h;
}

bool is_embedding_tensor(const ParamTensor& t) {
  return t.is_matrix_weight && t.block < 0 && ends_with(t.name, "_emb.weight");
}

bool is_task_head_tensor(const ParamTensor& t, TaskKind task) {
  switch (task) {
    case TaskKind::kPretrain:
      return starts_with(t.name, "item_head.") || starts_with(t.name, "action_head.");
    case TaskKind::kNextItem:
    case TaskKind::kCopy:
      return starts_with(t.name, "item_head.");
    case TaskKind::kPropensity:
      return starts_with(t.name, "propensity_head.");
  }
  return false;
}

AdamW::AdamW(const std::vector<ParamTensor>& tensors, int64_t num_params,
             const AdamWHyperparams& hyperparams)
    : tensors_(tensors), hyperparams_(hyperparams) {
  std::sort(tensors_.begin(), tensors_.end(),
            [](const ParamTensor& a, const ParamTensor& b) { return a.offset < b.offset; });
  int64_t end_of_previous = 0;
  for (const auto& t : tensors_) {
    CF_CHECK(t.offset >= end_of_previous && t.offset + t.numel() <= num_params,
             "parameter tensors overlap or leave the buffer: " + t.name);
    end_of_previous = t.offset + t.numel();
    TensorUpdateRule rule;
    // Decoupled decay on matrix weights; embedding tables only on request; never on biases
    // and LayerNorm parameters (is_matrix_weight == false).
    bool decays = t.is_matrix_weight && (!is_embedding_tensor(t) || hyperparams_.decay_embeddings);
    rule.weight_decay = decays ? hyperparams_.weight_decay : 0.0f;
    rules_.push_back(rule);
  }
  num_params_ = num_params;
  set_shard(0, num_params);
}

void AdamW::set_shard(int64_t begin, int64_t end) {
  CF_CHECK(0 <= begin && begin <= end && end <= num_params_, "optimizer shard out of range");
  shard_begin_ = begin;
  shard_end_ = end;
  m_.assign(static_cast<size_t>(end - begin), 0.0f);
  v_.assign(static_cast<size_t>(end - begin), 0.0f);
}

size_t AdamW::index_of(const std::string& tensor_name) const {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (tensors_[i].name == tensor_name) return i;
  }
  CF_CHECK(false, "no parameter tensor named " + tensor_name);
  return 0;
}

void AdamW::apply_task_policy(const TaskSection& task) {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const ParamTensor& t = tensors_[i];
    bool in_frozen_block = t.block >= 0 && t.block < task.freeze_blocks;
    rules_[i].frozen = in_frozen_block || (task.freeze_blocks > 0 && is_embedding_tensor(t));
    rules_[i].lr_scale = is_task_head_tensor(t, task.kind) ? 1.0f : task.body_lr_scale;
  }
  ranges_stale_ = true;
}

void AdamW::set_frozen(const std::string& tensor_name, bool frozen) {
  rules_[index_of(tensor_name)].frozen = frozen;
  ranges_stale_ = true;
}

void AdamW::set_lr_scale(const std::string& tensor_name, float scale) {
  rules_[index_of(tensor_name)].lr_scale = scale;
  ranges_stale_ = true;
}

const TensorUpdateRule& AdamW::rule(const std::string& tensor_name) const {
  return rules_[index_of(tensor_name)];
}

const std::vector<AdamW::Range>& AdamW::ranges() const {
  if (!ranges_stale_) return ranges_;
  ranges_.clear();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const ParamTensor& t = tensors_[i];
    if (!ranges_.empty()) {
      Range& last = ranges_.back();
      if (last.begin + last.count == t.offset && same_rule(last.rule, rules_[i])) {
        last.count += t.numel();
        continue;
      }
    }
    ranges_.push_back({t.offset, t.numel(), rules_[i]});
  }
  ranges_stale_ = false;
  return ranges_;
}

double AdamW::grad_norm(const std::vector<float>& grads) const {
  CF_CHECK(shard_begin_ == 0 && shard_end_ == num_params_ && int64_t(grads.size()) == num_params_,
           "gradient buffer size differs from the parameters");
  return std::sqrt(grad_sum_of_squares(grads.data()));
}

void AdamW::step(std::vector<float>& params, const std::vector<float>& grads, float lr,
                 float grad_scale) {
  CF_CHECK(shard_begin_ == 0 && shard_end_ == num_params_ &&
               int64_t(params.size()) == num_params_ && int64_t(grads.size()) == num_params_,
           "parameter/gradient buffer size differs from the optimizer state");
  step_shard(params.data(), grads.data(), lr, grad_scale);
}

double AdamW::grad_sum_of_squares(const float* shard_grads) const {
  double sum = 0;
  for (const Range& r : ranges()) {
    int64_t lo = std::max(r.begin, shard_begin_), hi = std::min(r.begin + r.count, shard_end_);
    if (!r.rule.frozen && lo < hi)
      sum += ops::sum_of_squares(shard_grads + (lo - shard_begin_), hi - lo);
  }
  return sum;
}

void AdamW::step_shard(float* params, const float* shard_grads, float lr, float grad_scale) {
  ++steps_taken_;
  for (const Range& r : ranges()) {
    int64_t lo = std::max(r.begin, shard_begin_), hi = std::min(r.begin + r.count, shard_end_);
    if (r.rule.frozen || lo >= hi) continue;
    const int64_t at = lo - shard_begin_;
    ops::adamw_update(params + lo, shard_grads + at, m_.data() + at, v_.data() + at, hi - lo,
                      lr * r.rule.lr_scale, hyperparams_.beta1, hyperparams_.beta2,
                      hyperparams_.eps, r.rule.weight_decay, steps_taken_, grad_scale);
  }
}

void AdamW::load_state(std::vector<float> m, std::vector<float> v, int64_t steps_taken) {
  CF_CHECK(m.size() == v.size() && (int64_t(m.size()) == num_params_ || m.size() == m_.size()),
           "optimizer state size differs from the parameters");
  CF_CHECK(steps_taken >= 0, "negative step count");
  if (m.size() == m_.size()) {
    m_ = std::move(m);
    v_ = std::move(v);
  } else {  // the whole buffer: keep this shard's part
    m_.assign(m.begin() + shard_begin_, m.begin() + shard_end_);
    v_.assign(v.begin() + shard_begin_, v.begin() + shard_end_);
  }
  steps_taken_ = steps_taken;
}

float clip_factor(double grad_norm, float max_norm) {
  if (max_norm <= 0 || !(grad_norm > max_norm)) return 1.0f;
  return static_cast<float>(max_norm / grad_norm);
}

}  // namespace cf::trainer
