#include "trainer/train_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "core/random.h"
#include "data/batch.h"
#include "data/corpus.h"
#include "trainer/checkpoint.h"
#include "trainer/comm/communicator.h"
#include "trainer/device.h"
#include "trainer/grad_sync.h"
#include "trainer/lr_schedule.h"
#include "trainer/model/model.h"
#include "trainer/model/model_random.h"
#include "trainer/optimizer.h"
#include "trainer/task_rows.h"
#if CARTFORMER_HAVE_CUDA
#include "trainer/comm/nccl_comm.h"
#include "trainer/model/cuda_model.h"
#endif

namespace cf::trainer {
namespace fs = std::filesystem;

namespace {

// Seeds for dropout and sampled negatives are pure functions of (run seed, step),
// so a resumed run draws exactly what the uninterrupted run would have.
uint64_t stream_seed(uint64_t seed, int64_t step, uint64_t purpose) {
  return splitmix64_mix(splitmix64_mix(seed ^ purpose) + uint64_t(step));
}

void append_jsonl(const std::string& path, const Json& row) {
  std::ofstream f(path, std::ios::app);
  if (!f) throw UserError(path + ": cannot append metrics");
  f << row.dump() << "\n";
}

void broadcast_string(comm::Communicator& comm, std::string& s) {
  int64_t size = int64_t(s.size());
  comm.broadcast(&size, sizeof size, 0);
  s.resize(size_t(size));
  if (size > 0) comm.broadcast(s.data(), size, 0);
}

// `fixed_size`: the receivers' vector already has its final size (the model's parameters);
// a different size from rank 0 means the ranks built different models.
void broadcast_floats(comm::Communicator& comm, std::vector<float>& v, bool fixed_size = false) {
  int64_t size = int64_t(v.size());
  comm.broadcast(&size, sizeof size, 0);
  if (fixed_size && size != int64_t(v.size())) {
    throw UserError("rank " + std::to_string(comm.rank()) + ": rank 0 has " + std::to_string(size) +
                    " values where this rank has " + std::to_string(v.size()));
  }
  v.resize(size_t(size));
  if (size > 0) comm.broadcast(v.data(), size * int64_t(sizeof(float)), 0);
}

// Runs `work` on rank 0 only (file system work: checkpoints, metrics) and shares its outcome:
// a UserError there is raised on every rank, so all ranks stop together with the same message
// instead of the others waiting for rank 0 forever.
template <class Work>
void on_rank0(comm::Communicator& comm, Work&& work) {
  std::string error;
  if (comm.rank() == 0) {
    try {
      work();
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
  }
  if (comm.world_size() > 1) {
    // The others wait here while rank 0 does file work (a large checkpoint on slow storage),
    // which is not a stuck peer: allow it far longer than one collective.
    const double timeout = comm.timeout();
    comm.set_timeout(timeout > 0 ? std::max(timeout * 10, 3600.0) : 0);
    broadcast_string(comm, error);
    comm.set_timeout(timeout);
  }
  if (!error.empty()) throw UserError(error);
}

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

// Micro-batches per rank per step: from train.global_batch when set, else train.grad_accum.
int micro_batches_per_rank(const Config& config, int world_size) {
  const TrainSection& t = config.train;
  if (t.global_batch <= 0) return t.grad_accum;
  const int64_t per_step = int64_t(t.micro_batch) * world_size;
  if (t.global_batch % per_step != 0) {
    throw UserError(config.source_path + ": train.global_batch (" + std::to_string(t.global_batch) +
                    ") must be a multiple of train.micro_batch (" + std::to_string(t.micro_batch) +
                    ") x ranks (" + std::to_string(world_size) + ")");
  }
  return int(t.global_batch / per_step);
}

Json state_to_json(const TrainState& s) {
  return {{"step", s.step},
          {"tokens_seen", s.tokens_seen},
          {"sampler_step", s.sampler_step},
          {"seed", s.seed},
          {"rng_state", s.rng_state},
          {"elapsed", s.elapsed_seconds},
          {"global_batch", s.global_batch}};
}

TrainState state_from_json(const Json& j) {
  TrainState s;
  s.step = j["step"];
  s.tokens_seen = j["tokens_seen"];
  s.sampler_step = j["sampler_step"];
  s.seed = j["seed"];
  s.rng_state = j["rng_state"];
  s.elapsed_seconds = j["elapsed"];
  s.global_batch = j["global_batch"];
  return s;
}


// "AMD EPYC 7B13 (2 logical CPUs)" from /proc/cpuinfo; "unknown" where it is not readable.
std::string host_cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown";
  int logical = 0;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("processor", 0) == 0) ++logical;
    if (model == "unknown" && line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return model + " (" + std::to_string(logical) + " logical CPUs)";
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

int threads_per_rank() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
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
  const DeviceChoice device =
      choose_device(config.run.device, config.source_path, comm.local_rank());
  say(device.description);

  const int mb = config.train.micro_batch, T = config.model.max_len;
  const int accum = micro_batches_per_rank(config, world);
  const int64_t global_batch = int64_t(mb) * accum * world;
  const bool zero1 = config.comm.zero1 && world > 1;
  if (zero1 && device.cuda)
    throw UserError(config.source_path +
                    ": comm.zero1 is not available on the CUDA backend yet; "
                    "set comm.zero1: false or run.device: cpu");
  if (world > 1) {
    say("world size " + std::to_string(world) + " (" + comm.name() + ")");
    say("global batch " + std::to_string(global_batch) + " = micro_batch " + std::to_string(mb) +
        " x " + std::to_string(accum) + " micro-batches x " + std::to_string(world) + " ranks" +
        (zero1 ? "; ZeRO-1 optimizer shards" : ""));
  }

  auto corpus = data::CorpusReader::open(config.data.corpus);
  // One process visits every sequence each epoch in random order: below this size holding the
  // event channels in memory (~25 bytes/event) beats one HDF5 hyperslab read per sequence.
  // With several ranks each reads only the slices of its own micro-batches.
  constexpr int64_t kLoadAllEventLimit = 50'000'000;
  if (world == 1 && corpus->num_events() <= kLoadAllEventLimit) corpus->load_all();
  const data::VocabSizes vocab = corpus->vocab_sizes();
  const std::string fingerprint = corpus->vocab_fingerprint();

  const std::string out_dir = config.run.out_dir;
  const std::string ckpt_root = (fs::path(out_dir) / "checkpoints").string();
  on_rank0(comm, [&] { fs::create_directories(ckpt_root); });

  Model model(model_config_for_task(config), vocab);
  const int64_t num_params = int64_t(model.params().size());
  AdamW optimizer(model.tensors(), num_params, adamw_hyperparams(config.train));
  if (config.task.kind != TaskKind::kPretrain) optimizer.apply_task_policy(config.task);
  const std::vector<int64_t> shard_counts = comm::even_shard_counts(num_params, zero1 ? world : 1);
  if (zero1) {
    int64_t begin = 0;
    for (int r = 0; r < rank; ++r) begin += shard_counts[size_t(r)];
    optimizer.set_shard(begin, begin + shard_counts[size_t(rank)]);
  }

  TrainOutcome outcome;
  TrainState state;
  state.seed = config.run.seed;
  state.global_batch = global_batch;
  model.init_weights(config.run.seed);

  // Rank 0 reads any checkpoint and hands weights, optimizer state and position to the others,
  // so only rank 0 needs to see the run directory.
  std::vector<float> full_m, full_v;
  std::string state_json;
  on_rank0(comm, [&] {
    std::optional<std::string> resume_dir;
    if (resume == "auto") {
      resume_dir = find_latest_valid_checkpoint(ckpt_root);
      if (!resume_dir)
        say("resume auto: no valid checkpoint under " + ckpt_root + ", starting fresh");
    } else if (!resume.empty()) {
      resume_dir = resume;
    } else if (find_latest_valid_checkpoint(ckpt_root)) {
      throw UserError(out_dir +
                      ": run directory already has checkpoints; pass --resume auto to "
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
      if (ckpt.state.global_batch > 0 && ckpt.state.global_batch != global_batch) {
        throw UserError(*resume_dir + ": checkpoint was trained with a global batch of " +
                        std::to_string(ckpt.state.global_batch) + " sequences, this run has " +
                        std::to_string(global_batch) + " (micro_batch " + std::to_string(mb) +
                        " x " + std::to_string(accum) + " x " + std::to_string(world) +
                        " ranks); set train.global_batch: " +
                        std::to_string(ckpt.state.global_batch) + " to continue its sample stream");
      }
      full_m = std::move(ckpt.adam_m);
      full_v = std::move(ckpt.adam_v);
      TrainState loaded = ckpt.state;
      loaded.global_batch = global_batch;
      state_json = state_to_json(loaded).dump();
      say("resumed from " + *resume_dir + " at step " + std::to_string(ckpt.state.step) +
          (world > 1 ? " on " + std::to_string(world) + " ranks" : ""));
    } else if (!config.task.init_from.empty()) {
      std::string src = config.task.init_from;
      if (!fs::exists(fs::path(src) / "manifest.json")) {
        std::string root = fs::exists(fs::path(src) / "checkpoints")
                               ? (fs::path(src) / "checkpoints").string()
                               : src;
        auto latest = find_latest_valid_checkpoint(root);
        if (!latest) throw UserError(src + ": task.init_from has no valid checkpoint");
        src = *latest;
      }
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
      if (std::find(missing.begin(), missing.end(), "propensity_head.bias") != missing.end()) {
        note += "; propensity bias at the training purchase rate (logit " +
                std::to_string(start_propensity_at_prior(model, *corpus)) + ")";
      }
      say(note);
    }
  });
  require_same_setup_on_all_ranks(comm, config, num_params, fingerprint, accum);
  if (world > 1) {
    broadcast_floats(comm, model.params(), /*fixed_size=*/true);
    broadcast_string(comm, state_json);
    broadcast_floats(comm, full_m);
    broadcast_floats(comm, full_v);
  }
  if (!state_json.empty()) {
    state = state_from_json(Json::parse(state_json));
    optimizer.load_state(std::move(full_m), std::move(full_v), state.step);
    outcome.resumed = true;
    outcome.resumed_from_step = state.step;
  }
  int64_t last_ckpt_step = outcome.resumed ? state.step : -1;

#if CARTFORMER_HAVE_CUDA
  // The GPU trains a device copy of the model; the host Model and AdamW are brought up to date
  // whenever a checkpoint is written. Gradients are summed across ranks by NCCL.
  std::unique_ptr<CudaModel> gpu;
  std::unique_ptr<comm::NcclComm> nccl;
  if (device.cuda) {
    CudaModelOptions options;
    options.bf16 = config.cuda.precision == "bf16";
    options.flash_attention = config.cuda.attention == "flash";
    options.deterministic = config.cuda.deterministic;
    gpu = std::make_unique<CudaModel>(model.config(), vocab, options);
    gpu->upload_params(model.params());
    if (outcome.resumed) gpu->upload_optimizer_state(optimizer.m(), optimizer.v());
    if (world > 1) {
      nccl = std::make_unique<comm::NcclComm>(comm, device.gpu);
      nccl->set_timeout(config.comm.timeout_s);
      nccl->set_compute_stream(gpu->stream());
    }
    say(std::string("cuda: ") + config.cuda.precision + ", " + config.cuda.attention +
        " attention" + (config.cuda.deterministic ? ", deterministic" : "") +
        (nccl ? ", gradients all-reduced with NCCL during backward" : ""));
  }
  // Brings the host model and optimizer up to date with the device (before checkpoints).
  auto sync_from_device = [&] {
    if (!gpu) return;
    gpu->download_params(model.params());
    std::vector<float> m, v;
    gpu->download_optimizer_state(m, v);
    optimizer.load_state(std::move(m), std::move(v), optimizer.steps_taken());
  };
#else
  auto sync_from_device = [] {};
#endif

  on_rank0(comm, [&] {
    write_file_atomically((fs::path(out_dir) / "config.resolved.yaml").string(), to_yaml(config));
    // Where the run ran, for reports (metrics.jsonl has the when and how fast).
    const Json run_info = {{"world_size", world},
                           {"device", device.cuda ? "cuda" : "cpu"},
                           {"device_description", device.description},
                           {"host_cpu", host_cpu_model()},
                           {"threads_per_rank", threads_per_rank()},
                           {"resumed_at_step", outcome.resumed ? state.step : int64_t{0}}};
    write_file_atomically((fs::path(out_dir) / "run.json").string(), run_info.dump(2) + "\n");
  });
  const std::string metrics_path = (fs::path(out_dir) / "metrics.jsonl").string();

  data::BatchSampler sampler(eligible_sequences(*corpus), config.run.seed, int(global_batch));
  ValidationSet validation(*corpus, mb * config.train.eval_batches);
  const LossOptions base_loss = loss_options_for_task(config);

  const int64_t bucket_elements =
      std::max<int64_t>(1, int64_t(config.comm.bucket_mb * (1 << 20) / 4));
  GradientSync grad_sync(comm, num_params, bucket_elements);
#if CARTFORMER_HAVE_CUDA
  // On GPUs the buckets go through NCCL on the device gradients, started from the GPU model's
  // backward as on the CPU. Its micro-batches accumulate in place, so nothing is added on send.
  std::unique_ptr<GradientSync> gpu_sync;
  if (nccl) {
    gpu_sync = std::make_unique<GradientSync>(*nccl, num_params, bucket_elements);
    gpu->set_grads_ready_hook([&](int64_t first_final) { gpu_sync->grads_ready(first_final); });
  }
#endif
  // Time blocked in collectives, host (MPI) and device (NCCL) together.
  auto comm_wait_seconds = [&] {
    double wait = comm.timers().wait_seconds;
#if CARTFORMER_HAVE_CUDA
    if (nccl) wait += nccl->timers().wait_seconds;
#endif
    return wait;
  };
  if (world > 1 && !zero1 && !device.cuda) {
    model.set_grads_ready_hook([&](int64_t first_final) { grad_sync.grads_ready(first_final); });
  }
  std::vector<float> grad_shard(zero1 ? size_t(optimizer.shard_end() - optimizer.shard_begin())
                                      : 0);

  // The running sum of a step's earlier micro-batches (CPU only: the GPU model accumulates in
  // place).
  std::vector<float> earlier(accum > 1 && !device.cuda ? size_t(num_params) : 0);
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
  double comm_wait_at_report = 0;
  std::string last_ckpt;

  auto save_checkpoint = [&]() {
    sync_from_device();
    state.elapsed_seconds =
        elapsed_before +
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    // ZeRO-1: reassemble the whole optimizer state so the checkpoint is the same at any world
    // size (and resumes with or without sharding).
    std::vector<float> gathered_m, gathered_v;
    if (zero1) {
      gathered_m.resize(size_t(num_params));
      gathered_v.resize(size_t(num_params));
      comm.all_gather(optimizer.m().data(), gathered_m.data(), shard_counts);
      comm.all_gather(optimizer.v().data(), gathered_v.data(), shard_counts);
    }
    on_rank0(comm, [&] {
      last_ckpt = write_checkpoint(ckpt_root, model, zero1 ? gathered_m : optimizer.m(),
                                   zero1 ? gathered_v : optimizer.v(), config, state, fingerprint);
      prune_checkpoints(ckpt_root, config.checkpoint.keep_last);
    });
    last_ckpt_step = state.step;
  };

  while (state.step < config.train.steps) {
    const int64_t step = state.step;
    comm.set_step(step);
    // 1. This rank's micro-batches of the global batch (ranks take consecutive slices), and
    //    the global target counts, so every loss is averaged over the whole global batch.
    std::vector<int64_t> ids = sampler.global_batch(state.sampler_step);
    const int64_t first_row = int64_t(rank) * accum * mb;
    double counts[5] = {0, 0, 0, 0, 0};  // item, action, label targets, real tokens, stop votes
    for (int m = 0; m < accum; ++m) {
      data::Batch& batch = micro[m];
      batch.resize(mb, T);
      for (int b = 0; b < mb; ++b) {
        const int64_t row = first_row + int64_t(m) * mb + b;
        corpus->read_sequence(ids[size_t(row)], seq);
        RowPlan plan = plan_training_row(config, seq, training_row_draw(config.run.seed, step, row));
        data::fill_batch_row(batch, b, seq, plan.visible, true);
        batch.label[b] = plan.label;
        restrict_targets(config, batch, b);
        counts[3] += batch.length[b];
        counts[2] += plan.label >= 0 ? 1 : 0;
      }
      counts[0] += double(batch.num_targets());
      for (int32_t a : batch.target_action) counts[1] += a > 0 ? 1 : 0;
    }
    // A stop request (SIGTERM/SIGUSR1) on any rank stops every rank at this same boundary.
    counts[4] = hooks.stop_requested && hooks.stop_requested() ? 1 : 0;
    comm.all_reduce_sum(counts, 5);
    if (counts[4] > 0) {
      say("stop requested: checkpointing at step " + std::to_string(state.step));
      if (last_ckpt_step != state.step) save_checkpoint();
      outcome.preempted = true;
      break;
    }
    const int64_t item_targets = int64_t(counts[0]), action_targets = int64_t(counts[1]);
    const int64_t label_targets = int64_t(counts[2]), real_tokens = int64_t(counts[3]);
    LossOptions lo = base_loss;
    lo.item_grad_scale = item_targets > 0 ? 1.f / float(item_targets) : 0.f;
    lo.action_grad_scale =
        action_targets > 0 ? config.task.action_loss_weight / float(action_targets) : 0.f;
    lo.propensity_grad_scale = label_targets > 0 ? 1.f / float(label_targets) : 0.f;

    // 2. Forward/backward every micro-batch, accumulating gradients; with several ranks the
    //    last one's backward hands finished buckets to the all-reduce as it goes.
    LossSums sums;
    // One seed per step for every micro-batch: the model draws dropout masks and negatives per
    // (sequence, position), so any split of the global batch draws the same ones.
    lo.negative_seed = stream_seed(config.run.seed, step, 0x6e6567);
    const uint64_t dropout_seed = stream_seed(config.run.seed, step, 0x64726f70);
    const bool overlap = world > 1 && !zero1;
#if CARTFORMER_HAVE_CUDA
    if (gpu) {
      gpu->zero_grads();
      for (int m = 0; m < accum; ++m) {
        if (gpu_sync && m == accum - 1) gpu_sync->arm(gpu->device_grads(), nullptr);
        add_sums(sums, gpu->forward_backward(micro[m], lo, dropout_seed));
      }
    }
#endif
    for (int m = 0; m < accum && !device.cuda; ++m) {
      // Each micro-batch's gradients start from zero and are then added to the earlier ones
      // (add_gradients says why); `earlier` holds that running sum.
      if (m > 0) earlier.swap(model.grads());
      std::fill(model.grads().begin(), model.grads().end(), 0.f);
      const float* prior = m > 0 ? earlier.data() : nullptr;
      const bool last = m == accum - 1;
      if (overlap && last) grad_sync.arm(model.grads().data(), prior);
      add_sums(sums, model.forward_backward(micro[m], lo, dropout_seed));
      if (prior && !(overlap && last)) add_gradients(model.grads().data(), prior, num_params);
    }
    all_reduce_sums(comm, sums);

    // 3. Reduce, clip and update: all-reduce (every rank updates everything) or ZeRO-1
    //    (reduce-scatter, each rank updates its shard, all-gather the parameters).
    const float lr = lr_at(step, config.train);
    double norm = 0;
#if CARTFORMER_HAVE_CUDA
    if (gpu) {
      if (gpu_sync) gpu_sync->finish();
      norm = std::sqrt(gpu->grad_sum_of_squares(optimizer));
      gpu->adamw_step(optimizer, lr, clip_factor(norm, config.train.grad_clip));
    }
#endif
    if (device.cuda) {
      // updated on the device above
    } else if (zero1) {
      comm.reduce_scatter_sum(model.grads().data(), grad_shard.data(), shard_counts);
      double sum_sq = optimizer.grad_sum_of_squares(grad_shard.data());
      comm.all_reduce_sum(&sum_sq, 1);
      norm = std::sqrt(sum_sq);
      optimizer.step_shard(model.params().data(), grad_shard.data(), lr,
                           clip_factor(norm, config.train.grad_clip));
      comm.all_gather(model.params().data() + optimizer.shard_begin(), model.params().data(),
                      shard_counts);
    } else {
      if (world > 1) grad_sync.finish();
      norm = optimizer.grad_norm(model.grads());
      optimizer.step(model.params(), model.grads(), lr, clip_factor(norm, config.train.grad_clip));
    }

    state.step += 1;
    state.sampler_step += 1;
    state.tokens_seen += real_tokens;
    tokens_since_report += real_tokens;
    tokens_total_run += double(real_tokens);
    last_loss = task_loss(config, sums);
    loss_since_report += last_loss;
    steps_since_report += 1;

    const bool last_step = state.step == config.train.steps;
    const bool do_val =
        !validation.empty() &&
        (last_step || (config.train.eval_every > 0 && state.step % config.train.eval_every == 0));
    double val = -1;
    if (do_val) {
#if CARTFORMER_HAVE_CUDA
      if (gpu) {
        last_val = val = validation.loss(
            config, *corpus,
            [&](const data::Batch& b, const LossOptions& o) { return gpu->evaluate_loss(b, o); },
            comm);
      }
#endif
      if (!device.cuda) last_val = val = validation.loss(config, *corpus, model, comm);
    }

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
                          ? elapsed / steps_done_now * double(config.train.steps - state.step)
                          : 0;
      r.elapsed_seconds = elapsed_before + elapsed;
      r.tokens_seen = state.tokens_seen;
      r.world_size = world;
      r.comm_wait_seconds =
          (comm_wait_seconds() - comm_wait_at_report) / std::max(1, steps_since_report);
      r.comm_share = window > 0 ? (comm_wait_seconds() - comm_wait_at_report) / window : 0;
      comm_wait_at_report = comm_wait_seconds();
      if (lead) {
        Json row = {{"step", r.step},
                    {"loss", r.loss},
                    {"lr", r.lr},
                    {"grad_norm", r.grad_norm},
                    {"tokens_per_s", r.tokens_per_s},
                    {"tokens_seen", r.tokens_seen},
                    {"elapsed_s", r.elapsed_seconds},
                    {"world_size", world},
                    {"comm_wait_s", r.comm_wait_seconds},
                    {"comm_share", r.comm_share}};
        if (val >= 0) row["val_loss"] = val;
        row["task"] = task_kind_name(config.task.kind);
        append_jsonl(metrics_path, row);
        if (hooks.on_progress) hooks.on_progress(r);
      }
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
  if (last_ckpt.empty() && lead) {
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
  outcome.world_size = world;
  outcome.comm_wait_seconds = comm_wait_seconds();
  return outcome;
}

}  // namespace cf::trainer
