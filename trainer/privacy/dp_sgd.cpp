#include "trainer/privacy/dp_sgd.h"

#include <cmath>

#include "core/error.h"
#include "core/random.h"
#include "trainer/privacy/rdp_accountant.h"

namespace cf::trainer::privacy {

PrivacyPlan plan_privacy(const Config& config, int64_t users, int64_t global_batch, int64_t steps,
                         const std::vector<MechanismPhase>& earlier) {
  const PrivacySection& p = config.privacy;
  PrivacyPlan plan;
  if (!p.enabled) return plan;
  const std::string& file = config.source_path;
  CF_CHECK(users > 0 && global_batch > 0, "privacy plan: no users or an empty batch");
  plan.enabled = true;
  plan.users = users;
  plan.steps = steps;
  plan.clip_norm = p.clip_norm;
  plan.target_epsilon = p.target_epsilon;
  plan.sampling_rate = std::min(1.0, double(global_batch) / double(users));
  plan.delta = p.delta > 0 ? double(p.delta) : 0.1 / double(users);
  if (plan.delta >= 1.0 / double(users)) {
    throw UserError(file + ": key 'privacy.delta' must be below 1 / users (" +
                    std::to_string(1.0 / double(users)) + " for " + std::to_string(users) +
                    " training users), got " + std::to_string(plan.delta) +
                    ": a larger delta allows releasing a user's data outright");
  }
  plan.earlier = earlier;
  plan.noise_multiplier =
      calibrate_noise(plan.sampling_rate, steps, plan.target_epsilon, plan.delta,
                      file + ": key 'privacy.target_epsilon'", composed_rdp(earlier));
  return plan;
}

std::vector<int64_t> poisson_sample(const std::vector<int64_t>& users, double sampling_rate,
                                    uint64_t seed, int64_t step) {
  std::vector<int64_t> chosen;
  const uint64_t key = splitmix64_mix(seed ^ splitmix64_mix(uint64_t(step) ^ 0x706f6973736f6eULL));
  for (const int64_t user : users)
    if (unit_interval(splitmix64_mix(key ^ splitmix64_mix(uint64_t(user)))) < sampling_rate)
      chosen.push_back(user);
  return chosen;
}

void add_gaussian_noise(float* x, int64_t n, double stddev, uint64_t seed, int64_t step) {
  const uint64_t key = splitmix64_mix(seed ^ splitmix64_mix(uint64_t(step) ^ 0x6e6f697365ULL));
  // Box-Muller: elements 2k and 2k + 1 from one pair of uniforms of counter k.
  for (int64_t i = 0; i < n; i += 2) {
    const uint64_t counter = key + uint64_t(i / 2) * 2;
    const double u1 = 1.0 - unit_interval(splitmix64_mix(counter));  // (0, 1]: log is finite
    const double u2 = unit_interval(splitmix64_mix(counter + 1));
    const double radius = stddev * std::sqrt(-2.0 * std::log(u1));
    x[i] += float(radius * std::cos(2 * M_PI * u2));
    if (i + 1 < n) x[i + 1] += float(radius * std::sin(2 * M_PI * u2));
  }
}

std::vector<UserRow> step_users(const std::vector<data::Batch>& micro) {
  std::vector<UserRow> users;
  for (const data::Batch& batch : micro)
    for (int b = 0; b < batch.B; ++b)
      if (batch.length[size_t(b)] > 0) users.push_back({&batch, b});
  return users;
}

void noisy_mean_gradient(std::vector<double>& clipped_sum, comm::Communicator& comm,
                         double noise_stddev, double divisor, uint64_t noise_seed, int64_t step,
                         std::vector<float>& grads) {
  const int64_t n = int64_t(clipped_sum.size());
  comm.all_reduce_sum(clipped_sum.data(), n);
  grads.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) grads[size_t(i)] = float(clipped_sum[size_t(i)]);
  add_gaussian_noise(grads.data(), n, noise_stddev, noise_seed, step);
  const float inverse = float(1.0 / divisor);
  for (float& g : grads) g *= inverse;
}

double clip_scale(double norm, double clip_norm) {
  return norm > clip_norm ? clip_norm / norm : 1.0;
}

}  // namespace cf::trainer::privacy
