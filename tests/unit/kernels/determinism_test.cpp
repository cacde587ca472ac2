// Bitwise reproducibility of the gradient-accumulating ops: the same call twice, and the same
// call with one and with two OpenMP threads, give identical bits (float, training shapes).
#include <gtest/gtest.h>
#include <omp.h>

#include <functional>

#include "kernel_checks.h"
#include "kernels/ops.h"

namespace {

using namespace cf::kernel_test;

using Outputs = std::vector<std::vector<float>>;

// Runs `op` (which returns all it produced) with 2 threads twice and with 1 thread once.
void expect_reproducible(const std::function<Outputs()>& op) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  const Outputs first = op();
  const Outputs second = op();
  omp_set_num_threads(1);
  const Outputs serial = op();
  omp_set_num_threads(saved);
  ASSERT_EQ(first.size(), serial.size());
  for (size_t k = 0; k < first.size(); ++k) {
    EXPECT_TRUE(first[k] == second[k]) << "output " << k << " differs between two runs";
    EXPECT_TRUE(first[k] == serial[k]) << "output " << k << " differs between 2 and 1 threads";
  }
}

constexpr int kBatch = 16, kTime = 50, kRows = kBatch * kTime, kWidth = 64;

TEST(Determinism, Embedding) {
  const int V = 300;  // many repeated ids among 800 rows
  const auto ids = random_ids(kRows, 1, 0, V - 1);
  const auto dout = random_values<float>(size_t(kRows) * kWidth, 2);
  expect_reproducible([&] {
    std::vector<float> dtable(size_t(V) * kWidth, 0.0f), dpos(size_t(kTime) * kWidth, 0.0f);
    cf::ops::embedding_backward(dtable.data(), ids.data(), dout.data(), kRows, kWidth);
    cf::ops::position_backward(dpos.data(), dout.data(), kBatch, kTime, kWidth);
    return Outputs{dtable, dpos};
  });
}

TEST(Determinism, LayerNorm) {
  const auto inp = random_values<float>(size_t(kRows) * kWidth, 3);
  const auto weight = random_values<float>(kWidth, 4), bias = random_values<float>(kWidth, 5);
  const auto dout = random_values<float>(inp.size(), 6);
  expect_reproducible([&] {
    std::vector<float> out(inp.size()), mean(kRows), rstd(kRows);
    cf::ops::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(),
                               bias.data(), kRows, kWidth);
    std::vector<float> dinp(inp.size(), 0.0f), dweight(kWidth, 0.0f), dbias(kWidth, 0.0f);
    cf::ops::layernorm_backward(dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(),
                                weight.data(), mean.data(), rstd.data(), kRows, kWidth);
    return Outputs{out, dinp, dweight, dbias};
  });
}

TEST(Determinism, Matmul) {
  const int OC = 3 * kWidth;
  const auto inp = random_values<float>(size_t(kRows) * kWidth, 7);
  const auto weight = random_values<float>(size_t(OC) * kWidth, 8);
  const auto bias = random_values<float>(OC, 9);
  const auto dout = random_values<float>(size_t(kRows) * OC, 10);
  expect_reproducible([&] {
    std::vector<float> out(size_t(kRows) * OC);
    cf::ops::matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), kRows, kWidth, OC);
    std::vector<float> dinp(inp.size(), 0.0f), dweight(weight.size(), 0.0f), dbias(OC, 0.0f);
    cf::ops::matmul_backward(dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(),
                             weight.data(), kRows, kWidth, OC);
    return Outputs{out, dinp, dweight, dbias};
  });
}

// Fewer rows than one block of the CPU partition: a single BLAS call, large enough that
// OpenBLAS would split it over threads if allowed to.
TEST(Determinism, MatmulSingleBlock) {
  const int N = 200, C = 64, OC = 4 * kWidth;
  const auto inp = random_values<float>(size_t(N) * C, 30);
  const auto weight = random_values<float>(size_t(OC) * C, 31);
  const auto dout = random_values<float>(size_t(N) * OC, 32);
  expect_reproducible([&] {
    std::vector<float> out(size_t(N) * OC);
    cf::ops::matmul_forward<float>(out.data(), inp.data(), weight.data(), nullptr, N, C, OC);
    std::vector<float> dinp(inp.size(), 0.0f), dweight(weight.size(), 0.0f);
    cf::ops::matmul_backward<float>(dinp.data(), dweight.data(), nullptr, dout.data(), inp.data(),
                                    weight.data(), N, C, OC);
    return Outputs{out, dinp, dweight};
  });
}

// Both forms of attention (kept probabilities, and tiled with softmax statistics) on sequences
// of T positions.
void expect_attention_reproducible(bool tiled, int T) {
  const int NH = 2, rows = kBatch * T;
  const auto qkv = random_values<float>(size_t(rows) * 3 * kWidth, 11);
  auto lengths = random_ids(kBatch, 12, 0, T);
  lengths[0] = 0;
  lengths[1] = T;
  const auto dout = random_values<float>(size_t(rows) * kWidth, 13);
  expect_reproducible([&] {
    std::vector<float> out(size_t(rows) * kWidth),
        saved(size_t(kBatch) * NH * T * (tiled ? 2 : T)), dqkv(qkv.size(), 0.0f);
    if (tiled) {
      cf::ops::attention_forward_tiled(out.data(), saved.data(), qkv.data(), lengths.data(),
                                       kBatch, T, kWidth, NH);
      cf::ops::attention_backward_tiled(dqkv.data(), dout.data(), qkv.data(), saved.data(),
                                        lengths.data(), kBatch, T, kWidth, NH);
    } else {
      cf::ops::attention_forward(out.data(), saved.data(), qkv.data(), lengths.data(), kBatch, T,
                                 kWidth, NH);
      cf::ops::attention_backward(dqkv.data(), dout.data(), qkv.data(), saved.data(),
                                  lengths.data(), kBatch, T, kWidth, NH);
    }
    return Outputs{out, saved, dqkv};
  });
}

TEST(Determinism, Attention) { expect_attention_reproducible(false, kTime); }
// Three query tiles, so keys and values gather gradients from several tiles.
TEST(Determinism, TiledAttention) {
  expect_attention_reproducible(true, 2 * cf::ops::kAttentionQueryTile + 5);
}

TEST(Determinism, SoftmaxXent) {
  const int N = 300, C = 32, V = 5003;
  const auto hidden = random_values<float>(size_t(N) * C, 14);
  const auto weight = random_values<float>(size_t(V) * C, 15);
  const auto bias = random_values<float>(V, 16);
  auto targets = random_ids(N, 17, 0, V - 1);
  expect_reproducible([&] {
    std::vector<float> dhidden(hidden.size(), 0.0f), dweight(weight.size(), 0.0f), dbias(V, 0.0f);
    const double loss = cf::ops::softmax_xent_forward_backward(
        dhidden.data(), dweight.data(), dbias.data(), nullptr, hidden.data(), weight.data(),
        bias.data(), targets.data(), N, C, V, 1.0f / N, 64);
    return Outputs{dhidden, dweight, dbias, {float(loss), float(loss - double(float(loss)))}};
  });
}

TEST(Determinism, SharedCandidatesLoss) {
  // More rows than one chunk of the kernel, so several threads add candidate partials.
  const int N = kRows, C = kWidth, V = 200, M = 40;
  const auto hidden = random_values<float>(size_t(N) * C, 18);
  const auto weight = random_values<float>(size_t(V) * C, 19);
  const auto bias = random_values<float>(V, 20);
  const auto targets = random_ids(N, 21, 0, V - 1);
  const auto candidates = random_ids(M, 22, 1, V - 1);
  const auto log_q = random_values<float>(V, 23);
  for (auto kind : {cf::ops::SampledLoss::kSoftmax, cf::ops::SampledLoss::kGbce}) {
    expect_reproducible([&] {
      std::vector<float> dhidden(hidden.size(), 0.0f), dweight(weight.size(), 0.0f),
          dbias(V, 0.0f);
      const double loss = cf::ops::shared_candidates_loss_forward_backward(
          dhidden.data(), dweight.data(), dbias.data(), nullptr, hidden.data(), weight.data(),
          bias.data(), targets.data(), N, C, V, candidates.data(), M, log_q.data(), kind, 0.3,
          1.0f / N);
      return Outputs{dhidden, dweight, dbias, {float(loss), float(loss - double(float(loss)))}};
    });
  }
}

TEST(Determinism, ElementwiseAndOptimizer) {
  const int64_t n = 300001;
  const auto x = random_values<float>(n, 23), g = random_values<float>(n, 24);
  expect_reproducible([&] {
    std::vector<float> gelu(n), dgelu(n, 0.0f), drop(n), ddrop(n, 0.0f);
    cf::ops::gelu_forward(gelu.data(), x.data(), n);
    cf::ops::gelu_backward(dgelu.data(), x.data(), g.data(), n);
    cf::ops::dropout_forward(drop.data(), x.data(), 0.1f, 77, n);
    cf::ops::dropout_backward(ddrop.data(), g.data(), 0.1f, 77, n);
    std::vector<float> params = x, m(n, 0.0f), v(n, 0.0f);
    for (int step = 1; step <= 2; ++step)
      cf::ops::adamw_update(params.data(), g.data(), m.data(), v.data(), n, 1e-3f, 0.9f, 0.999f,
                            1e-8f, 0.01f, step, 0.5f);
    return Outputs{gelu, dgelu, drop, ddrop, params, m, v};
  });
}

}  // namespace
