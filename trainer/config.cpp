#include "trainer/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>

#include "core/atomic_file.h"
#include "core/config_fields.h"
#include "core/error.h"

namespace cf::trainer {
namespace {

// Every config key, in the order to_yaml() writes them. One list drives parsing, overrides,
// emission and key suggestions, so a field cannot be readable but not written (or vice versa).
template <class Visitor>
void visit_fields(Config& c, Visitor&& v) {
  v("run.out_dir", c.run.out_dir);
  v("run.seed", c.run.seed);
  v("run.device", c.run.device);
  v("run.precision", c.run.precision);

  v("data.corpus", c.data.corpus);

  v("model.block", c.model.block);
  v("model.n_layer", c.model.n_layer);
  v("model.n_head", c.model.n_head);
  v("model.d_model", c.model.d_model);
  v("model.d_ff", c.model.d_ff);
  v("model.max_len", c.model.max_len);
  v("model.dropout", c.model.dropout);
  v("model.tied_item_head", c.model.tied_item_head);
  v("model.action_head", c.model.action_head);
  v("model.propensity_head", c.model.propensity_head);
  v("model.use_action", c.model.use_action);
  v("model.use_category", c.model.use_category);
  v("model.use_time_gap", c.model.use_time_gap);
  v("model.use_activity", c.model.use_activity);
  v("model.item_features", c.model.item_features);
  v("model.cooccurrence_prior", c.model.cooccurrence_prior);

  v("task.kind", c.task.kind);
  v("task.init_from", c.task.init_from);
  v("task.freeze_blocks", c.task.freeze_blocks);
  v("task.body_lr_scale", c.task.body_lr_scale);
  v("task.action_loss_weight", c.task.action_loss_weight);
  v("task.purchases_only", c.task.purchases_only);
  v("task.copy_input_noise", c.task.copy_input_noise);

  v("loss.kind", c.loss.kind);
  v("loss.negatives", c.loss.negatives);
  v("loss.sampler", c.loss.sampler);
  v("loss.popularity_alpha", c.loss.popularity_alpha);
  v("loss.in_batch_negatives", c.loss.in_batch_negatives);
  v("loss.logq_correction", c.loss.logq_correction);
  v("loss.gbce_t", c.loss.gbce_t);

  v("train.steps", c.train.steps);
  v("train.epochs", c.train.epochs);
  v("train.micro_batch", c.train.micro_batch);
  v("train.grad_accum", c.train.grad_accum);
  v("train.global_batch", c.train.global_batch);
  v("train.lr", c.train.lr);
  v("train.schedule", c.train.schedule);
  v("train.warmup_steps", c.train.warmup_steps);
  v("train.min_lr_ratio", c.train.min_lr_ratio);
  v("train.weight_decay", c.train.weight_decay);
  v("train.decay_embeddings", c.train.decay_embeddings);
  v("train.beta1", c.train.beta1);
  v("train.beta2", c.train.beta2);
  v("train.eps", c.train.eps);
  v("train.grad_clip", c.train.grad_clip);
  v("train.log_every", c.train.log_every);
  v("train.eval_every", c.train.eval_every);
  v("train.eval_batches", c.train.eval_batches);

  v("checkpoint.every", c.checkpoint.every);
  v("checkpoint.keep_last", c.checkpoint.keep_last);
  v("checkpoint.keep_best", c.checkpoint.keep_best);

  v("validation.metric", c.validation.metric);
  v("validation.every", c.validation.every);
  v("validation.users", c.validation.users);
  v("validation.patience", c.validation.patience);
  v("validation.min_delta", c.validation.min_delta);
  v("validation.holdout", c.validation.holdout);

  v("comm.timeout_s", c.comm.timeout_s);
  v("comm.bucket_mb", c.comm.bucket_mb);
  v("comm.zero1", c.comm.zero1);

  v("cuda.precision", c.cuda.precision);
  v("cuda.attention", c.cuda.attention);
  v("cuda.deterministic", c.cuda.deterministic);

  v("privacy.enabled", c.privacy.enabled);
  v("privacy.target_epsilon", c.privacy.target_epsilon);
  v("privacy.delta", c.privacy.delta);
  v("privacy.clip_norm", c.privacy.clip_norm);
  v("privacy.init_from_public", c.privacy.init_from_public);
  v("privacy.noise_key_file", c.privacy.noise_key_file);
}

const std::vector<std::string>& all_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    Config c;
    visit_fields(c, [&](const char* key, auto&) { out.emplace_back(key); });
    return out;
  }();
  return keys;
}

std::set<std::string> section_names() {
  std::set<std::string> out;
  for (const auto& key : all_keys()) out.insert(key.substr(0, key.find('.')));
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string leaf_of(const std::string& key) {
  size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

// " (did you mean 'train.steps'?)" when a valid key is a small edit away, or when the leaf
// exists in another section (e.g. 'model.lr' -> 'train.lr'); empty otherwise.
std::string suggestion_for(const std::string& unknown) {
  std::vector<std::string> candidates = all_keys();
  if (unknown.find('.') == std::string::npos) {
    auto sections = section_names();
    candidates.assign(sections.begin(), sections.end());
  }
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const auto& key : candidates) {
    if (key == unknown) continue;  // a section named where a key is expected
    size_t d = edit_distance(unknown, key);
    if (d < best_distance) best_distance = d, best = key;
  }
  size_t allowed = std::max<size_t>(2, unknown.size() / 4);
  if (!best.empty() && best_distance <= allowed) return " (did you mean '" + best + "'?)";
  for (const auto& key : all_keys()) {
    if (leaf_of(key) == leaf_of(unknown)) return " (did you mean '" + key + "'?)";
  }
  return "";
}

using config_fields::RawValue;
using config_fields::WrongType;

// Whether a task's model ranks items, so validation can follow a ranking metric: the
// propensity head scores users and the copy model writes text; both follow the loss.
bool ranks_items(TaskKind kind) { return kind != TaskKind::kPropensity && kind != TaskKind::kCopy; }

constexpr TaskKind kTaskKinds[] = {TaskKind::kPretrain, TaskKind::kNextItem, TaskKind::kPropensity,
                                   TaskKind::kCopy};
constexpr LrSchedule kSchedules[] = {LrSchedule::kCosine, LrSchedule::kLinear,
                                     LrSchedule::kConstant};
constexpr ItemLoss kItemLosses[] = {ItemLoss::kFullSoftmax, ItemLoss::kSampledSoftmax,
                                    ItemLoss::kGbce};
constexpr NegativeSampling kSamplings[] = {NegativeSampling::kUniform,
                                           NegativeSampling::kPopularity};
constexpr ValidationMetric kValidationMetrics[] = {
    ValidationMetric::kNdcgAt10, ValidationMetric::kHrAt10, ValidationMetric::kLoss};
constexpr ValidationHoldout kValidationHoldouts[] = {ValidationHoldout::kAllUsers,
                                                     ValidationHoldout::kValidationUsers};

// One overload per field type: the shared readers (core/config_fields.h) do the checking.
void read_field(bool& field, const RawValue& raw) { field = config_fields::read_bool(raw); }
void read_field(float& field, const RawValue& raw) { field = config_fields::read_float(raw); }
void read_field(std::string& field, const RawValue& raw) {
  // "init_from:" with no value = unset.
  field = raw.shape == RawValue::Shape::kNull ? "" : config_fields::read_string(raw);
}
void read_field(TaskKind& field, const RawValue& raw) {
  field = kTaskKinds[config_fields::read_choice(
      raw, {task_kind_name(kTaskKinds[0]), task_kind_name(kTaskKinds[1]),
            task_kind_name(kTaskKinds[2]), task_kind_name(kTaskKinds[3])})];
}
void read_field(LrSchedule& field, const RawValue& raw) {
  field = kSchedules[config_fields::read_choice(
      raw, {lr_schedule_name(kSchedules[0]), lr_schedule_name(kSchedules[1]),
            lr_schedule_name(kSchedules[2])})];
}
void read_field(ItemLoss& field, const RawValue& raw) {
  field = kItemLosses[config_fields::read_choice(
      raw, {item_loss_name(kItemLosses[0]), item_loss_name(kItemLosses[1]),
            item_loss_name(kItemLosses[2])})];
}
void read_field(NegativeSampling& field, const RawValue& raw) {
  field = kSamplings[config_fields::read_choice(
      raw, {negative_sampling_name(kSamplings[0]), negative_sampling_name(kSamplings[1])})];
}
void read_field(ValidationHoldout& field, const RawValue& raw) {
  field = kValidationHoldouts[config_fields::read_choice(
      raw, {validation_holdout_name(kValidationHoldouts[0]),
            validation_holdout_name(kValidationHoldouts[1])})];
}
void read_field(ValidationMetric& field, const RawValue& raw) {
  field = kValidationMetrics[config_fields::read_choice(
      raw,
      {validation_metric_name(kValidationMetrics[0]), validation_metric_name(kValidationMetrics[1]),
       validation_metric_name(kValidationMetrics[2])})];
}
// An old config or checkpoint without model.block never reaches this: the default is gpt.
void read_field(BlockKind& field, const RawValue& raw) {
  field = kBlockKinds[config_fields::read_choice(
      raw, {block_kind_name(kBlockKinds[0]), block_kind_name(kBlockKinds[1]),
            block_kind_name(kBlockKinds[2])})];
}
void read_field(ItemFeatureUse& field, const RawValue& raw) {
  field = kItemFeatureUses[config_fields::read_choice(
      raw,
      {item_feature_use_name(kItemFeatureUses[0]), item_feature_use_name(kItemFeatureUses[1]),
       item_feature_use_name(kItemFeatureUses[2]), item_feature_use_name(kItemFeatureUses[3])})];
}
template <class Int>
requires std::is_integral_v<Int>
void read_field(Int& field, const RawValue& raw) { field = config_fields::read_integer<Int>(raw); }

void write_field(YAML::Emitter& out, TaskKind kind) { out << task_kind_name(kind); }
void write_field(YAML::Emitter& out, ItemLoss kind) { out << item_loss_name(kind); }
void write_field(YAML::Emitter& out, NegativeSampling s) { out << negative_sampling_name(s); }
void write_field(YAML::Emitter& out, BlockKind kind) { out << block_kind_name(kind); }
void write_field(YAML::Emitter& out, ItemFeatureUse use) { out << item_feature_use_name(use); }
void write_field(YAML::Emitter& out, LrSchedule schedule) { out << lr_schedule_name(schedule); }
void write_field(YAML::Emitter& out, ValidationHoldout h) { out << validation_holdout_name(h); }
void write_field(YAML::Emitter& out, ValidationMetric metric) {
  out << validation_metric_name(metric);
}
template <class Field>
void write_field(YAML::Emitter& out, const Field& field) {
  config_fields::write_value(out, field);
}

// "key 'train.lr' expects a number, got 'abc'"
std::string wrong_type_message(const std::string& key, const WrongType& wrong) {
  return "key '" + key + "' expects " + wrong.expected + ", got " + wrong.found.describe();
}

// Keys the file or a --set named, whatever their value: a few rules depend on what the user
// said rather than on the value a default would give (train.steps beside train.epochs, the
// propensity task's default validation.metric).
using GivenKeys = std::set<std::string>;

// Reads `raw` into the field named `key` (recording it in `given`); returns false if no such
// field exists. Throws WrongType when the value does not fit the field.
bool assign_field(Config& config, const std::string& key, const RawValue& raw, GivenKeys& given) {
  // Configs (and checkpoint manifests) written before the loss section said
  // "task.sampled_negatives: k": 0 meant the full softmax, k > 0 a sampled softmax with k
  // negatives. Read, never written.
  if (key == "task.sampled_negatives") {
    const int k = config_fields::read_integer<int>(raw);
    if (k < 0) throw WrongType{"an integer >= 0 (or use loss.kind and loss.negatives)", raw};
    config.loss.kind = k == 0 ? ItemLoss::kFullSoftmax : ItemLoss::kSampledSoftmax;
    if (k > 0) config.loss.negatives = k;
    given.insert(key);
    return true;
  }
  bool found = false;
  visit_fields(config, [&](const char* name, auto& field) {
    if (found || key != name) return;
    found = true;
    read_field(field, raw);
  });
  if (found) given.insert(key);
  return found;
}

void read_document(Config& config, const YAML::Node& root, const std::string& source,
                   GivenKeys& given) {
  if (!root || root.IsNull()) return;  // empty file: all defaults (validation decides)
  if (!root.IsMap()) {
    throw UserError(source +
                    ": expected a map of sections (run, data, model, task, loss, train, "
                    "checkpoint, validation, comm, cuda) at the top level");
  }
  const auto sections = section_names();
  std::set<std::string> seen_sections;
  for (const auto& section_entry : root) {
    const std::string section = config_fields::key_name(section_entry.first, source);
    if (!sections.count(section)) {
      throw UserError(source + ": unknown key '" + section + "'" + suggestion_for(section));
    }
    if (!seen_sections.insert(section).second) {
      throw UserError(source + ": key '" + section + "' appears twice");
    }
    const YAML::Node& body = section_entry.second;
    if (body.IsNull()) continue;  // "train:" with nothing under it
    if (!body.IsMap()) {
      throw UserError(source + ": key '" + section + "' expects a map of keys, got " +
                      RawValue::of(body).describe());
    }
    std::set<std::string> seen_keys;
    for (const auto& entry : body) {
      const std::string key = section + "." + config_fields::key_name(entry.first, source);
      if (!seen_keys.insert(key).second) {
        throw UserError(source + ": key '" + key + "' appears twice");
      }
      try {
        if (!assign_field(config, key, RawValue::of(entry.second), given)) {
          throw UserError(source + ": unknown key '" + key + "'" + suggestion_for(key));
        }
      } catch (const WrongType& wrong) {
        throw UserError(source + ": " + wrong_type_message(key, wrong));
      }
    }
  }
}

// `context` opens every message: "x.yaml: --set train.lr=abc" (or whichever flag gave it).
void apply_override(Config& config, const std::string& assignment, const std::string& context,
                    GivenKeys& given) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UserError(context + ": expected key=value, e.g. --set train.lr=0.001");
  }
  std::string key = assignment.substr(0, eq);
  std::string text = assignment.substr(eq + 1);
  RawValue raw;
  if (text.empty()) {
    raw.shape = RawValue::Shape::kNull;
  } else {
    // Parsed as a YAML scalar so quoting works as in the file ("--set run.out_dir='a b'").
    YAML::Node node;
    try {
      node = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw UserError(context + ": value is not valid YAML (" + e.msg + ")");
    }
    raw = RawValue::of(node);
    // A value such as "a: b" parses as a map; a plain value was meant.
    if (raw.shape == RawValue::Shape::kMap || raw.shape == RawValue::Shape::kSequence) {
      raw.shape = RawValue::Shape::kScalar;
      raw.text = text;
    }
  }
  try {
    if (!assign_field(config, key, raw, given)) {
      if (section_names().count(key)) {
        auto first = std::find_if(all_keys().begin(), all_keys().end(),
                                  [&](const std::string& k) { return k.rfind(key + ".", 0) == 0; });
        throw UserError(context + ": unknown key '" + key + "' (a section: name one of its keys, " +
                        "e.g. '" + *first + "')");
      }
      throw UserError(context + ": unknown key '" + key + "'" + suggestion_for(key));
    }
  } catch (const WrongType& wrong) {
    throw UserError(context + ": " + wrong_type_message(key, wrong));
  }
}

// Range checks (and the few cross-field rules) after file and overrides are applied.
class Validator {
 public:
  explicit Validator(const std::string& source) : source_(source) {}

  template <class T>
  void at_least(const char* key, T value, T minimum) {
    if (value < minimum) fail(key, "must be >= " + show(minimum), show(value));
  }
  template <class T>
  void in_closed(const char* key, T value, T lo, T hi) {
    if (value < lo || value > hi) {
      fail(key, "must be in [" + show(lo) + ", " + show(hi) + "]", show(value));
    }
  }
  void in_half_open(const char* key, float value, float lo, float hi) {
    if (value < lo || value >= hi) {
      fail(key, "must be in [" + show(lo) + ", " + show(hi) + ")", show(value));
    }
  }
  void positive(const char* key, float value) {
    if (!(value > 0)) fail(key, "must be > 0", show(value));
  }
  [[noreturn]] void fail(const char* key, const std::string& rule, const std::string& got) {
    throw UserError(source_ + ": key '" + key + "' " + rule + ", got " + got);
  }
  [[noreturn]] void fail_rule(const std::string& message) {
    throw UserError(source_ + ": " + message);
  }

  template <class T>
  static std::string show(T value) {
    if constexpr (std::is_same_v<T, float>) {
      return config_fields::shortest_decimal(value);
    } else {
      return std::to_string(value);
    }
  }

 private:
  const std::string& source_;
};

void validate(const Config& c, const std::string& source) {
  Validator v(source);
  if (c.run.out_dir.empty()) v.fail("run.out_dir", "must not be empty", "''");
  if (c.run.device != "auto" && c.run.device != "cpu" && c.run.device != "cuda") {
    v.fail("run.device", "must be one of auto, cpu, cuda", "'" + c.run.device + "'");
  }
  if (c.run.precision != "auto" && c.run.precision != "fp32" && c.run.precision != "bf16")
    v.fail("run.precision", "must be one of auto, fp32, bf16", "'" + c.run.precision + "'");
  if (c.cuda.precision != "bf16" && c.cuda.precision != "fp32")
    v.fail("cuda.precision", "must be one of bf16, fp32", "'" + c.cuda.precision + "'");
  if (c.cuda.attention != "flash" && c.cuda.attention != "flash_cuda_cores" &&
      c.cuda.attention != "cudnn" && c.cuda.attention != "reference")
    v.fail("cuda.attention", "must be one of flash, flash_cuda_cores, cudnn, reference",
           "'" + c.cuda.attention + "'");
  if (c.data.corpus.empty()) {
    v.fail_rule("key 'data.corpus' is required (path to the corpus .h5 written by prep)");
  }

  const ModelConfig& m = c.model;
  v.in_closed("model.n_layer", m.n_layer, 1, kMaxLayers);
  v.at_least("model.n_head", m.n_head, 1);
  v.at_least("model.d_model", m.d_model, 1);
  if (m.d_model % m.n_head != 0) {
    v.fail_rule("key 'model.d_model' (" + std::to_string(m.d_model) +
                ") must be divisible by 'model.n_head' (" + std::to_string(m.n_head) + ")");
  }
  v.at_least("model.d_ff", m.d_ff, 1);
  v.at_least("model.max_len", m.max_len, 2);  // next-event prediction needs two events
  v.in_half_open("model.dropout", m.dropout, 0.0f, 1.0f);

  const TaskSection& t = c.task;
  v.in_closed("task.freeze_blocks", t.freeze_blocks, 0, m.n_layer);
  v.at_least("task.body_lr_scale", t.body_lr_scale, 0.0f);
  v.at_least("task.action_loss_weight", t.action_loss_weight, 0.0f);
  v.in_half_open("task.copy_input_noise", t.copy_input_noise, 0.0f, 1.0f);
  if (t.copy_input_noise > 0 && t.kind != TaskKind::kCopy) {
    v.fail_rule("key 'task.copy_input_noise' applies only to 'task.kind: copy'");
  }
  if (t.purchases_only && t.kind != TaskKind::kNextItem) {
    v.fail_rule("key 'task.purchases_only' applies only to 'task.kind: next_item'");
  }

  const LossSection& l = c.loss;
  v.at_least("loss.negatives", l.negatives, 1);
  v.in_closed("loss.popularity_alpha", l.popularity_alpha, 0.0f, 4.0f);
  v.at_least("loss.in_batch_negatives", l.in_batch_negatives, 0);
  v.in_closed("loss.gbce_t", l.gbce_t, 0.0f, 1.0f);
  if (l.kind == ItemLoss::kFullSoftmax && l.in_batch_negatives > 0)
    v.fail_rule(
        "key 'loss.in_batch_negatives' applies only to 'loss.kind: sampled_softmax' or "
        "'loss.kind: gbce'");

  const TrainSection& tr = c.train;
  v.at_least<int64_t>("train.epochs", tr.epochs, 0);
  if (tr.epochs == 0) {
    v.at_least<int64_t>("train.steps", tr.steps, 1);
  } else if (tr.steps != 0) {
    v.fail_rule(
        "keys 'train.steps' and 'train.epochs' both set the run length; give one of "
        "them (train.steps " +
        std::to_string(tr.steps) + ", train.epochs " + std::to_string(tr.epochs) + ")");
  }
  v.at_least("train.micro_batch", tr.micro_batch, 1);
  v.at_least("train.grad_accum", tr.grad_accum, 1);
  v.at_least<int64_t>("train.global_batch", tr.global_batch, 0);
  v.positive("train.lr", tr.lr);
  v.at_least<int64_t>("train.warmup_steps", tr.warmup_steps, 0);  // > steps: warmup throughout
  v.in_closed("train.min_lr_ratio", tr.min_lr_ratio, 0.0f, 1.0f);
  v.at_least("train.weight_decay", tr.weight_decay, 0.0f);
  v.in_half_open("train.beta1", tr.beta1, 0.0f, 1.0f);
  v.in_half_open("train.beta2", tr.beta2, 0.0f, 1.0f);
  v.positive("train.eps", tr.eps);
  v.at_least("train.grad_clip", tr.grad_clip, 0.0f);
  v.at_least("train.log_every", tr.log_every, 1);
  v.at_least("train.eval_every", tr.eval_every, 0);
  v.at_least("train.eval_batches", tr.eval_batches, 1);

  v.at_least<int64_t>("checkpoint.every", c.checkpoint.every, 1);
  v.at_least("checkpoint.keep_last", c.checkpoint.keep_last, 1);

  const ValidationSection& val = c.validation;
  v.at_least<int64_t>("validation.every", val.every, 0);
  v.at_least<int64_t>("validation.users", val.users, 0);
  v.at_least("validation.patience", val.patience, 0);
  v.at_least("validation.min_delta", val.min_delta, 0.0f);
  if (!ranks_items(t.kind) && val.metric != ValidationMetric::kLoss) {
    v.fail_rule("key 'validation.metric' " + std::string(validation_metric_name(val.metric)) +
                " ranks items, which 'task.kind: " + task_kind_name(t.kind) +
                "' does not; use loss");
  }
  if (t.kind == TaskKind::kCopy) {
    // A text corpus has one channel (the tokens) and its own split by title.
    if (c.loss.kind != ItemLoss::kFullSoftmax)
      v.fail_rule(
          "'task.kind: copy' trains the full softmax over the text vocabulary; set "
          "loss.kind: full_softmax");
    if (c.model.item_features != ItemFeatureUse::kNone)
      v.fail_rule(
          "'task.kind: copy': a text corpus has no item features; set "
          "model.item_features: none");
    if (t.purchases_only || t.action_loss_weight > 0)
      v.fail_rule(
          "'task.kind: copy' has no actions: task.purchases_only and "
          "task.action_loss_weight do not apply");
  }
  if (c.model.cooccurrence_prior && val.metric == ValidationMetric::kLoss) {
    v.fail_rule(
        "key 'model.cooccurrence_prior' needs a ranking metric (validation.metric "
        "ndcg@10 or hr@10): its weight is chosen on the validation ranking");
  }
  if (val.holdout == ValidationHoldout::kValidationUsers && val.metric == ValidationMetric::kLoss) {
    v.fail_rule(
        "key 'validation.holdout: validation_users' needs a ranking metric "
        "(validation.metric ndcg@10 or hr@10): the validation loss samples its own users");
  }

  v.at_least("comm.timeout_s", c.comm.timeout_s, 0.0f);
  v.positive("comm.bucket_mb", c.comm.bucket_mb);

  // DP-SGD: the numbers, and the settings that would spend privacy the accountant does not
  // count (choices made by looking at the users' held-out events, or statistics of the training
  // events served beside the model).
  const PrivacySection& p = c.privacy;
  if (p.enabled) {
    v.positive("privacy.target_epsilon", p.target_epsilon);
    v.at_least("privacy.delta", p.delta, 0.0f);
    v.positive("privacy.clip_norm", p.clip_norm);
    if (c.model.cooccurrence_prior)
      v.fail_rule(
          "privacy.enabled: model.cooccurrence_prior serves counts of the training "
          "events that no noise protects; set model.cooccurrence_prior: false");
    if (c.validation.patience > 0)
      v.fail_rule(
          "privacy.enabled: validation.patience stops training on the users' held-out "
          "events, a use of their data the accountant does not count; set "
          "validation.patience: 0");
    if (c.checkpoint.keep_best)
      v.fail_rule(
          "privacy.enabled: checkpoint.keep_best picks a checkpoint by the users' "
          "held-out events, a use of their data the accountant does not count; set "
          "checkpoint.keep_best: false");
    // Negatives drawn by all users' item counts, or corrected by them (logQ), put every
    // user's events into every other user's gradient, past the per-user clipping.
    if (c.loss.kind != ItemLoss::kFullSoftmax && c.loss.sampler == NegativeSampling::kPopularity)
      v.fail_rule(
          "privacy.enabled: loss.sampler: popularity draws negatives by every user's "
          "item counts, which reach each user's gradient past the clipping; set "
          "loss.sampler: uniform");
    if (c.loss.kind == ItemLoss::kSampledSoftmax && c.loss.logq_correction &&
        c.loss.in_batch_negatives > 0)
      v.fail_rule(
          "privacy.enabled: loss.logq_correction corrects in-batch negatives by every "
          "user's item counts, which reach each user's gradient past the clipping; set "
          "loss.logq_correction: false or loss.in_batch_negatives: 0");
  }
}

// Defaults that depend on other keys. The resolved config (to_yaml) holds the outcome, so it
// reads back the same whatever was given.
void resolve_defaults(Config& c, const GivenKeys& given) {
  // An epoch count sets the run length; train.steps then keeps its "not the run length" 0
  // unless the user gave it too (which validate refuses).
  if (c.train.epochs > 0 && !given.count("train.steps")) c.train.steps = 0;
  if (!ranks_items(c.task.kind) && !given.count("validation.metric")) {
    c.validation.metric = ValidationMetric::kLoss;
  }
}

}  // namespace

const char* task_kind_name(TaskKind kind) {
  switch (kind) {
    case TaskKind::kPretrain:
      return "pretrain";
    case TaskKind::kNextItem:
      return "next_item";
    case TaskKind::kPropensity:
      return "propensity";
    case TaskKind::kCopy:
      return "copy";
  }
  return "?";
}

const char* item_loss_name(ItemLoss kind) {
  switch (kind) {
    case ItemLoss::kFullSoftmax:
      return "full_softmax";
    case ItemLoss::kSampledSoftmax:
      return "sampled_softmax";
    case ItemLoss::kGbce:
      return "gbce";
  }
  return "?";
}

const char* negative_sampling_name(NegativeSampling sampling) {
  switch (sampling) {
    case NegativeSampling::kUniform:
      return "uniform";
    case NegativeSampling::kPopularity:
      return "popularity";
  }
  return "?";
}

const char* validation_holdout_name(ValidationHoldout holdout) {
  switch (holdout) {
    case ValidationHoldout::kAllUsers:
      return "all_users";
    case ValidationHoldout::kValidationUsers:
      return "validation_users";
  }
  return "?";
}

const char* validation_metric_name(ValidationMetric metric) {
  switch (metric) {
    case ValidationMetric::kNdcgAt10:
      return "ndcg@10";
    case ValidationMetric::kHrAt10:
      return "hr@10";
    case ValidationMetric::kLoss:
      return "loss";
  }
  return "?";
}

const char* lr_schedule_name(LrSchedule schedule) {
  switch (schedule) {
    case LrSchedule::kCosine:
      return "cosine";
    case LrSchedule::kLinear:
      return "linear";
    case LrSchedule::kConstant:
      return "constant";
  }
  return "?";
}

Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::vector<std::string>& overrides) {
  Config config;
  config.source_path = source_name;
  GivenKeys given;
  read_document(config, config_fields::load_document(yaml_text, source_name), source_name, given);
  for (const auto& assignment : overrides) {
    apply_override(config, assignment, source_name + ": --set " + assignment, given);
  }
  resolve_defaults(config, given);
  validate(config, source_name);
  return config;
}

void check_override(const std::string& assignment, const std::string& context) {
  Config scratch;
  GivenKeys given;
  apply_override(scratch, assignment, context, given);
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw UserError(path + ": config file not found");
  }
  return parse_config(read_text_file(path), path, overrides);
}

std::string to_yaml(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string current_section;
  Config copy = config;  // visit_fields takes a mutable Config; nothing is changed
  visit_fields(copy, [&](const char* name, const auto& field) {
    const std::string key = name;
    const std::string section = key.substr(0, key.find('.'));
    if (section != current_section) {
      if (!current_section.empty()) out << YAML::EndMap;
      out << YAML::Key << section << YAML::Value << YAML::BeginMap;
      current_section = section;
    }
    out << YAML::Key << key.substr(section.size() + 1) << YAML::Value;
    write_field(out, field);
  });
  out << YAML::EndMap << YAML::EndMap;
  CF_CHECK(out.good(), "the config emitter rejected its own fields: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace cf::trainer
