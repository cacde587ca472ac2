// The membership-inference smoke test of DP-SGD: a loss-threshold attacker (a user whose
// sequence has a low loss was probably trained on) against a model that memorised its 32
// training users' random sequences, and against the same model trained with DP-SGD at
// epsilon 1. The attack's AUC (members vs 32 held-out users from the same distribution) must
// be high for the first and near chance for the second.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include "../model/tiny_model_fixture.h"
#include "trainer/backend/training_backend.h"
#include "trainer/comm/communicator.h"
#include "trainer/model/model.h"
#include "trainer/optimizer.h"
#include "trainer/privacy/dp_sgd.h"
#include "trainer/privacy/rdp_accountant.h"

namespace cf::trainer::privacy {
namespace {

constexpr int kUsers = 32;  // members, and as many non-members
constexpr int kLength = 8;
constexpr int kSteps = 300;

data::VocabSizes attack_vocab() {
  data::VocabSizes v = testing::tiny_vocab();
  v.items = 41;
  return v;
}

ModelConfig attack_config() {
  ModelConfig c = testing::tiny_config();
  c.d_model = 32;
  c.d_ff = 64;
  c.max_len = kLength;
  c.action_head = false;
  c.propensity_head = false;
  return c;
}

LossOptions item_loss_per_user(const data::Batch& batch) {
  LossOptions o;
  const int64_t targets = batch.num_targets();
  o.item_grad_scale = targets > 0 ? 1.0f / float(targets) : 0.0f;
  return o;
}

// The rows `which` of `all`, as one batch.
data::Batch rows(const data::Batch& all, const std::vector<int>& which) {
  data::Batch out;
  out.resize(int(which.size()), all.T);
  data::Batch row;
  for (size_t i = 0; i < which.size(); ++i) {
    data::copy_row(all, which[i], row);
    const size_t at = i * size_t(all.T);
    std::copy(row.item.begin(), row.item.end(), out.item.begin() + long(at));
    std::copy(row.action.begin(), row.action.end(), out.action.begin() + long(at));
    std::copy(row.category.begin(), row.category.end(), out.category.begin() + long(at));
    std::copy(row.time_gap.begin(), row.time_gap.end(), out.time_gap.begin() + long(at));
    std::copy(row.activity.begin(), row.activity.end(), out.activity.begin() + long(at));
    std::copy(row.target_item.begin(), row.target_item.end(), out.target_item.begin() + long(at));
    out.length[i] = row.length[0];
    out.label[i] = row.label[0];
    out.sequence_index[i] = which[i];
  }
  return out;
}

// Probability that a random member has a lower loss than a random non-member (ties half).
double attack_auc(Model& model, const data::Batch& all) {
  std::vector<double> loss(size_t(all.B));
  data::Batch row;
  for (int b = 0; b < all.B; ++b) {
    data::copy_row(all, b, row);
    const LossSums s = model.evaluate_loss(row, item_loss_per_user(row));
    loss[size_t(b)] = s.item / double(s.item_count);
  }
  double wins = 0;
  for (int m = 0; m < kUsers; ++m)
    for (int n = kUsers; n < 2 * kUsers; ++n)
      wins += loss[size_t(m)] < loss[size_t(n)]    ? 1.0
              : loss[size_t(m)] == loss[size_t(n)] ? 0.5
                                                   : 0;
  return wins / double(kUsers * kUsers);
}

TEST(MembershipInference, DpSgdTakesTheLossAttackToNearChance) {
  const data::VocabSizes vocab = attack_vocab();
  // Users 0..31 are members, 32..63 never trained on; all random sequences of one distribution.
  const data::Batch all =
      testing::ragged_batch(vocab, kLength, std::vector<int>(2 * kUsers, kLength),
                            std::vector<float>(2 * kUsers, -1.f), 2024);
  std::vector<int64_t> members(kUsers);
  std::iota(members.begin(), members.end(), int64_t{0});
  AdamWHyperparams hyper;
  hyper.weight_decay = 0.0f;

  // Without privacy: every member every step, until the model has memorised them.
  Model plain(attack_config(), vocab);
  plain.init_weights(1);
  AdamW plain_opt(plain.tensors(), int64_t(plain.params().size()), hyper);
  std::vector<int> member_rows(kUsers);
  std::iota(member_rows.begin(), member_rows.end(), 0);
  const data::Batch member_batch = rows(all, member_rows);
  for (int step = 0; step < kSteps; ++step) {
    std::fill(plain.grads().begin(), plain.grads().end(), 0.0f);
    LossOptions o;
    o.item_grad_scale = 1.0f / float(member_batch.num_targets());
    plain.forward_backward(member_batch, o, uint64_t(step));
    plain_opt.step(plain.params(), plain.grads(), 1e-2f, 1.0f);
  }
  const double plain_auc = attack_auc(plain, all);

  // DP-SGD at epsilon 1 (delta 1e-3 < 1 / 32), Poisson rate 1/4, the same steps and LR.
  const double q = 0.25, delta = 1e-3, clip = 1.0;
  const double sigma = calibrate_noise(q, kSteps, 1.0, delta, "test");
  Model priv(attack_config(), vocab);
  priv.init_weights(1);
  AdamW priv_opt(priv.tensors(), int64_t(priv.params().size()), hyper);
  comm::LocalComm local;
  BackendOptions options;
  options.privacy = true;
  auto backend = make_training_backend(DeviceChoice{}, options, priv, priv_opt, local);
  for (int step = 0; step < kSteps; ++step) {
    const std::vector<int64_t> chosen = poisson_sample(members, q, 99, step);
    const std::vector<int> chosen_rows(chosen.begin(), chosen.end());
    std::vector<data::Batch> micro;
    if (!chosen_rows.empty()) micro.push_back(rows(all, chosen_rows));
    backend->forward_backward_private(micro, item_loss_per_user, uint64_t(step), clip);
    backend->update_private(1e-2f, sigma * clip, q * kUsers, 99, step);
  }
  const double private_auc = attack_auc(priv, all);
  std::printf(
      "membership inference AUC (loss threshold, 32 members vs 32 others): without "
      "privacy %.3f, DP-SGD at epsilon 1 (noise multiplier %.2f) %.3f\n",
      plain_auc, sigma, private_auc);
  EXPECT_GE(plain_auc, 0.9) << "the non-private model did not memorise its users";
  EXPECT_LE(private_auc, 0.7);
  EXPECT_LE(private_auc, plain_auc - 0.2);
}

}  // namespace
}  // namespace cf::trainer::privacy
