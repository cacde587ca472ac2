// DP-SGD's parts around the model (privacy.enabled): the plan a run trains under (sampling
// rate, calibrated noise, delta, clip norm), the Poisson sample of users a step trains on, and
// the Gaussian noise added to the step's sum of clipped user gradients.
//
// Sampling: Poisson, as the accountant (rdp_accountant.h) assumes: at every step each training
// user is in the batch independently with probability q = train.global_batch / users, so the
// batch size varies around train.global_batch and a user is in a step at most once (a user is
// one corpus sequence). The draw is a pure function of (seed, step, user): the same at any
// world size and on resume.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/batch.h"
#include "trainer/comm/communicator.h"
#include "trainer/config.h"
#include "trainer/privacy/rdp_accountant.h"

namespace cf::trainer::privacy {

struct PrivacyPlan {
  bool enabled = false;
  double sampling_rate = 0;     // q
  double noise_multiplier = 0;  // sigma: the noise std is sigma * clip_norm
  double delta = 0;
  double clip_norm = 0;
  double target_epsilon = 0;
  int64_t users = 0;  // training users the sample is drawn from
  int64_t steps = 0;  // the run's length the noise was calibrated for
  // Earlier private runs on the same users (PrivacySpent::earlier): target_epsilon covers
  // them and this run together.
  std::vector<MechanismPhase> earlier;
  // The sum of clipped gradients is divided by this (the expected number of users per step),
  // not by the drawn count, which would depend on the data.
  double expected_batch() const { return sampling_rate * double(users); }
};

// The plan for `config.privacy` over `users` training users and `steps` steps; disabled when
// privacy.enabled is false. UserError naming the key for a delta at or above 1 / users, or a
// target epsilon no noise multiplier up to kMaxNoise reaches (or that `earlier` phases on the
// same users already spend). The file named is config.source_path.
PrivacyPlan plan_privacy(const Config& config, int64_t users, int64_t global_batch, int64_t steps,
                         const std::vector<MechanismPhase>& earlier = {});

// The users (ids from `users`, in that order) in the batch of `step`.
std::vector<int64_t> poisson_sample(const std::vector<int64_t>& users, double sampling_rate,
                                    uint64_t seed, int64_t step);

// x[i] += N(0, stddev^2), one draw per element from a counter-based stream keyed by (seed,
// step): every rank adding it to the same sum gets the same values.
void add_gaussian_noise(float* x, int64_t n, double stddev, uint64_t seed, int64_t step);

// A user of the step's micro-batches: row `row` of `*batch` (a non-empty row).
struct UserRow {
  const data::Batch* batch = nullptr;
  int row = 0;
};
// The step's users in order; rows of length 0 (padding after the last user) are left out.
std::vector<UserRow> step_users(const std::vector<data::Batch>& micro);

// Calls visit(row) for each user of step_users(micro) in order, `row` (the caller's scratch)
// holding that user alone.
template <class Visit>
void for_each_user(const std::vector<data::Batch>& micro, data::Batch& row, Visit&& visit) {
  for (const UserRow& user : step_users(micro)) {
    data::copy_row(*user.batch, user.row, row);
    visit(row);
  }
}

// The step's private gradient from this rank's sum of clipped user gradients: summed across
// ranks (in double), N(0, noise_stddev^2) added to every element (add_gaussian_noise: the same
// on every rank), divided by `divisor` (the expected users per step) and rounded into `grads`.
// Every backend finishes its private step with it, so they agree to the last bit here.
void noisy_mean_gradient(std::vector<double>& clipped_sum, comm::Communicator& comm,
                         double noise_stddev, double divisor, uint64_t noise_seed, int64_t step,
                         std::vector<float>& grads);

// min(1, clip_norm / norm): the factor that brings a user's gradient of norm `norm` within
// clip_norm.
double clip_scale(double norm, double clip_norm);

}  // namespace cf::trainer::privacy
