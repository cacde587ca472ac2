// bench_kernels: times the CPU kernels at the Beauty training shapes against the sgemm peak
// measured first on the same machine, and prints one table.
//
//   bench_kernels [--quick]
//
// Shapes: B*T = 128*50 rows, C = 64, 2 heads, MLP 64 -> 256, 54,543 items. Threads come from
// OMP_NUM_THREADS. --quick runs each op once (smoke test); otherwise each op repeats for about
// half a second and the fastest run is reported.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/blas_kernel_choice.h"
#include "kernels/cpu/matmul_precision.h"
#include "kernels/ops.h"
#include "tools/bench/machine.h"
#include "tools/bench/sgemm_peak.h"

namespace {

using Clock = std::chrono::steady_clock;
using cf::ops::cpu::MatmulPrecision;

bool quick = false;

std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<int32_t> random_ids(size_t n, uint64_t seed, int lo, int hi) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Fastest wall time of `op` in milliseconds: one warm-up call, then repeats for about
// `budget_ms` (at least 3, at most 50). The fastest run is the one least disturbed by other
// processes.
double time_ms(const std::function<void()>& op, double budget_ms = 500.0) {
  op();
  if (quick) return 0.0;
  double best = 1e300, spent = 0;
  for (int rep = 0; rep < 50 && (rep < 3 || spent < budget_ms); ++rep) {
    const auto start = Clock::now();
    op();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    best = std::min(best, ms);
    spent += ms;
  }
  return best;
}

struct Row {
  std::string op, shape;
  double ms, flops;  // flops <= 0: not a compute-bound op, no GFLOP/s column
};

}  // namespace

int main(int argc, char** argv) {
  cf::ops::cpu::use_matching_openblas_kernels(argv);  // may start this program again
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::printf(
          "usage: bench_kernels [--quick]\n"
          "Times the CPU kernels at the Beauty training shapes against the sgemm peak.\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 1;
    }
  }
  const int B = 128, T = 50, N = B * T, C = 64, NH = 2, hs = C / NH, F = 4 * C, V = 54543;
  const int threads = omp_get_max_threads();
  const double peak_before = cf::bench::sgemm_peak_gflops();

  std::vector<Row> rows;
  const auto x = random_floats(size_t(N) * C, 3);
  const auto dx = random_floats(size_t(N) * C, 4);

  // Linear layers of a block: qkv (64 -> 192), MLP up (64 -> 256), MLP down (256 -> 64), with
  // fp32 products and with bf16 ones (run.precision: bf16).
  for (const MatmulPrecision precision : {MatmulPrecision::kFp32, MatmulPrecision::kBf16}) {
    const cf::ops::cpu::ScopedMatmulPrecision scope(precision);
    const std::string tag = precision == MatmulPrecision::kBf16 ? " (bf16)" : "";
    for (const auto& [in, out] : {std::pair{C, 3 * C}, std::pair{C, F}, std::pair{F, C}}) {
      const auto inp = random_floats(size_t(N) * in, 5), weight = random_floats(size_t(out) * in, 6);
      const auto bias = random_floats(out, 7), dout = random_floats(size_t(N) * out, 8);
      std::vector<float> o(size_t(N) * out), dinp(size_t(N) * in), dweight(size_t(out) * in),
          dbias(out);
      const std::string shape =
          std::to_string(N) + "x" + std::to_string(in) + " -> " + std::to_string(out);
      const double flops = 2.0 * N * in * out;
      rows.push_back({"matmul_forward" + tag, shape, time_ms([&] {
                        cf::ops::matmul_forward(o.data(), inp.data(), weight.data(), bias.data(),
                                                N, in, out);
                      }),
                      flops});
      rows.push_back({"matmul_backward" + tag, shape, time_ms([&] {
                        cf::ops::matmul_backward(dinp.data(), dweight.data(), dbias.data(),
                                                 dout.data(), inp.data(), weight.data(), N, in,
                                                 out);
                      }),
                      2 * flops});
    }
  }

  // Attention in both forms: keeping the probabilities [B, NH, T, T] for backward, and tiled
  // over the queries, keeping only each row's softmax statistics. At the Beauty shape and at a
  // long one (same tokens per batch), where the stored form's tensor gets large.
  for (const auto& [ab, at] : {std::pair{B, T}, std::pair{std::max(1, N / 1024), 1024}}) {
    const int an = ab * at;
    const auto qkv = random_floats(size_t(an) * 3 * C, 9);
    const auto dout = random_floats(size_t(an) * C, 12);
    auto lengths = std::vector<int32_t>(ab, at);  // full sequences: the most work
    std::vector<float> out(size_t(an) * C), att(size_t(ab) * NH * at * at),
        stats(size_t(ab) * NH * at * 2), dqkv(qkv.size());
    const std::string shape = "B" + std::to_string(ab) + " T" + std::to_string(at) + " C" +
                              std::to_string(C) + " NH" + std::to_string(NH);
    // Causal: T(T+1)/2 query-key pairs per head, hs multiply-adds each for scores and values.
    const double flops = 2.0 * 2.0 * ab * NH * (at * (at + 1) / 2.0) * hs;
    rows.push_back({"attention_forward", shape, time_ms([&] {
                      cf::ops::attention_forward(out.data(), att.data(), qkv.data(),
                                                 lengths.data(), ab, at, C, NH);
                    }),
                    flops});
    rows.push_back({"attention_backward", shape, time_ms([&] {
                      cf::ops::attention_backward(dqkv.data(), dout.data(), qkv.data(),
                                                  att.data(), lengths.data(), ab, at, C, NH);
                    }),
                    2 * flops});
    rows.push_back({"attention_forward (tiled)", shape, time_ms([&] {
                      cf::ops::attention_forward_tiled(out.data(), stats.data(), qkv.data(),
                                                       lengths.data(), ab, at, C, NH);
                    }),
                    flops});
    rows.push_back({"attention_backward (tiled)", shape, time_ms([&] {
                      cf::ops::attention_backward_tiled(dqkv.data(), dout.data(), qkv.data(),
                                                        stats.data(), lengths.data(), ab, at, C,
                                                        NH);
                    }),
                    2 * flops});
  }

  {
    const auto w = random_floats(C, 10), b = random_floats(C, 11);
    std::vector<float> out(size_t(N) * C), mean(N), rstd(N), dinp(size_t(N) * C), dw(C), db(C);
    const std::string shape = std::to_string(N) + "x" + std::to_string(C);
    rows.push_back({"layernorm_forward", shape, time_ms([&] {
                      cf::ops::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(),
                                                 w.data(), b.data(), N, C);
                    }),
                    0});
    rows.push_back({"layernorm_backward", shape, time_ms([&] {
                      cf::ops::layernorm_backward(dinp.data(), dw.data(), db.data(), dx.data(),
                                                  x.data(), w.data(), mean.data(), rstd.data(), N,
                                                  C);
                    }),
                    0});
  }

  {
    const int64_t n = int64_t(N) * F;
    const auto h = random_floats(n, 12, 3.0f), dh = random_floats(n, 13);
    std::vector<float> out(n), dinp(n);
    const std::string shape = std::to_string(N) + "x" + std::to_string(F);
    rows.push_back({"gelu_forward", shape,
                    time_ms([&] { cf::ops::gelu_forward(out.data(), h.data(), n); }), 0});
    rows.push_back({"gelu_backward", shape,
                    time_ms([&] { cf::ops::gelu_backward(dinp.data(), h.data(), dh.data(), n); }),
                    0});
    rows.push_back({"dropout_forward p=0.2", shape,
                    time_ms([&] { cf::ops::dropout_forward(out.data(), h.data(), 0.2f, 1, n); }),
                    0});
  }

  {
    const auto table = random_floats(size_t(V) * C, 14);
    const auto ids = random_ids(N, 15, 1, V - 1);
    std::vector<float> out(size_t(N) * C), dtable(size_t(V) * C);
    const std::string shape = std::to_string(N) + " ids, " + std::to_string(V) + "x64";
    rows.push_back({"embedding_forward", shape, time_ms([&] {
                      cf::ops::embedding_forward(out.data(), ids.data(), table.data(), N, C);
                    }),
                    0});
    rows.push_back({"embedding_backward", shape, time_ms([&] {
                      cf::ops::embedding_backward(dtable.data(), ids.data(), dx.data(), N, C);
                    }),
                    0});
  }

  {
    const auto weight = random_floats(size_t(V) * C, 16, 0.1f), bias = random_floats(V, 17, 0.1f);
    const auto targets = random_ids(N, 18, 1, V - 1);
    std::vector<float> dhidden(size_t(N) * C), dweight(size_t(V) * C), dbias(V);
    // Three products of N x C x V multiply-adds: logits, dhidden, dweight.
    for (int chunk : {64, 128, 256}) {
      const double ms = time_ms([&] {
        cf::ops::softmax_xent_forward_backward(dhidden.data(), dweight.data(), dbias.data(),
                                               nullptr, x.data(), weight.data(), bias.data(),
                                               targets.data(), N, C, V, 1.0f / N, chunk);
      });
      rows.push_back({"softmax_xent fwd+bwd", "6400x64, V 54543, chunk " + std::to_string(chunk),
                      ms, 6.0 * N * C * double(V)});
    }
    const double fwd_ms = time_ms([&] {
      cf::ops::softmax_xent_forward_backward<float>(nullptr, nullptr, nullptr, nullptr, x.data(),
                                                    weight.data(), bias.data(), targets.data(), N,
                                                    C, V, 1.0f, 128);
    });
    rows.push_back(
        {"softmax_xent fwd only", "6400x64, V 54543, chunk 128", fwd_ms, 2.0 * N * C * double(V)});
    {
      const cf::ops::cpu::ScopedMatmulPrecision scope(MatmulPrecision::kBf16);
      const double ms = time_ms([&] {
        cf::ops::softmax_xent_forward_backward(dhidden.data(), dweight.data(), dbias.data(),
                                               nullptr, x.data(), weight.data(), bias.data(),
                                               targets.data(), N, C, V, 1.0f / N, 128);
      });
      rows.push_back({"softmax_xent fwd+bwd (bf16)", "6400x64, V 54543, chunk 128", ms,
                      6.0 * N * C * double(V)});
    }
    // Shared candidates: three products of N x C x M, like the full softmax with V = M.
    const auto log_q = random_floats(V, 19, 0.1f);
    for (int M : {256, 1024}) {
      const auto candidates = random_ids(size_t(M), 20, 1, V - 1);
      for (auto [kind, precision] :
           {std::pair{cf::ops::SampledLoss::kSoftmax, MatmulPrecision::kFp32},
            std::pair{cf::ops::SampledLoss::kGbce, MatmulPrecision::kFp32},
            std::pair{cf::ops::SampledLoss::kSoftmax, MatmulPrecision::kBf16}}) {
        const cf::ops::cpu::ScopedMatmulPrecision scope(precision);
        const std::string tag = precision == MatmulPrecision::kBf16 ? " (bf16)" : "";
        const double ms = time_ms([&] {
          cf::ops::shared_candidates_loss_forward_backward(
              dhidden.data(), dweight.data(), dbias.data(), nullptr, x.data(), weight.data(),
              bias.data(), targets.data(), N, C, V, candidates.data(), M, log_q.data(), kind, 0.5,
              1.0f / N);
        });
        rows.push_back({(kind == cf::ops::SampledLoss::kSoftmax ? "sampled_softmax fwd+bwd"
                                                               : "gbce fwd+bwd") +
                            tag,
                        "6400x64, " + std::to_string(M) + " shared", ms,
                        6.0 * N * C * double(M + 1)});
      }
    }
  }

  {
    const int64_t n = int64_t(V) * C + 2 * 12 * C * C + 200000;  // ~ the Beauty model's size
    auto params = random_floats(n, 20);
    const auto grads = random_floats(n, 21);
    std::vector<float> m(n), v(n);
    int64_t step = 0;
    rows.push_back({"adamw_update", std::to_string(n) + " params", time_ms([&] {
                      cf::ops::adamw_update(params.data(), grads.data(), m.data(), v.data(), n,
                                            1e-3f, 0.9f, 0.98f, 1e-8f, 0.01f, ++step, 1.0f);
                    }),
                    0});
    rows.push_back({"sum_of_squares", std::to_string(n) + " floats",
                    time_ms([&] { cf::ops::sum_of_squares(grads.data(), n); }), 0});
  }

  // Measured again after the ops, keeping the better value, so that a busy moment on a shared
  // machine does not flatter the ratios.
  const double peak = std::max(peak_before, cf::bench::sgemm_peak_gflops());
  std::printf("%s\n", cf::bench::machine_line().c_str());
  std::printf("threads %d, sgemm peak (2048^3, OpenBLAS) %.1f GFLOP/s\n\n", threads, peak);
  std::printf("| %-30s | %-32s | %9s | %8s | %7s |\n", "op", "shape", "ms", "GFLOP/s", "% peak");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(32, '-').c_str(), std::string(34, '-').c_str(),
              std::string(11, '-').c_str(), std::string(10, '-').c_str(),
              std::string(9, '-').c_str());
  for (const Row& r : rows) {
    if (r.flops > 0 && r.ms > 0) {
      const double gflops = r.flops / (r.ms * 1e6);
      std::printf("| %-30s | %-32s | %9.3f | %8.1f | %6.1f%% |\n", r.op.c_str(), r.shape.c_str(),
                  r.ms, gflops, 100.0 * gflops / peak);
    } else {
      std::printf("| %-30s | %-32s | %9.3f | %8s | %7s |\n", r.op.c_str(), r.shape.c_str(), r.ms,
                  "-", "-");
    }
  }
  return 0;
}
