// bench_pipeline: end-to-end throughput of the two heavy stages on this machine —
//  1. prep: a synthetic log of N events (default 10M) -> corpus; events/s and peak memory;
//  2. pseudonymise: user ids through the keyed user hash prep applies to every user; ids/s on
//     one thread and on all OpenMP threads (prep's own loop);
//  3. train: training steps of a config (default the Beauty config) on its corpus; tokens/s
//     and achieved model GFLOP/s as a share of the sgemm peak measured first, in the same run.
// Prints a Markdown table (paste into docs/benchmarks.md with the machine it came from).
#include <omp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "data/batch.h"
#include "data/corpus.h"
#include "data/prep.h"
#include "data/synth/synth.h"
#include "data/user_pseudonym.h"
#include "kernels/cpu/blas_kernel_choice.h"
#include "kernels/cpu/matmul_precision.h"
#include "tools/bench/machine.h"
#include "tools/bench/sgemm_peak.h"
#include "tools/cli/args.h"
#include "trainer/config.h"
#include "trainer/lr_schedule.h"
#include "trainer/model/model.h"
#include "trainer/optimizer.h"
#include "trainer/sampled_loss.h"
#include "trainer/task_rows.h"

namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct PrepResult {
  int64_t events = 0;
  double synth_s = 0, prep_s = 0, peak_rss_mb = 0;
};

// The prep child of bench_prep and its pipes. Whatever way bench_prep leaves, the destructor
// closes what is still open, which ends a waiting child (it reads end of file), and reaps it.
struct PrepChild {
  int go[2] = {-1, -1}, result[2] = {-1, -1};
  pid_t pid = -1;

  static void close_fd(int& fd) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  ~PrepChild() {
    for (int* fd : {&go[0], &go[1], &result[0], &result[1]}) close_fd(*fd);
    if (pid > 0) waitpid(pid, nullptr, 0);
  }
};

// In the child: waits for the go byte, runs prep, sends its time and kept rows; never returns.
[[noreturn]] void run_prep_child(PrepChild& child, const std::string& logs,
                                 const std::string& corpus) {
  PrepChild::close_fd(child.go[1]);
  PrepChild::close_fd(child.result[0]);
  char go = 0;
  if (read(child.go[0], &go, 1) != 1 || go != 'g') _exit(4);  // synth failed: nothing to prep
  try {
    cf::data::PrepOptions options;
    options.sources.push_back({cf::data::RawFormat::kTrio, logs, "", {}});
    options.output_path = corpus;
    options.user_key = "benchmark-key-not-secret-0123456789";
    options.user_key_source = "benchmark";
    auto t = Clock::now();
    auto report = cf::data::run_prep(options);
    const double s = seconds_since(t);
    const int64_t kept = report.rows_kept;
    if (write(child.result[1], &s, sizeof(s)) != sizeof(s) ||
        write(child.result[1], &kept, sizeof(kept)) != sizeof(kept))
      _exit(3);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_pipeline: prep child: %s\n", e.what());
    _exit(5);
  }
  _exit(0);  // no exit handlers: they belong to the parent
}

// Prep runs in a child process, so that its peak RSS (wait4) is prep's alone. The child is forked
// before synth runs and waits for it: a child forked after synth would inherit synth's peak
// (Linux copies the high-water mark into the child), which at 100M events is larger than prep's.
PrepResult bench_prep(int64_t events, const std::string& scratch) {
  fs::create_directories(scratch);
  const std::string logs = scratch + "/logs", corpus = scratch + "/corpus.h5";
  fs::remove_all(logs);
  struct RemoveScratch {
    std::string logs, corpus;
    ~RemoveScratch() {
      std::error_code ignored;
      fs::remove_all(logs, ignored);
      fs::remove(corpus, ignored);
    }
  } remove_scratch{logs, corpus};
  signal(SIGPIPE, SIG_IGN);  // a child that died early turns the go byte into EPIPE, not a kill
  PrepChild child;
  if (pipe(child.go) != 0 || pipe(child.result) != 0) throw std::runtime_error("pipe failed");
  child.pid = fork();
  if (child.pid < 0) throw std::runtime_error("fork failed");
  if (child.pid == 0) run_prep_child(child, logs, corpus);
  PrepChild::close_fd(child.go[0]);
  PrepChild::close_fd(child.result[1]);

  PrepResult r;
  cf::synth::SynthOptions synth;
  cf::synth::apply_event_target(synth, events, /*keep_users=*/false);
  auto t0 = Clock::now();
  cf::synth::generate_synthetic_logs(synth, logs);
  r.synth_s = seconds_since(t0);
  const char go = 'g';
  if (write(child.go[1], &go, 1) != 1) throw std::runtime_error("prep child did not start");
  PrepChild::close_fd(child.go[1]);
  int status = 0;
  struct rusage usage {};
  const pid_t waited = wait4(child.pid, &status, 0, &usage);
  child.pid = -1;  // reaped (or gone)
  if (waited < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("prep child failed");
  if (read(child.result[0], &r.prep_s, sizeof(r.prep_s)) != sizeof(r.prep_s) ||
      read(child.result[0], &r.events, sizeof(r.events)) != sizeof(r.events))
    throw std::runtime_error("prep child sent no result");
  r.peak_rss_mb = double(usage.ru_maxrss) / 1024.0;
  return r;
}

struct PseudonymResult {
  int64_t ids = 0;
  int threads = 0;
  double one_thread_s = 0, all_threads_s = 0;
};

// Ids shaped like real ones (decimal numbers of growing width), hashed once on one thread and
// once in parallel as prep does.
PseudonymResult bench_pseudonyms(int64_t ids) {
  std::vector<std::string> raw(static_cast<size_t>(ids));
  for (int64_t i = 0; i < ids; ++i) raw[size_t(i)] = std::to_string(1000003 * i + 17);
  std::vector<std::string> out(raw.size());
  const cf::data::UserPseudonymizer pseudonym("benchmark-key-not-secret-0123456789");
  PseudonymResult r;
  r.ids = ids;
  r.threads = omp_get_max_threads();
  // An untimed pass first, so neither timed pass pays for the output strings' allocation.
#pragma omp parallel for schedule(dynamic, 1024)
  for (int64_t i = 0; i < ids; ++i) out[size_t(i)] = pseudonym(raw[size_t(i)]);
  auto t0 = Clock::now();
  for (int64_t i = 0; i < ids; ++i) out[size_t(i)] = pseudonym(raw[size_t(i)]);
  r.one_thread_s = seconds_since(t0);
  t0 = Clock::now();
#pragma omp parallel for schedule(dynamic, 1024)
  for (int64_t i = 0; i < ids; ++i) out[size_t(i)] = pseudonym(raw[size_t(i)]);
  r.all_threads_s = seconds_since(t0);
  return r;
}

struct TrainResult {
  int steps = 0;
  double seconds = 0, tokens = 0, flops = 0;
  int64_t params = 0;
};

TrainResult bench_train(const cf::trainer::Config& config, int steps) {
  using namespace cf;
  auto corpus = data::CorpusReader::open(config.data.corpus);
  trainer::Model model(config.model, corpus->vocab_sizes());
  model.init_weights(config.run.seed);
  trainer::AdamW optimizer(model.tensors(), int64_t(model.params().size()),
                           trainer::adamw_hyperparams(config.train));
  const std::vector<int64_t> eligible = cf::data::trainable_sequences(*corpus, cf::data::TrainingSplit());
  const int B = config.train.micro_batch, T = config.model.max_len;
  data::BatchSampler sampler(eligible, config.run.seed, B);
  const trainer::SampledLossPlan item_loss(config.loss, corpus->item_counts(), config.source_path,
                                           config.data.corpus);
  // Logits per position of a sampled loss: target, shared and in-batch negatives.
  const int64_t sampled_logits =
      config.loss.kind == trainer::ItemLoss::kFullSoftmax
          ? 0
          : 1 + int64_t(config.loss.negatives) + config.loss.in_batch_negatives;
  data::Batch batch;
  data::Sequence seq;
  TrainResult r;
  r.params = int64_t(model.params().size());
  for (int s = -2; s < steps; ++s) {  // two warm-up steps size the arena and caches
    auto ids = sampler.global_batch(s + 2);
    batch.resize(B, T);
    double tokens = 0;
    for (int b = 0; b < B; ++b) {
      corpus->read_sequence(ids[b], seq);
      data::fill_batch_row(batch, b, seq, data::visible_length(seq.length(), data::Split::kTrain),
                           true);
      tokens += batch.length[b];
    }
    trainer::LossOptions lo;
    item_loss.apply(lo, uint64_t(s + 100));
    lo.item_grad_scale = 1.0f / float(std::max<int64_t>(1, batch.num_targets()));
    lo.negative_seed = uint64_t(s + 100);
    auto t0 = Clock::now();
    std::fill(model.grads().begin(), model.grads().end(), 0.f);
    model.forward_backward(batch, lo, uint64_t(s + 7));
    float clip = trainer::clip_factor(optimizer.grad_norm(model.grads()), config.train.grad_clip);
    optimizer.step(model.params(), model.grads(), trainer::lr_at(s + 2, config.train), clip);
    double dt = seconds_since(t0);
    if (s >= 0) {
      r.seconds += dt;
      r.tokens += tokens;
      r.flops += tokens * model.flops_per_token(T, sampled_logits);
      r.steps += 1;
    }
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  cf::ops::cpu::use_matching_openblas_kernels(argv);  // may start this program again
  cf::cli::ArgParser args(
      "bench_pipeline",
      "Prep throughput on a synthetic log and training throughput of a config,\n"
      "against the sgemm peak measured first. Prints a Markdown table.");
  args.option("config", "FILE", "training config", "configs/pretrain/beauty.yaml");
  args.option("set", "KEY=VALUE", "config override", "", true);
  args.option("steps", "N", "timed training steps (0 = skip training)", "20");
  args.option("precision", "P",
              "matrix products of the timed training: fp32, bf16 or both (one row each, and "
              "their ratio)",
              "both");
  args.option("prep-events", "N", "events in the synthetic prep input (0 = skip prep)", "10000000");
  args.option("scratch", "DIR", "scratch folder for the prep benchmark", "/tmp/cartformer-bench");
  args.option("pseudonym-ids", "N", "user ids to pseudonymise (0 = skip)", "2000000");
  try {
    if (!args.parse(argc - 1, argv + 1)) return 0;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    // Prep runs in a forked child first: forking after OpenMP has started its thread pool
    // (the sgemm below) can deadlock the child's own OpenMP regions.
    PrepResult prep;
    const int64_t prep_events = args.get_int("prep-events");
    if (prep_events > 0) prep = bench_prep(prep_events, args.get("scratch"));
    PseudonymResult pseudonyms;
    const int64_t pseudonym_ids = args.get_int("pseudonym-ids");
    if (pseudonym_ids > 0) pseudonyms = bench_pseudonyms(pseudonym_ids);

    const int threads = omp_get_max_threads();
    std::printf("%s\n", cf::bench::machine_line().c_str());
    std::printf("machine: %u hardware threads, OpenMP threads %d\n",
                std::thread::hardware_concurrency(), threads);
    const int steps = int(args.get_int("steps"));
    const std::string precision = args.get("precision");
    if (precision != "fp32" && precision != "bf16" && precision != "both")
      throw cf::UserError("--precision must be fp32, bf16 or both, got '" + precision + "'");
    double peak = 0;
    // The timed training per precision, fp32 first: same config, same batches.
    std::vector<std::pair<std::string, TrainResult>> trains;
    cf::trainer::Config config;
    if (steps > 0) {
      peak = cf::bench::sgemm_peak_gflops();
      std::printf("sgemm peak (2048^3 OpenBLAS, measured now): %.1f GFLOP/s\n", peak);
      config = cf::trainer::load_config(args.get("config"), args.get_all("set"));
      for (const char* p : {"fp32", "bf16"}) {
        if (precision != "both" && precision != p) continue;
        const cf::ops::cpu::ScopedMatmulPrecision scope(std::string(p) == "bf16"
                                                            ? cf::ops::cpu::MatmulPrecision::kBf16
                                                            : cf::ops::cpu::MatmulPrecision::kFp32);
        trains.emplace_back(p, bench_train(config, steps));
      }
    }

    std::printf("\n| stage | workload | result | rate | share of sgemm peak |\n");
    std::printf("|---|---|---|---|---|\n");
    if (prep_events > 0) {
      std::printf("| synth | %lld events | %.1f s | %.2fM events/s | - |\n", (long long)prep.events,
                  prep.synth_s, prep.events / prep.synth_s / 1e6);
      std::printf(
          "| prep | %lld events (trio CSV -> HDF5) | %.1f s, peak RSS %.0f MiB | "
          "%.2fM events/s | - |\n",
          (long long)prep.events, prep.prep_s, prep.peak_rss_mb, prep.events / prep.prep_s / 1e6);
    }
    if (pseudonym_ids > 0) {
      std::printf(
          "| pseudonymise | %lld user ids (HMAC-SHA-256) | %.2f s (1 thread), %.2f s "
          "(%d threads) | %.2fM ids/s (1 thread), %.2fM ids/s (%d threads) | - |\n",
          (long long)pseudonyms.ids, pseudonyms.one_thread_s, pseudonyms.all_threads_s,
          pseudonyms.threads, pseudonyms.ids / pseudonyms.one_thread_s / 1e6,
          pseudonyms.ids / pseudonyms.all_threads_s / 1e6, pseudonyms.threads);
    }
    for (const auto& [name, train] : trains) {
      const double gflops = train.flops / train.seconds / 1e9;
      std::printf(
          "| train (%s products) | %s, %d steps x %d seq, %.2fM params, %s | %.3f s/step | "
          "%.0f tokens/s, %.1f GFLOP/s | %.1f%% |\n",
          name.c_str(), args.get("config").c_str(), train.steps, config.train.micro_batch,
          train.params / 1e6,
          config.loss.kind == cf::trainer::ItemLoss::kFullSoftmax
              ? "full softmax"
              : (std::string(cf::trainer::item_loss_name(config.loss.kind)) + " k=" +
                 std::to_string(config.loss.negatives))
                    .c_str(),
          train.seconds / train.steps, train.tokens / train.seconds, gflops, 100.0 * gflops / peak);
    }
    if (trains.size() == 2) {
      const auto rate = [](const TrainResult& t) { return t.tokens / t.seconds; };
      std::printf("\nbf16 / fp32 training tokens/s: %.2fx\n",
                  rate(trains[1].second) / rate(trains[0].second));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_pipeline: error: %s\n", e.what());
    return 1;
  }
}
