#include "sweep/trial_plan.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/random.h"

namespace cf::sweep {
namespace {

// Draws from [0, n) without modulo bias (Lemire's multiply-shift on 64 bits, with rejection).
uint64_t uniform_below(Xoshiro256& rng, uint64_t n) {
  for (;;) {
    const unsigned __int128 product = (unsigned __int128)rng.next() * n;
    const uint64_t low = uint64_t(product);
    if (low >= n || low >= (0 - n) % n) return uint64_t(product >> 64);
  }
}

void name_trials(TrialPlan& plan) {
  for (size_t i = 0; i < plan.trials.size(); ++i) {
    plan.trials[i].id = trial_id(i, plan.trials.size());
  }
}

Trial trial_of_indices(const std::vector<SweepAxis>& axes, const std::vector<size_t>& indices) {
  Trial trial;
  for (size_t a = 0; a < axes.size(); ++a) trial.values.push_back(axes[a].values[indices[a]]);
  return trial;
}

}  // namespace

std::vector<std::string> TrialPlan::assignments(const Trial& trial) const {
  std::vector<std::string> out;
  for (size_t a = 0; a < axes.size(); ++a) out.push_back(axes[a].key + "=" + trial.values[a]);
  return out;
}

std::string TrialPlan::describe(const Trial& trial) const {
  std::string text;
  for (const std::string& assignment : assignments(trial)) {
    text += (text.empty() ? "" : " ") + assignment;
  }
  return text;
}

uint64_t grid_size(const std::vector<SweepAxis>& axes) {
  uint64_t size = 1;
  for (const SweepAxis& axis : axes) {
    const uint64_t n = axis.values.size();
    if (n != 0 && size > UINT64_MAX / n) return UINT64_MAX;
    size *= n;
  }
  return size;
}

TrialPlan grid_plan(const std::vector<SweepAxis>& axes) {
  const uint64_t size = grid_size(axes);
  if (size > kMaxTrials) {
    throw UserError("the --grid flags make " +
                    (size == UINT64_MAX ? std::string("more than 2^64") : std::to_string(size)) +
                    " combinations, more than the " + std::to_string(kMaxTrials) +
                    " a sweep trains; draw some with --random N");
  }
  TrialPlan plan;
  plan.kind = PlanKind::kGrid;
  plan.axes = axes;
  // An odometer over the value indices, the last axis turning fastest.
  std::vector<size_t> indices(axes.size(), 0);
  for (uint64_t n = 0; n < size; ++n) {
    plan.trials.push_back(trial_of_indices(axes, indices));
    for (size_t a = axes.size(); a-- > 0;) {
      if (++indices[a] < axes[a].values.size()) break;
      indices[a] = 0;
    }
  }
  name_trials(plan);
  return plan;
}

TrialPlan random_plan(const std::vector<SweepAxis>& axes, int64_t count, uint64_t seed) {
  if (count < 1) throw UserError("--random must be >= 1, got " + std::to_string(count));
  TrialPlan plan;
  plan.kind = PlanKind::kRandom;
  plan.random_trials = count;
  plan.random_seed = seed;
  plan.axes = axes;
  const uint64_t wanted = std::min<uint64_t>(uint64_t(count), grid_size(axes));
  if (wanted > kMaxTrials) {
    throw UserError("--random " + std::to_string(count) + ": more than the " +
                    std::to_string(kMaxTrials) + " trials a sweep trains");
  }
  // Rejection of repeats: uniform over the combinations not drawn yet. At worst (every
  // combination wanted) this takes about size x ln(size) draws, which kMaxTrials bounds.
  Xoshiro256 rng(splitmix64_mix(seed ^ 0x73776565702d706cULL));  // "sweep-pl"
  std::set<std::vector<size_t>> drawn;
  std::vector<size_t> indices(axes.size());
  while (drawn.size() < wanted) {
    for (size_t a = 0; a < axes.size(); ++a) {
      indices[a] = size_t(uniform_below(rng, axes[a].values.size()));
    }
    if (drawn.insert(indices).second) plan.trials.push_back(trial_of_indices(axes, indices));
  }
  name_trials(plan);
  return plan;
}

std::string trial_id(size_t index, size_t count) {
  const size_t digits = std::max<size_t>(3, std::to_string(count > 0 ? count - 1 : 0).size());
  std::string number = std::to_string(index);
  if (number.size() < digits) number.insert(0, digits - number.size(), '0');
  return "t" + number;
}

}  // namespace cf::sweep
