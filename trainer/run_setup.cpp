#include "trainer/run_setup.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "core/random.h"
#include "trainer/comm/rank_zero.h"
#include "trainer/model/model_random.h"
#include "trainer/task_rows.h"

namespace cf::trainer {
namespace fs = std::filesystem;

namespace {

// A text fingerprint cut to 52 bits, so it survives the round trip through a double.
double text_hash(const std::string& text) { return double(fnv1a_hash(text) >> 12); }

// Every rank must build the same model from the same corpus and settings, or the collectives
// would pair up buffers of different sizes. Compares a few fingerprints across ranks (their
// minimum and maximum) and fails on every rank, naming what differs.
void require_same_setup_on_all_ranks(comm::Communicator& comm, const Config& config,
                                     int64_t num_params, const std::string& vocab_fingerprint,
                                     int accum) {
  if (comm.world_size() == 1) return;
  Config shared = config;
  shared.run.out_dir.clear();  // only rank 0 writes; the paths may differ per host
  shared.data.corpus.clear();
  shared.source_path.clear();
  const char* names[] = {"number of parameters", "corpus vocabulary", "training config",
                         "micro-batches per step"};
  constexpr int kN = 4;
  double max_v[kN] = {double(num_params), text_hash(vocab_fingerprint), text_hash(to_yaml(shared)),
                      double(accum)};
  double min_v[kN];
  for (int i = 0; i < kN; ++i) min_v[i] = -max_v[i];
  comm.all_reduce_max(max_v, kN);
  comm.all_reduce_max(min_v, kN);
  for (int i = 0; i < kN; ++i) {
    if (max_v[i] != -min_v[i]) {
      throw UserError(config.source_path + ": the ranks disagree on the " + names[i] +
                      " (different config or corpus files on different hosts?); every rank "
                      "must train the same model on the same corpus");
    }
  }
}

// A fresh propensity head starts at the base rate instead of p = 0.5: purchases are rare, and
// at fine-tuning learning rates the bias would need thousands of steps to walk there alone.
// The prior is the rate of the training labels (purchase flags at the cut points of the
// training part, see plan_training_row), from up to the first 10,000 sequences: never the
// validation or test events.
double start_propensity_at_prior(Model& model, const data::CorpusReader& corpus) {
  constexpr int64_t kSequences = 10000;
  double positives = 0, events = 0;
  std::vector<data::Sequence> chunk;
  const int64_t n = std::min(kSequences, corpus.num_sequences());
  for (int64_t first = 0; first < n; first += 1024) {
    corpus.read_sequences(first, std::min<int64_t>(1024, n - first), chunk);
    for (const data::Sequence& s : chunk) {
      const int32_t train = data::visible_length(s.length(), data::Split::kTrain);
      for (int32_t e = 1; e < train; ++e) {
        positives += s.purchase[size_t(e)] > 0 ? 1 : 0;
        events += 1;
      }
    }
  }
  const double rate = std::clamp(positives / std::max(1.0, events), 1e-4, 1 - 1e-4);
  const double logit = std::log(rate / (1 - rate));
  for (const ParamTensor& t : model.tensors()) {
    if (t.name == "propensity_head.bias") model.params()[size_t(t.offset)] = float(logit);
  }
  return logit;
}

// `--resume fresh` on a run with checkpoints: they move to checkpoints.replaced_<k>/ (the first
// free k) beside the new ones, so starting over never deletes anything.
std::string move_checkpoints_aside(const std::string& ckpt_root) {
  for (int k = 1;; ++k) {
    const std::string aside = ckpt_root + ".replaced_" + std::to_string(k);
    std::error_code ec;
    if (fs::exists(aside, ec)) continue;
    fs::rename(ckpt_root, aside, ec);
    if (ec) throw UserError(ckpt_root + ": cannot move the old checkpoints aside: " + ec.message());
    return aside;
  }
}

// The checkpoint a run continues from, if any (rank 0; see kResumeAuto and kResumeFresh).
std::optional<std::string> checkpoint_to_resume(
    const std::string& resume, const std::string& out_dir,
    const std::function<void(const std::string&)>& say) {
  const std::string ckpt_root = (fs::path(out_dir) / "checkpoints").string();
  const int64_t present = count_checkpoint_directories(ckpt_root);
  if (resume == kResumeFresh) {
    if (present > 0)
      say("resume fresh: earlier checkpoints moved to " + move_checkpoints_aside(ckpt_root));
    return std::nullopt;
  }
  if (resume.empty()) {
    if (present > 0) {
      throw UserError(out_dir +
                      ": run directory already has checkpoints; pass --resume auto to "
                      "continue, --resume fresh to start over, or choose another run.out_dir");
    }
    return std::nullopt;
  }
  if (resume != kResumeAuto) return resume;
  if (auto latest = find_latest_valid_checkpoint(ckpt_root)) return latest;
  if (present > 0) {
    throw UserError(ckpt_root + ": none of its " + std::to_string(present) +
                    " checkpoints is valid (see the warnings above); pass --resume fresh to "
                    "start over (they are kept, moved aside)");
  }
  say("resume auto: no checkpoint under " + ckpt_root + ", starting fresh");
  return std::nullopt;
}

}  // namespace

StepShape step_shape(const Config& config, int world_size) {
  const TrainSection& t = config.train;
  StepShape shape;
  shape.micro_batch = t.micro_batch;
  shape.max_len = config.model.max_len;
  shape.world_size = world_size;
  shape.micro_batches = t.grad_accum;
  if (t.global_batch > 0) {
    const int64_t per_step = int64_t(t.micro_batch) * world_size;
    if (t.global_batch % per_step != 0) {
      throw UserError(
          config.source_path + ": train.global_batch (" + std::to_string(t.global_batch) +
          ") must be a multiple of train.micro_batch (" + std::to_string(t.micro_batch) +
          ") x ranks (" + std::to_string(world_size) + ")");
    }
    shape.micro_batches = int(t.global_batch / per_step);
  }
  shape.global_batch = int64_t(shape.micro_batch) * shape.micro_batches * world_size;
  return shape;
}

RunStart set_up_run(const Config& config, const std::string& resume, comm::Communicator& comm,
                    const data::CorpusReader& corpus, const StepShape& shape,
                    const std::function<void(const std::string&)>& say) {
  const data::VocabSizes vocab = corpus.vocab_sizes();
  const std::string fingerprint = corpus.vocab_fingerprint();
  Model model(model_config_for_task(config.model, task_spec(config.task)), vocab,
              config.model.item_features == ItemFeatureUse::kNone
                  ? nullptr
                  : std::make_shared<const data::ItemFeatures>(corpus.item_features()));
  const int64_t num_params = int64_t(model.params().size());
  AdamW optimizer(model.tensors(), num_params, adamw_hyperparams(config.train));
  if (config.task.kind != TaskKind::kPretrain) optimizer.apply_task_policy(config.task);
  TrainState state;
  state.seed = config.run.seed;
  state.global_batch = shape.global_batch;
  model.init_weights(config.run.seed);

  // Rank 0 reads any checkpoint and hands weights, optimizer state and position to the others,
  // so only rank 0 needs to see the run directory.
  std::vector<float> full_m, full_v;
  std::string state_json;
  comm::on_rank0(comm, [&] {
    if (auto resume_dir = checkpoint_to_resume(resume, config.run.out_dir, say)) {
      LoadedCheckpoint ckpt = load_checkpoint(*resume_dir, /*load_optimizer=*/true);
      require_same_vocab(ckpt, config.data.corpus, fingerprint, vocab);
      std::vector<std::string> missing;
      load_matching_weights(model, ckpt, &missing);  // names and shapes must agree
      if (!missing.empty() || ckpt.tensors.size() != model.tensors().size()) {
        throw UserError(*resume_dir + ": checkpoint tensors differ from what the config builds (" +
                        (missing.empty() ? std::string("extra tensors") : "missing " + missing[0]) +
                        "); model settings changed since it was written");
      }
      if (ckpt.state.global_batch > 0 && ckpt.state.global_batch != shape.global_batch) {
        throw UserError(*resume_dir + ": checkpoint was trained with a global batch of " +
                        std::to_string(ckpt.state.global_batch) + " sequences, this run has " +
                        std::to_string(shape.global_batch) + " (micro_batch " +
                        std::to_string(shape.micro_batch) + " x " +
                        std::to_string(shape.micro_batches) + " x " +
                        std::to_string(shape.world_size) + " ranks); set train.global_batch: " +
                        std::to_string(ckpt.state.global_batch) + " to continue its sample stream");
      }
      full_m = std::move(ckpt.adam_m);
      full_v = std::move(ckpt.adam_v);
      TrainState loaded = ckpt.state;
      loaded.global_batch = shape.global_batch;
      state_json = train_state_to_json(loaded);
      say("resumed from " + *resume_dir + " at step " + std::to_string(ckpt.state.step) +
          (shape.world_size > 1 ? " on " + std::to_string(shape.world_size) + " ranks" : ""));
    } else if (!config.task.init_from.empty()) {
      // A checkpoint directory, or a run directory / checkpoints root (its best checkpoint, or
      // its newest valid one without a best.json).
      std::string src, why;
      try {
        src = resolve_checkpoint_dir(config.task.init_from, &why);
      } catch (const UserError&) {
        throw UserError(config.task.init_from + ": task.init_from has no valid checkpoint");
      }
      LoadedCheckpoint pre = load_checkpoint(src, /*load_optimizer=*/false);
      require_same_vocab(pre, config.data.corpus, fingerprint, vocab);
      // gpt and ligr share tensor names (ln1, attn.*, ln2): without this check a gpt model
      // would silently start from a ligr model's attention and train new FFNs beside it.
      if (pre.config.model.block != config.model.block)
        throw UserError(
            config.source_path + ": model.block is " + block_kind_name(config.model.block) +
            " but task.init_from (" + src +
            ") was trained with model.block: " + block_kind_name(pre.config.model.block) +
            "; set model.block: " + block_kind_name(pre.config.model.block));
      // The item table was trained together with the features it is summed with: dropping
      // them (or adding them untrained) would silently change every item's representation.
      if (pre.config.model.item_features != config.model.item_features)
        throw UserError(
            config.source_path + ": model.item_features is " +
            item_feature_use_name(config.model.item_features) + " but task.init_from (" + src +
            ") was trained with model.item_features: " +
            item_feature_use_name(pre.config.model.item_features) +
            "; set model.item_features: " + item_feature_use_name(pre.config.model.item_features));
      // A private run starting from weights trained on the same users carries their data in
      // through the start. From a private run, that spend composes with this run's: its phases
      // become this run's earlier phases, and privacy.target_epsilon covers them all. From a
      // run without privacy nothing bounds it: refused, unless the user says the checkpoint's
      // users were others' (public data, another platform).
      if (config.privacy.enabled && !config.privacy.init_from_public) {
        const PrivacySpent& before = pre.state.privacy;
        if (!before.enabled)
          throw UserError(config.source_path + ": privacy.enabled but task.init_from (" + src +
                          ") was trained without privacy; if its users were not this "
                          "corpus's (public data, another platform), set "
                          "privacy.init_from_public: true");
        state.privacy.earlier = before.earlier;
        state.privacy.earlier.push_back(
            {before.sampling_rate, before.noise_multiplier, before.steps});
        say("privacy: task.init_from (" + src + ") was trained with DP-SGD on these users " +
            "(epsilon " + std::to_string(before.epsilon) + "): its spend composes with this " +
            "run's, and privacy.target_epsilon covers both");
      }
      std::vector<std::string> missing;
      load_matching_weights(model, pre, &missing);
      std::string note = "initialised from " + src + " (" + why + ")";
      if (!missing.empty()) {
        note += " (new:";
        for (const auto& m : missing) note += " " + m;
        note += ")";
      }
      if (std::find(missing.begin(), missing.end(), "propensity_head.bias") != missing.end()) {
        note += "; propensity bias at the training purchase rate (logit " +
                std::to_string(start_propensity_at_prior(model, corpus)) + ")";
      }
      say(note);
    }
  });
  require_same_setup_on_all_ranks(comm, config, num_params, fingerprint, shape.micro_batches);
  if (comm.world_size() > 1) {
    comm::broadcast_floats(comm, model.params(), /*fixed_size=*/true);
    std::string earlier = privacy_phases_json(state.privacy.earlier).dump();
    comm::broadcast_string(comm, earlier);
    state.privacy.earlier =
        privacy_phases_from_json(Json::parse(earlier), "broadcast privacy phases");
    comm::broadcast_string(comm, state_json);
    comm::broadcast_floats(comm, full_m);
    comm::broadcast_floats(comm, full_v);
  }
  bool resumed = false;
  if (!state_json.empty()) {
    state = train_state_from_json(state_json, "broadcast training state");
    optimizer.load_state(std::move(full_m), std::move(full_v), state.step);
    resumed = true;
  }
  return RunStart{std::move(model), std::move(optimizer), state, resumed};
}

}  // namespace cf::trainer
