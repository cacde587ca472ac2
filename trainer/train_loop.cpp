#include "trainer/train_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "data/batch.h"
#include "data/corpus.h"
#include "trainer/checkpoint.h"
#include "trainer/lr_schedule.h"
#include "trainer/model.h"
#include "trainer/optimizer.h"

namespace cf::trainer {
namespace fs = std::filesystem;

namespace {

constexpr int32_t kBuyAction = 4;  // data::canonical_actions(): <pad>, view, fav, cart, buy

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Seeds for dropout and sampled negatives are pure functions of (run seed, step),
// so a resumed run draws exactly what the uninterrupted run would have.
uint64_t stream_seed(uint64_t seed, int64_t step, uint64_t purpose) {
  return mix64(mix64(seed ^ purpose) + uint64_t(step));
}

ModelConfig model_config_for_task(const Config& config) {
  ModelConfig mc = config.model;
  if (config.task.kind == TaskKind::kPretrain && config.task.action_loss_weight > 0)
    mc.action_head = true;
  if (config.task.kind == TaskKind::kPropensity) mc.propensity_head = true;
  return mc;
}

// How one sequence becomes a training row for the configured task.
struct RowPlan {
  int32_t visible = 0;  // events fed to the model
  float label = -1.f;   // propensity label
};

RowPlan plan_training_row(const Config& config, const data::Sequence& seq) {
  RowPlan plan;
  int32_t train_len = data::visible_length(seq.length(), data::Split::kTrain);
  if (config.task.kind == TaskKind::kPropensity) {
    // Predict whether the last training event is a purchase from the events before it, so
    // neither the validation nor the test event is ever seen.
    plan.visible = train_len - 1;
    plan.label = train_len >= 2 ? float(seq.purchase[train_len - 1]) : -1.f;
  } else {
    plan.visible = train_len;
  }
  return plan;
}

void restrict_targets(const Config& config, data::Batch& batch, int b) {
  if (config.task.kind == TaskKind::kPropensity) {
    // The propensity task trains only its head's loss; no next-item targets.
    std::fill_n(batch.target_item.begin() + int64_t(b) * batch.T, batch.T, 0);
    std::fill_n(batch.target_action.begin() + int64_t(b) * batch.T, batch.T, 0);
  } else if (config.task.kind == TaskKind::kNextItem && config.task.purchases_only) {
    for (int t = 0; t < batch.T; ++t) {
      int64_t i = int64_t(b) * batch.T + t;
      if (batch.target_action[i] != kBuyAction) batch.target_item[i] = 0;
    }
  }
}

LossOptions loss_options_for_task(const Config& config) {
  LossOptions lo;
  lo.sampled_negatives = config.task.sampled_negatives;
  switch (config.task.kind) {
    case TaskKind::kPretrain:
      lo.item_loss = true;
      lo.action_loss = config.task.action_loss_weight > 0;
      break;
    case TaskKind::kNextItem:
      lo.item_loss = true;
      break;
    case TaskKind::kPropensity:
      lo.item_loss = false;
      lo.propensity_loss = true;
      break;
  }
  return lo;
}

double task_loss(const Config& config, const LossSums& s) {
  auto mean = [](double sum, int64_t n) { return n > 0 ? sum / double(n) : 0.0; };
  if (config.task.kind == TaskKind::kPropensity) return mean(s.propensity, s.propensity_count);
  double loss = mean(s.item, s.item_count);
  if (config.task.kind == TaskKind::kPretrain && config.task.action_loss_weight > 0)
    loss += config.task.action_loss_weight * mean(s.action, s.action_count);
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

// Sequences with at least two training events: one input and one target (or label).
std::vector<int64_t> eligible_sequences(const data::CorpusReader& corpus) {
  const auto& offsets = corpus.offsets();
  std::vector<int64_t> ids;
  for (int64_t i = 0; i + 1 < int64_t(offsets.size()); ++i) {
    int32_t len = int32_t(offsets[i + 1] - offsets[i]);
    int32_t train_len = data::visible_length(len, data::Split::kTrain);
    if (train_len >= 2) ids.push_back(i);
  }
  return ids;
}

// A fixed, seeded set of validation rows: input = events before the validation event, the
// only target = the validation event (or its purchase flag for the propensity task).
class ValidationSet {
 public:
  ValidationSet(const Config& config, const data::CorpusReader& corpus, int rows_wanted) {
    const auto& offsets = corpus.offsets();
    std::vector<int64_t> candidates;
    for (int64_t i = 0; i + 1 < int64_t(offsets.size()); ++i) {
      if (offsets[i + 1] - offsets[i] >= 3) candidates.push_back(i);
    }
    // Evenly spaced pick: deterministic and spread over the corpus.
    int n = std::min<int64_t>(rows_wanted, candidates.size());
    for (int k = 0; k < n; ++k) ids_.push_back(candidates[int64_t(k) * candidates.size() / n]);
  }
  bool empty() const { return ids_.empty(); }

  double loss(const Config& config, const data::CorpusReader& corpus, Model& model) const {
    const int mb = config.train.micro_batch, T = config.model.max_len;
    LossOptions lo = loss_options_for_task(config);
    lo.sampled_negatives = 0;  // validation always scores the full softmax
    lo.action_loss = false;
    LossSums total;
    data::Batch batch;
    data::Sequence seq;
    for (size_t first = 0; first < ids_.size(); first += mb) {
      int rows = int(std::min<size_t>(mb, ids_.size() - first));
      batch.resize(rows, T);
      for (int b = 0; b < rows; ++b) {
        corpus.read_sequence(ids_[first + b], seq);
        int32_t visible = data::visible_length(seq.length(), data::Split::kValidation);
        if (config.task.kind == TaskKind::kPropensity) {
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
      add_sums(total, model.evaluate_loss(batch, lo));
    }
    return task_loss(config, total);
  }

 private:
  std::vector<int64_t> ids_;
};

void append_jsonl(const std::string& path, const Json& row) {
  std::ofstream f(path, std::ios::app);
  if (!f) throw UserError(path + ": cannot append metrics");
  f << row.dump() << "\n";
}

}  // namespace

TrainOutcome run_training(const Config& config, const std::string& resume,
                          const TrainHooks& hooks) {
  auto say = [&](const std::string& msg) {
    if (hooks.on_message) hooks.on_message(msg);
  };
  if (config.run.device == "cuda") {
    throw UserError(config.source_path +
                    ": run.device is 'cuda' but this build has no CUDA backend yet; use cpu or auto");
  }
  say(config.run.device == "auto" ? "device: cpu (auto: no CUDA backend in this build)"
                                  : "device: cpu");

  auto corpus = data::CorpusReader::open(config.data.corpus);
  // Training visits every sequence each epoch in random order: below this size holding the
  // event channels in memory (~25 bytes/event) beats one HDF5 hyperslab read per sequence.
  constexpr int64_t kLoadAllEventLimit = 50'000'000;
  if (corpus->num_events() <= kLoadAllEventLimit) corpus->load_all();
  const data::VocabSizes vocab = corpus->vocab_sizes();
  const std::string fingerprint = corpus->vocab_fingerprint();

  const std::string out_dir = config.run.out_dir;
  const std::string ckpt_root = (fs::path(out_dir) / "checkpoints").string();
  fs::create_directories(ckpt_root);

  Model model(model_config_for_task(config), vocab);
  AdamW optimizer(model.tensors(), int64_t(model.params().size()),
                  adamw_hyperparams(config.train));
  if (config.task.kind != TaskKind::kPretrain) optimizer.apply_task_policy(config.task);

  TrainOutcome outcome;
  TrainState state;
  state.seed = config.run.seed;

  std::optional<std::string> resume_dir;
  if (resume == "auto") {
    resume_dir = find_latest_valid_checkpoint(ckpt_root);
    if (!resume_dir) say("resume auto: no valid checkpoint under " + ckpt_root + ", starting fresh");
  } else if (!resume.empty()) {
    resume_dir = resume;
  } else if (find_latest_valid_checkpoint(ckpt_root)) {
    throw UserError(out_dir + ": run directory already has checkpoints; pass --resume auto to "
                    "continue or choose another run.out_dir");
  }

  if (resume_dir) {
    LoadedCheckpoint ckpt = load_checkpoint(*resume_dir, /*load_optimizer=*/true);
    require_same_vocab(ckpt, config.data.corpus, fingerprint, vocab);
    std::vector<std::string> missing;
    load_matching_weights(model, ckpt, &missing);  // names and shapes must agree
    if (!missing.empty() || ckpt.tensors.size() != model.tensors().size()) {
      throw UserError(*resume_dir + ": checkpoint tensors differ from what the config builds (" +
                      (missing.empty() ? std::string("extra tensors") : "missing " + missing[0]) +
                      "); model settings changed since it was written");
    }
    optimizer.load_state(ckpt.adam_m, ckpt.adam_v, ckpt.state.step);
    state = ckpt.state;
    outcome.resumed = true;
    outcome.resumed_from_step = state.step;
    say("resumed from " + *resume_dir + " at step " + std::to_string(state.step));
  } else if (!config.task.init_from.empty()) {
    std::string src = config.task.init_from;
    if (!fs::exists(fs::path(src) / "manifest.json")) {
      std::string root = fs::exists(fs::path(src) / "checkpoints")
                             ? (fs::path(src) / "checkpoints").string() : src;
      auto latest = find_latest_valid_checkpoint(root);
      if (!latest) throw UserError(src + ": task.init_from has no valid checkpoint");
      src = *latest;
    }
    model.init_weights(config.run.seed);
    LoadedCheckpoint pre = load_checkpoint(src, /*load_optimizer=*/false);
    require_same_vocab(pre, config.data.corpus, fingerprint, vocab);
    std::vector<std::string> missing;
    load_matching_weights(model, pre, &missing);
    std::string note = "initialised from " + src;
    if (!missing.empty()) {
      note += " (new:";
      for (const auto& m : missing) note += " " + m;
      note += ")";
    }
    say(note);
  } else {
    model.init_weights(config.run.seed);
  }

  write_file_atomically((fs::path(out_dir) / "config.resolved.yaml").string(), to_yaml(config));
  const std::string metrics_path = (fs::path(out_dir) / "metrics.jsonl").string();

  const int mb = config.train.micro_batch, accum = config.train.grad_accum;
  const int T = config.model.max_len;
  data::BatchSampler sampler(eligible_sequences(*corpus), config.run.seed,
                             mb * accum);
  ValidationSet validation(config, *corpus, mb * config.train.eval_batches);
  const LossOptions base_loss = loss_options_for_task(config);

  std::vector<data::Batch> micro(accum);
  data::Sequence seq;
  auto wall_start = std::chrono::steady_clock::now();
  auto last_report = wall_start;
  const double elapsed_before = state.elapsed_seconds;
  int64_t tokens_since_report = 0;
  double loss_since_report = 0;
  int steps_since_report = 0;
  double tokens_total_run = 0;
  double last_loss = 0, last_val = -1;
  std::string last_ckpt;

  auto save_checkpoint = [&]() {
    state.elapsed_seconds =
        elapsed_before +
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    last_ckpt = write_checkpoint(ckpt_root, model, optimizer.m(), optimizer.v(), config, state,
                                 fingerprint);
    prune_checkpoints(ckpt_root, config.checkpoint.keep_last);
  };

  while (state.step < config.train.steps) {
    const int64_t step = state.step;
    // 1. Build the global batch's micro-batches and count targets before any backward, so
    //    every loss is averaged over the global number of targets.
    std::vector<int64_t> ids = sampler.global_batch(state.sampler_step);
    int64_t item_targets = 0, action_targets = 0, label_targets = 0, real_tokens = 0;
    for (int m = 0; m < accum; ++m) {
      data::Batch& batch = micro[m];
      batch.resize(mb, T);
      for (int b = 0; b < mb; ++b) {
        corpus->read_sequence(ids[int64_t(m) * mb + b], seq);
        RowPlan plan = plan_training_row(config, seq);
        data::fill_batch_row(batch, b, seq, plan.visible, true);
        batch.label[b] = plan.label;
        restrict_targets(config, batch, b);
        real_tokens += batch.length[b];
        label_targets += plan.label >= 0 ? 1 : 0;
      }
      item_targets += batch.num_targets();
      for (int32_t a : batch.target_action) action_targets += a > 0 ? 1 : 0;
    }
    LossOptions lo = base_loss;
    lo.item_grad_scale = item_targets > 0 ? 1.f / float(item_targets) : 0.f;
    lo.action_grad_scale = action_targets > 0
                               ? config.task.action_loss_weight / float(action_targets) : 0.f;
    lo.propensity_grad_scale = label_targets > 0 ? 1.f / float(label_targets) : 0.f;

    // 2. Forward/backward every micro-batch, accumulating gradients.
    std::fill(model.grads().begin(), model.grads().end(), 0.f);
    LossSums sums;
    // One seed per step for every micro-batch: the model draws dropout masks and negatives per
    // (sequence, position), so any split of the global batch draws the same ones.
    lo.negative_seed = stream_seed(config.run.seed, step, 0x6e6567);
    const uint64_t dropout_seed = stream_seed(config.run.seed, step, 0x64726f70);
    for (int m = 0; m < accum; ++m) add_sums(sums, model.forward_backward(micro[m], lo, dropout_seed));
    // (Issue 3 slots the cross-rank gradient all-reduce in here.)

    // 3. Clip and update.
    double norm = optimizer.grad_norm(model.grads());
    float clip = clip_factor(norm, config.train.grad_clip);
    float lr = lr_at(step, config.train);
    optimizer.step(model.params(), model.grads(), lr, clip);

    state.step += 1;
    state.sampler_step += 1;
    state.tokens_seen += real_tokens;
    tokens_since_report += real_tokens;
    tokens_total_run += double(real_tokens);
    last_loss = task_loss(config, sums);
    loss_since_report += last_loss;
    steps_since_report += 1;

    const bool last_step = state.step == config.train.steps;
    const bool do_val = !validation.empty() &&
                        (last_step || (config.train.eval_every > 0 &&
                                       state.step % config.train.eval_every == 0));
    double val = -1;
    if (do_val) last_val = val = validation.loss(config, *corpus, model);

    if (last_step || state.step % config.train.log_every == 0 || do_val) {
      auto now = std::chrono::steady_clock::now();
      double window = std::chrono::duration<double>(now - last_report).count();
      double elapsed = std::chrono::duration<double>(now - wall_start).count();
      StepReport r;
      r.step = state.step;
      r.total_steps = config.train.steps;
      r.loss = loss_since_report / std::max(1, steps_since_report);
      r.val_loss = val;
      r.lr = lr;
      r.grad_norm = norm;
      r.tokens_per_s = window > 0 ? double(tokens_since_report) / window : 0;
      double steps_done_now = double(state.step - outcome.resumed_from_step);
      r.eta_seconds = steps_done_now > 0
                          ? elapsed / steps_done_now * double(config.train.steps - state.step) : 0;
      r.elapsed_seconds = elapsed_before + elapsed;
      r.tokens_seen = state.tokens_seen;
      Json row = {{"step", r.step},           {"loss", r.loss},     {"lr", r.lr},
                  {"grad_norm", r.grad_norm}, {"tokens_per_s", r.tokens_per_s},
                  {"tokens_seen", r.tokens_seen}, {"elapsed_s", r.elapsed_seconds}};
      if (val >= 0) row["val_loss"] = val;
      row["task"] = task_kind_name(config.task.kind);
      append_jsonl(metrics_path, row);
      if (hooks.on_progress) hooks.on_progress(r);
      last_report = now;
      tokens_since_report = 0;
      loss_since_report = 0;
      steps_since_report = 0;
    }
    const bool stopping = hooks.stop_at_step > 0 && state.step >= hooks.stop_at_step;
    if (last_step || stopping ||
        (config.checkpoint.every > 0 && state.step % config.checkpoint.every == 0))
      save_checkpoint();
    if (stopping) break;
  }
  if (last_ckpt.empty()) {
    // Resumed at (or past) the final step: nothing to train; report the checkpoint we have.
    auto latest = find_latest_valid_checkpoint(ckpt_root);
    last_ckpt = latest ? *latest : "";
  }
  double run_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  outcome.final_checkpoint = last_ckpt;
  outcome.steps = state.step;
  outcome.final_loss = last_loss;
  outcome.final_val_loss = last_val;
  outcome.mean_tokens_per_s = run_seconds > 0 ? tokens_total_run / run_seconds : 0;
  return outcome;
}

}  // namespace cf::trainer
