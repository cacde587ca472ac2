// The privacy accountant of DP-SGD: Rényi-DP of the Poisson-subsampled Gaussian mechanism,
// composed over steps and converted to (epsilon, delta), and the noise calibration that meets
// a target epsilon.
//
// One step samples every user independently with probability q (Poisson sampling), clips each
// sampled user's gradient to norm C and adds N(0, sigma^2 C^2) noise to the sum. Its RDP at
// order alpha is that of the sampled Gaussian mechanism (Mironov, Talwar, Zhang 2019, "Rényi
// Differential Privacy of the Sampled Gaussian Mechanism"): exact sums for integer orders, the
// two erfc series for fractional ones. Steps compose by adding RDP; (epsilon, delta) follows by
// the conversion of Balle et al. 2020 / Canonne, Kamath, Steinke 2020 (Prop. 12), minimised
// over a fixed grid of orders. Fractional orders use an upper bound of the series (absolute
// values of its terms), so epsilon is never under-reported; it agrees with Google's
// dp-accounting to 1e-11 on the plans tested.
// Neighbouring datasets differ by adding or removing one user.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cf::trainer::privacy {

// Orders 1.1 .. 10.9 in steps of 0.1, 11 .. 64, then 128, 256, 512, 1024.
const std::vector<double>& rdp_orders();

// RDP of one step at `order` (> 1): q in [0, 1], sigma > 0.
double sampled_gaussian_rdp(double q, double sigma, double order);

struct Epsilon {
  double epsilon = 0;  // >= 0; +inf when no order gives a finite bound
  double order = 0;    // the order that gave it
};

// (epsilon, delta) after `steps` steps: delta in (0, 1).
Epsilon epsilon_after(double q, double sigma, int64_t steps, double delta);

// A run of steps under one plan: its sampling rate, noise multiplier and length.
struct MechanismPhase {
  double sampling_rate = 0;
  double noise_multiplier = 0;
  int64_t steps = 0;
};

// The RDP of `phases` run one after another on the same users, per rdp_orders(): RDP adds up
// across mechanisms (adaptive composition), whatever each phase's q and sigma.
std::vector<double> composed_rdp(const std::vector<MechanismPhase>& phases);

// The same for one (q, sigma, delta) at any number of steps, each step's RDP computed once
// (what a training run asks after every step). `earlier` is the RDP (composed_rdp) the same
// users already spent on earlier phases (a private pretraining this run fine-tunes): epsilon
// then covers them and this run together.
class StepAccountant {
 public:
  StepAccountant(double q, double sigma, double delta, std::vector<double> earlier = {});
  Epsilon after(int64_t steps) const;

 private:
  double delta_;
  std::vector<double> step_rdp_;     // per rdp_orders()
  std::vector<double> earlier_rdp_;  // per rdp_orders(); zeros without earlier phases
};

// The smallest noise multiplier (to 0.1% relative) whose epsilon after `steps` steps at rate q
// is at most target_epsilon. Throws UserError naming `key` when even sigma = kMaxNoise is not
// enough: the target is out of reach with these steps and sampling rate.
constexpr double kMaxNoise = 100.0;
// With `earlier` (composed_rdp of earlier phases on the same users) the target covers them and
// this run together; a target the earlier phases already spend is out of reach.
double calibrate_noise(double q, int64_t steps, double target_epsilon, double delta,
                       const std::string& key, const std::vector<double>& earlier = {});

}  // namespace cf::trainer::privacy
