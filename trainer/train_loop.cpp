// run_training: the sequence of a training run — set up or resume, then step, validate,
// report and checkpoint until done or stopped. The numbers of a step are the backend's
// (trainer/backend/), the rows the task's (task_rows.h), the files rank 0's (run_files.h).
#include "trainer/train_loop.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "data/batch.h"
#include "data/corpus.h"
#include "data/text/copy_sequences.h"
#include "kernels/cpu/blas_kernel_choice.h"
#include "trainer/backend/training_backend.h"
#include "trainer/best_checkpoint.h"
#include "trainer/checkpoint.h"
#include "trainer/comm/rank_zero.h"
#include "trainer/cooccurrence_prior.h"
#include "trainer/device.h"
#include "trainer/early_stopping.h"
#include "trainer/lr_schedule.h"
#include "trainer/memory_estimate.h"
#include "trainer/privacy/dp_sgd.h"
#include "trainer/privacy/noise_key.h"
#include "trainer/privacy/rdp_accountant.h"
#include "trainer/run_files.h"
#include "trainer/run_length.h"
#include "trainer/run_setup.h"
#include "trainer/step_reporter.h"
#include "trainer/task_rows.h"
#include "trainer/validation_ranking.h"

namespace cf::trainer {

namespace {

// Seeds for dropout and sampled negatives are pure functions of (run seed, step),
// so a resumed run draws exactly what the uninterrupted run would have.
uint64_t stream_seed(uint64_t seed, int64_t step, uint64_t purpose) {
  return splitmix64_mix(splitmix64_mix(seed ^ purpose) + uint64_t(step));
}

// One process visits every sequence each epoch in random order: below this size holding the
// event channels in memory (~25 bytes/event) beats one HDF5 hyperslab read per sequence.
// With several ranks each reads only the slices of its own micro-batches.
constexpr int64_t kLoadAllEventLimit = 50'000'000;

// A loss or gradient norm that is NaN or infinite ends the run: nothing after it can be
// trusted, and going on would only write checkpoints of garbage.
void require_finite_step(const Config& config, int64_t step, double loss, double grad_norm) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) return;
  char numbers[160];
  std::snprintf(numbers, sizeof numbers, "loss %g, gradient norm %g (train.lr is %g",
                std::fabs(loss), std::fabs(grad_norm), double(config.train.lr));
  throw UserError(config.source_path + ": training diverged at step " + std::to_string(step) +
                  ": " + numbers + "; try a lower one); no checkpoint written for it");
}

std::string format_metric(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", value);
  return text;
}

// The manifest's account of a private run after `steps` steps.
PrivacySpent privacy_spent(const privacy::PrivacyPlan& dp,
                           const privacy::StepAccountant& accountant, int64_t steps) {
  PrivacySpent spent;
  spent.enabled = true;
  spent.epsilon = accountant.after(steps).epsilon;
  spent.delta = dp.delta;
  spent.clip_norm = dp.clip_norm;
  spent.noise_multiplier = dp.noise_multiplier;
  spent.sampling_rate = dp.sampling_rate;
  spent.steps = steps;
  spent.earlier = dp.earlier;
  return spent;
}

// A resumed run keeps the privacy plan its steps were accounted under: a private run goes on
// privately with the same sampling rate and noise (a changed train.steps or privacy key would
// change them), and a run trained without privacy cannot become private halfway.
void require_same_privacy_plan(const Config& config, const privacy::PrivacyPlan& dp,
                               const TrainState& state) {
  const PrivacySpent& before = state.privacy;
  if (!dp.enabled && before.enabled)
    throw UserError(config.source_path +
                    ": the run being resumed trained with DP-SGD (privacy.enabled); going on "
                    "without it would leave a model whose manifest claims a guarantee it no "
                    "longer has: set privacy.enabled: true with the same keys, or --resume fresh");
  if (!dp.enabled || state.step == 0) return;
  if (!before.enabled)
    throw UserError(config.source_path + ": privacy.enabled: the run being resumed trained " +
                    std::to_string(state.step) +
                    " steps without privacy; start a fresh run (--resume fresh)");
  auto differs = [](double a, double b) {
    return std::abs(a - b) > 1e-12 * std::max(1.0, std::abs(b));
  };
  if (differs(before.noise_multiplier, dp.noise_multiplier) ||
      differs(before.sampling_rate, dp.sampling_rate) || differs(before.delta, dp.delta) ||
      differs(before.clip_norm, dp.clip_norm))
    throw UserError(config.source_path +
                    ": privacy: the resumed run's plan differs from the checkpoint's (noise "
                    "multiplier " +
                    std::to_string(dp.noise_multiplier) + " vs " +
                    std::to_string(before.noise_multiplier) + ", sampling rate " +
                    std::to_string(dp.sampling_rate) + " vs " +
                    std::to_string(before.sampling_rate) +
                    "): keep train.steps, train.global_batch and the privacy keys as they were");
}

}  // namespace

TrainOutcome run_training(const Config& config, const std::string& resume, const TrainHooks& hooks,
                          comm::Communicator* communicator) {
  comm::LocalComm local_comm;
  comm::Communicator& comm = communicator ? *communicator : local_comm;
  const int rank = comm.rank(), world = comm.world_size();
  const bool lead = rank == 0;  // prints, writes metrics and checkpoints
  auto say = [&](const std::string& msg) {
    if (lead && hooks.on_message) hooks.on_message(msg);
  };
  comm.set_timeout(config.comm.timeout_s);

  // 1. Set up or resume.
  const DeviceChoice device =
      choose_device(config.run.device, config.source_path, comm.local_rank());
  say(device.description);
  const StepShape shape = step_shape(config, world);
  const BackendOptions backend_settings = backend_options(config, shape.micro_batches, world);
  if (world > 1) {
    say("world size " + std::to_string(world) + " (" + comm.name() + ")");
    say("global batch " + std::to_string(shape.global_batch) + " = micro_batch " +
        std::to_string(shape.micro_batch) + " x " + std::to_string(shape.micro_batches) +
        " micro-batches x " + std::to_string(world) + " ranks" +
        (backend_settings.zero1 ? "; ZeRO-1 optimizer shards" : ""));
  }
  // task.kind copy trains on a text corpus, read as one token sequence per pair.
  auto corpus = config.task.kind == TaskKind::kCopy
                    ? data::text::open_copy_sequences(config.data.corpus, config.model.max_len)
                    : data::CorpusReader::open(config.data.corpus);
  const bool load_all = world == 1 && corpus->num_events() <= kLoadAllEventLimit;
  require_training_memory(config, corpus->vocab_sizes(), shape, load_all ? corpus->num_events() : 0,
                          /*activations_on_host=*/!device.cuda);
  if (load_all) corpus->load_all();
  RunStart run = set_up_run(config, resume, comm, *corpus, shape, say);
  TrainState& state = run.state;
  auto backend = make_training_backend(device, backend_settings, run.model, run.optimizer, comm);
  if (!backend->description().empty()) say(backend->description());

  RunFiles files(config.run.out_dir);
  comm::on_rank0(comm, [&] {
    const Json run_info = {{"world_size", world},
                           {"device", device.cuda ? "cuda" : "cpu"},
                           {"device_description", device.description},
                           {"host_cpu", host_cpu_model()},
                           {"backend", backend->description()},
                           {"openblas_kernels", ops::cpu::openblas_core()},
                           {"threads_per_rank", threads_per_rank()},
                           {"resumed_at_step", run.resumed ? state.step : int64_t{0}}};
    files.start(config, run_info, state.step);
  });
  // DP-SGD's sampling and noise are keyed by a secret (privacy/noise_key.h), the same on every
  // rank: rank 0 reads or creates it and hands it on.
  uint64_t dp_key = 0;
  if (config.privacy.enabled) {
    comm::on_rank0(comm, [&] { dp_key = privacy::load_noise_key(config, state.step); });
    comm.broadcast(&dp_key, sizeof dp_key, 0);
  }
  const TaskSpec task = task_spec(config.task);
  const SampledLossPlan item_loss(config.loss, corpus->item_counts(), config.source_path,
                                  config.data.corpus);
  const std::string fingerprint = corpus->vocab_fingerprint();
  // Which events training may use (validation.holdout): the validation users' second-to-last
  // event stays out; under all_users everybody's does.
  const RunTrainingSplit run_split = run_training_split(config, *corpus);
  const data::TrainingSplit& split = run_split.split;
  const std::vector<int64_t>& validation_users = run_split.validation_users;
  const std::vector<int64_t> trainable = data::trainable_sequences(*corpus, split);
  data::BatchSampler sampler(trainable, config.run.seed, int(shape.global_batch));
  // The run length in steps (train.steps, or train.epochs passes); the LR schedule spans it.
  const int64_t total_steps = run_length_steps(config, sampler.steps_per_epoch());
  // DP-SGD (privacy.enabled): the noise calibrated for the whole run before the first step.
  const privacy::PrivacyPlan dp = privacy::plan_privacy(
      config, int64_t(trainable.size()), shape.global_batch, total_steps, state.privacy.earlier);
  require_same_privacy_plan(config, dp, state);
  std::optional<privacy::StepAccountant> accountant;
  if (dp.enabled) {
    accountant.emplace(dp.sampling_rate, dp.noise_multiplier, dp.delta,
                       privacy::composed_rdp(dp.earlier));
    // The spend so far from the start: a checkpoint written before the first step (a stop
    // during setup) then still carries the plan and the earlier phases it composes with.
    state.privacy = privacy_spent(dp, *accountant, state.step);
    char line[256];
    std::snprintf(line, sizeof line,
                  "privacy: DP-SGD to epsilon %g at delta %.3g over %lld steps: users Poisson-"
                  "sampled at rate %.5g (%lld users, %.1f per step expected), each user's "
                  "gradient clipped to %g, noise multiplier %.4f",
                  dp.target_epsilon, dp.delta, (long long)dp.steps, dp.sampling_rate,
                  (long long)dp.users, dp.expected_batch(), dp.clip_norm, dp.noise_multiplier);
    std::string text = line;
    if (!dp.earlier.empty()) {
      int64_t earlier_steps = 0;
      for (const privacy::MechanismPhase& phase : dp.earlier) earlier_steps += phase.steps;
      std::snprintf(line, sizeof line,
                    "; composed with %zu earlier private run(s) on these users (%lld steps, "
                    "epsilon %.4g before this run)",
                    dp.earlier.size(), (long long)earlier_steps, accountant->after(0).epsilon);
      text += line;
    }
    say(text);
  }
  TrainSection schedule = config.train;
  schedule.steps = total_steps;
  const ValidationSet validation(*corpus, shape.micro_batch * config.train.eval_batches, task,
                                 shape.micro_batch, shape.max_len, validation_users);
  auto evaluate = [&](const data::Batch& b, const LossOptions& o) {
    return backend->evaluate_loss(b, o);
  };

  // Validation metric (config.validation): what early stopping and the best checkpoint follow.
  const ValidationMetric metric = config.validation.metric;
  const std::string metric_name = validation_metric_name(metric);
  const bool ranks_items = metric != ValidationMetric::kLoss;
  std::optional<ValidationRanking> ranking;
  if (ranks_items) ranking.emplace(*corpus, config.validation.users);
  // model.cooccurrence_prior: the counts of the events this run trains on, as eval counts them.
  std::shared_ptr<const cf::ranking::CooccurrenceTable> prior_table;
  if (config.model.cooccurrence_prior && ranks_items) {
    prior_table = build_cooccurrence_table(*corpus, split);
    say("co-occurrence prior: " + std::to_string(prior_table->num_pairs()) +
        " item pairs; its weight is chosen on the validation ranking");
  }
  const bool validating = ranks_items ? !ranking->empty() : !validation.empty();
  const int64_t validate_every = validation_interval_steps(config, sampler.steps_per_epoch());
  EarlyStopping stopper(/*higher_is_better=*/ranks_items, config.validation.patience,
                        double(config.validation.min_delta), state.early_stopping);
  if (validating) {
    say("validation: " + metric_name + " every " + std::to_string(validate_every) + " steps" +
        (ranks_items ? " over " + std::to_string(ranking->size()) + " users" : "") +
        (config.validation.patience > 0
             ? "; early stopping after " + std::to_string(config.validation.patience) +
                   " evaluations without improvement"
             : ""));
  }

  std::vector<data::Batch> micro(size_t(shape.micro_batches));
  StepReporter reporter(state.step, total_steps, state.elapsed_seconds, world);

  TrainOutcome outcome;
  outcome.resumed = run.resumed;
  outcome.resumed_from_step = run.resumed ? state.step : 0;
  outcome.elapsed_before_resume_seconds = run.resumed ? state.elapsed_seconds : 0;
  int64_t last_ckpt_step = run.resumed ? state.step : -1;
  std::string last_ckpt;
  double last_loss = 0, last_val = -1;
  auto save_checkpoint = [&] {
    state.elapsed_seconds = reporter.elapsed_seconds();
    const CheckpointTensors tensors = backend->checkpoint_tensors();
    comm::on_rank0(comm, [&] {
      last_ckpt = write_checkpoint(files.checkpoints_root(), tensors.model, tensors.adam_m,
                                   tensors.adam_v, config, state, fingerprint);
      prune_checkpoints(files.checkpoints_root(), config.checkpoint.keep_last);
    });
    last_ckpt_step = state.step;
  };

  auto early_stop_note = [&] {
    const EarlyStoppingState& best = stopper.state();
    return "early stop at step " + std::to_string(state.step) + ": best " + metric_name + " " +
           format_metric(best.best_value) + " at step " + std::to_string(best.best_step);
  };
  // A run that already stopped early (resumed from its final checkpoint) stays stopped.
  if (validating && stopper.should_stop()) {
    say("already stopped: " + early_stop_note());
    outcome.stopped_early = true;
  }

  try {
    while (!outcome.stopped_early && state.step < total_steps) {
      const int64_t step = state.step;
      comm.set_step(step);
      // 2. This rank's rows of the global batch (ranks take consecutive slices), and the global
      //    target counts, so every loss is averaged over the whole global batch. A stop request
      //    (SIGTERM/SIGUSR1) on any rank travels with them and stops every rank at this step.
      StepTargetCounts mine;
      if (dp.enabled) {
        // DP-SGD: the users Poisson sampling put in this step, in consecutive slices per rank
        // (the last rank may get fewer).
        const std::vector<int64_t> users =
            privacy::poisson_sample(trainable, dp.sampling_rate, dp_key, step);
        const int64_t per_rank = (int64_t(users.size()) + world - 1) / world;
        const int64_t first = std::min<int64_t>(int64_t(rank) * per_rank, users.size());
        const int64_t rows = std::min<int64_t>(per_rank, int64_t(users.size()) - first);
        mine = fill_micro_batches(task, split, *corpus, users, first, rows, config.run.seed, step,
                                  shape.micro_batch, shape.max_len, micro);
      } else {
        const int64_t rows = int64_t(shape.micro_batches) * shape.micro_batch;
        mine = fill_micro_batches(task, split, *corpus, sampler.global_batch(state.sampler_step),
                                  int64_t(rank) * rows, rows, config.run.seed, step,
                                  shape.micro_batch, shape.max_len, micro);
      }
      double counts[5] = {double(mine.items), double(mine.actions), double(mine.labels),
                          double(mine.tokens),
                          hooks.stop_requested && hooks.stop_requested() ? 1.0 : 0.0};
      comm.all_reduce_sum(counts, 5);
      if (counts[4] > 0) {
        say("stop requested: checkpointing at step " + std::to_string(state.step));
        if (last_ckpt_step != state.step) save_checkpoint();
        outcome.preempted = true;
        break;
      }
      const StepTargetCounts global = {int64_t(counts[0]), int64_t(counts[1]), int64_t(counts[2]),
                                       int64_t(counts[3])};

      // 3. Forward, backward, update. One seed per step for every micro-batch: the model draws
      //    dropout masks and negatives per (sequence, position), so any split of the global
      //    batch draws the same ones.
      const uint64_t negative_seed = stream_seed(config.run.seed, step, 0x6e6567);
      const uint64_t dropout_seed = stream_seed(config.run.seed, step, 0x64726f70);
      const float lr = lr_at(step, schedule);
      LossSums sums;
      double norm;
      if (dp.enabled) {
        // Each user's loss is the mean over its own targets, so every user weighs the same
        // before clipping; the noisy sum is divided by the expected users per step.
        sums = backend->forward_backward_private(
            micro,
            [&](const data::Batch& user) {
              return step_loss_options(task, row_target_counts(user), item_loss, negative_seed);
            },
            dropout_seed, dp.clip_norm);
        norm = backend->update_private(lr, dp.noise_multiplier * dp.clip_norm, dp.expected_batch(),
                                       stream_seed(dp_key, step, 0x6e6f697365), step);
      } else {
        const LossOptions loss = step_loss_options(task, global, item_loss, negative_seed);
        sums = backend->forward_backward(micro, loss, dropout_seed);
        norm = backend->update(lr, config.train.grad_clip);
      }
      all_reduce_sums(comm, sums);
      last_loss = task_loss(task, sums);
      require_finite_step(config, step + 1, last_loss, norm);
      state.step += 1;
      state.sampler_step += 1;
      if (dp.enabled) state.privacy = privacy_spent(dp, *accountant, state.step);
      state.tokens_seen += global.tokens;
      reporter.add_step(last_loss, global.tokens);

      // 4. Validate (loss every train.eval_every steps; the validation metric every
      //    validate_every steps; both at the end) and report.
      const bool last_step = state.step == total_steps;
      const bool do_val =
          !validation.empty() &&
          (last_step || (config.train.eval_every > 0 && state.step % config.train.eval_every == 0));
      const bool do_metric = validating && (last_step || state.step % validate_every == 0);
      double val = do_val ? validation.loss(*corpus, evaluate, comm) : -1;
      ValidationRanks ranks;
      double metric_value = 0;
      if (do_metric && ranks_items) {
        // The host model is the one scored: the CPU backend trains it in place, the CUDA
        // backend copies its weights back here (a collective: every rank is at this step).
        const CheckpointTensors current = backend->checkpoint_tensors();
        CF_CHECK(&current.model == &run.model, "the backend trains a model other than the run's");
        ranks = ranking->score(run.model, *corpus, comm, prior_table.get(),
                               metric == ValidationMetric::kHrAt10);
        state.cooccurrence_prior_weight = ranks.prior_weight;
        metric_value = metric == ValidationMetric::kHrAt10 ? ranks.hr_at_10 : ranks.ndcg_at_10;
      } else if (do_metric) {
        if (val < 0) val = validation.loss(*corpus, evaluate, comm);
        metric_value = val;
      }
      if (val >= 0) last_val = val;
      // With a prior, the network alone still improving keeps the run going (the prior can
      // carry the served metric early on; see early_stopping.h). Every rank holds the same
      // values, so every rank takes the same decisions.
      const double learning_value =
          do_metric && ranks_items && prior_table
              ? (metric == ValidationMetric::kHrAt10 ? ranks.model_hr_at_10
                                                     : ranks.model_ndcg_at_10)
              : std::numeric_limits<double>::quiet_NaN();
      const bool improved = do_metric && stopper.record(state.step, metric_value, learning_value);
      state.early_stopping = stopper.state();
      const bool stop_early = do_metric && !last_step && stopper.should_stop();
      if (last_step || state.step % config.train.log_every == 0 || val >= 0 || do_metric) {
        StepReport r = reporter.report(state.step, state.tokens_seen, lr, norm, val,
                                       backend->comm_wait_seconds());
        if (dp.enabled) r.epsilon = state.privacy.epsilon;
        if (do_metric && ranks_items) {
          r.val_hr_at_10 = ranks.hr_at_10;
          r.val_ndcg_at_10 = ranks.ndcg_at_10;
          if (prior_table) {
            r.val_prior_weight = ranks.prior_weight;
            r.val_model_hr_at_10 = ranks.model_hr_at_10;
            r.val_model_ndcg_at_10 = ranks.model_ndcg_at_10;
          }
        }
        if (lead) {
          files.append_metrics(metrics_row(r, config.task.kind));
          if (hooks.on_progress) hooks.on_progress(r);
        }
      }

      // 5. Checkpoint (the best one is marked once it is complete), and stop where asked to
      //    or when the metric stopped improving.
      const bool stopping = hooks.stop_at_step > 0 && state.step >= hooks.stop_at_step;
      const bool keep_as_best = improved && config.checkpoint.keep_best;
      if (last_step || stopping || stop_early || keep_as_best ||
          (config.checkpoint.every > 0 && state.step % config.checkpoint.every == 0))
        save_checkpoint();
      if (keep_as_best) {
        comm::on_rank0(comm, [&] {
          write_best_mark(files.checkpoints_root(), {state.step, metric_name, metric_value});
        });
      }
      if (stop_early) {
        say(early_stop_note());
        outcome.stopped_early = true;
        break;
      }
      if (stopping) break;
    }
  } catch (...) {
    if (lead) files.abandon(last_ckpt_step);
    throw;
  }
  if (last_ckpt.empty() && lead) {
    // Resumed at (or past) the final step: nothing to train; report the checkpoint we have.
    auto latest = find_latest_valid_checkpoint(files.checkpoints_root());
    last_ckpt = latest ? *latest : "";
  }
  outcome.final_checkpoint = last_ckpt;
  outcome.steps = state.step;
  outcome.final_loss = last_loss;
  outcome.final_val_loss = last_val;
  outcome.mean_tokens_per_s = reporter.mean_tokens_per_s();
  outcome.world_size = world;
  outcome.comm_wait_seconds = backend->comm_wait_seconds();
  if (validating) {
    const EarlyStoppingState& best = stopper.state();
    outcome.validation_metric = metric_name;
    if (best.best_step >= 0) {
      outcome.best_validation_value = best.best_value;
      outcome.best_step = best.best_step;
      if (config.checkpoint.keep_best) {
        outcome.best_checkpoint =
            files.checkpoints_root() + "/step_" + std::to_string(best.best_step);
      }
    }
  }
  return outcome;
}

}  // namespace cf::trainer
