// DP-SGD's parts (trainer/privacy/dp_sgd.h) and the CPU backend's private step: Poisson
// sampling, the noise's scale and determinism, and per-user clipping against per-user
// gradients recomputed one user at a time on a tiny model.
#include "trainer/privacy/dp_sgd.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "../model/tiny_model_fixture.h"
#include "cpu_clipped_sum.h"
#include "trainer/backend/training_backend.h"
#include "trainer/comm/communicator.h"
#include "trainer/model/model.h"
#include "trainer/optimizer.h"

namespace cf::trainer::privacy {
namespace {

// Every user is in a step independently with probability q: the count of 100,000 users is
// within 5 standard deviations of q * n; the draw depends on (seed, step, user) only.
TEST(DpSgd, PoissonSampleIncludesEachUserWithTheSamplingRate) {
  std::vector<int64_t> users(100000);
  std::iota(users.begin(), users.end(), int64_t{0});
  const double q = 0.01;
  const std::vector<int64_t> a = poisson_sample(users, q, 7, 3);
  const double sd = std::sqrt(q * (1 - q) * double(users.size()));
  EXPECT_NEAR(double(a.size()), q * double(users.size()), 5 * sd);
  EXPECT_EQ(poisson_sample(users, q, 7, 3), a);
  EXPECT_NE(poisson_sample(users, q, 7, 4), a);
  EXPECT_NE(poisson_sample(users, q, 8, 3), a);
  // A user's draw does not depend on who else is listed.
  std::vector<int64_t> odd;
  for (int64_t u : users)
    if (u % 2) odd.push_back(u);
  std::vector<int64_t> a_odd;
  for (int64_t u : a)
    if (u % 2) a_odd.push_back(u);
  EXPECT_EQ(poisson_sample(odd, q, 7, 3), a_odd);
  EXPECT_TRUE(poisson_sample(users, 0.0, 7, 3).empty());
  EXPECT_EQ(poisson_sample(users, 1.0, 7, 3).size(), users.size());
}

// The noise is N(0, stddev^2): over 200,001 draws (odd, so the last pair is half used) the
// mean is within 5 standard errors of 0, the variance within 2% of stddev^2 (its standard
// error is sqrt(2 / n) = 0.3%), the kurtosis near a normal's 3, and each draw is a function
// of (seed, step) and its index only.
TEST(DpSgd, NoiseHasTheStatedScale) {
  const int64_t n = 200001;
  const double stddev = 2.5;
  std::vector<float> x(size_t(n), 0.0f);
  add_gaussian_noise(x.data(), n, stddev, 11, 5);
  double mean = 0, m2 = 0, m4 = 0;
  for (float v : x) mean += v;
  mean /= double(n);
  for (float v : x) {
    const double d = v - mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= double(n);
  m4 /= double(n);
  EXPECT_LT(std::abs(mean), 5 * stddev / std::sqrt(double(n)));
  EXPECT_NEAR(m2, stddev * stddev, 0.02 * stddev * stddev);
  EXPECT_NEAR(m4 / (m2 * m2), 3.0, 0.1);
  std::vector<float> again(size_t(n), 1.0f);
  add_gaussian_noise(again.data(), n, stddev, 11, 5);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(again[size_t(i)], 1.0f + x[size_t(i)]) << i;
  std::vector<float> other(size_t(n), 0.0f);
  add_gaussian_noise(other.data(), n, stddev, 11, 6);
  EXPECT_NE(other, x);
}

TEST(DpSgd, ClipScale) {
  EXPECT_EQ(clip_scale(0.5, 1.0), 1.0);
  EXPECT_EQ(clip_scale(1.0, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(clip_scale(4.0, 1.0), 0.25);
  EXPECT_EQ(clip_scale(0.0, 1.0), 1.0);
}

// The CPU backend's private step against the slow way: each user's gradient computed alone on
// a copy of the model, clipped to C, summed. With noise 0 and divisor 1 the gradient the step
// leaves behind is that sum. Once with C below every user's norm (all clipped), once above.
// The backend takes each user's norm over the user's gradient support only (a sampled loss
// touches a few item rows): checked with the full softmax (whole head) and a sampled one with
// a tied head (input and output rows of one table).
void expect_backend_clips_every_user(bool sampled) {
  const data::VocabSizes vocab = testing::tiny_vocab();
  ModelConfig config = testing::tiny_config();
  config.tied_item_head = sampled;
  const data::Batch batch =
      testing::ragged_batch(vocab, 6, {6, 0, 4, 5}, {-1.f, -1.f, -1.f, -1.f}, 3);
  auto loss_for = [sampled](const data::Batch& row) {
    LossOptions o;
    if (sampled) testing::use_sampled_loss(o, 3, 8, ItemLoss::kSampledSoftmax, 2);
    const int64_t targets = row.num_targets();
    o.item_grad_scale = targets > 0 ? 1.0f / float(targets) : 0.0f;
    return o;
  };
  for (const double clip_norm : {1e-3, 1e6}) {
    SCOPED_TRACE(std::string(sampled ? "sampled" : "full") + " softmax, clip norm " +
                 std::to_string(clip_norm));
    Model reference(config, vocab);
    reference.init_weights(5);
    const int64_t P = int64_t(reference.params().size());
    std::vector<double> want(size_t(P), 0.0);
    int users = 0;
    data::Batch row;
    for (int b = 0; b < batch.B; ++b) {
      if (batch.length[size_t(b)] == 0) continue;
      data::copy_row(batch, b, row);
      std::fill(reference.grads().begin(), reference.grads().end(), 0.0f);
      reference.forward_backward(row, loss_for(row), 9);
      double norm = 0;
      for (float g : reference.grads()) norm += double(g) * g;
      norm = std::sqrt(norm);
      ASSERT_GT(norm, 0);
      if (clip_norm < 1) {
        ASSERT_GT(norm, clip_norm) << "user " << b << " would not be clipped";
      }
      const double scale = std::min(1.0, clip_norm / norm);
      for (int64_t i = 0; i < P; ++i) want[size_t(i)] += scale * reference.grads()[size_t(i)];
      ++users;
    }
    ASSERT_EQ(users, 3);

    Model model(config, vocab);
    model.init_weights(5);
    testing::cpu_clipped_sum(model, batch, loss_for, clip_norm, 9);
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < P; ++i) {
      const double d = double(model.grads()[size_t(i)]) - want[size_t(i)];
      diff += d * d;
      ref += want[size_t(i)] * want[size_t(i)];
    }
    EXPECT_LE(std::sqrt(diff / ref), 1e-6);
    // All three clipped: the sum is at most 3 C long.
    if (clip_norm < 1) {
      EXPECT_LE(std::sqrt(ref), 3 * clip_norm * (1 + 1e-6));
    }
  }
}

// The users of a step run in lanes on up to 4 threads; the lanes' sums are added in a fixed
// order, so the clipped sum is the same bits at 1, 2 and 3 threads.
TEST(DpSgd, CpuBackendPrivateStepIsTheSameAtAnyThreadCount) {
  const data::VocabSizes vocab = testing::tiny_vocab();
  const ModelConfig config = testing::tiny_config();
  const data::Batch batch =
      testing::ragged_batch(vocab, 6, {6, 0, 4, 5, 2, 6, 3, 1, 5}, std::vector<float>(9, -1.f), 12);
  auto loss_for = [](const data::Batch& row) {
    LossOptions o;
    testing::use_sampled_loss(o, 3, 8);
    const int64_t targets = row.num_targets();
    o.item_grad_scale = targets > 0 ? 1.0f / float(targets) : 0.0f;
    return o;
  };
  std::vector<std::vector<float>> results;
  const int threads_before = omp_get_max_threads();
  for (const int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    Model model(config, vocab);
    model.init_weights(5);
    AdamW optimizer(model.tensors(), int64_t(model.params().size()), {});
    comm::LocalComm local;
    BackendOptions options;
    options.privacy = true;
    auto backend = make_training_backend(DeviceChoice{}, options, model, optimizer, local);
    // Two steps: the second starts from the first's weights in every lane.
    for (int step = 0; step < 2; ++step) {
      backend->forward_backward_private({batch}, loss_for, 9 + uint64_t(step), 0.05);
      backend->update_private(0.01f, 0.0, 1.0, 1, step);
    }
    results.push_back(model.params());
  }
  omp_set_num_threads(threads_before);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(DpSgd, CpuBackendClipsEveryUserToTheClipNorm) { expect_backend_clips_every_user(false); }
TEST(DpSgd, CpuBackendClipsOverEachUsersGradientSupport) { expect_backend_clips_every_user(true); }

}  // namespace
}  // namespace cf::trainer::privacy
