#include "trainer/privacy/rdp_accountant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/error.h"

namespace cf::trainer::privacy {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// log(exp(a) + exp(b)), without overflow.
double log_add(double a, double b) {
  if (a == -kInf) return b;
  if (b == -kInf) return a;
  const double hi = std::max(a, b), lo = std::min(a, b);
  return hi + std::log1p(std::exp(lo - hi));
}

// log(erfc(x)), also where erfc underflows (x beyond ~26): the asymptotic series there.
double log_erfc(double x) {
  if (x < 20) return std::log(std::erfc(x));
  const double r = 1.0 / (x * x);
  return -x * x - std::log(x) - 0.5 * std::log(M_PI) +
         std::log1p(-0.5 * r + 0.75 * r * r - 1.875 * r * r * r);
}

// log C(n, k) for integers.
double log_binomial(int64_t n, int64_t k) {
  return std::lgamma(double(n) + 1) - std::lgamma(double(k) + 1) - std::lgamma(double(n - k) + 1);
}

// log A_alpha for integer alpha: A = sum_k C(alpha, k) (1-q)^(alpha-k) q^k exp((k^2 - k) / 2s^2).
double log_a_integer(double q, double sigma, int64_t alpha) {
  double log_a = -kInf;
  for (int64_t k = 0; k <= alpha; ++k) {
    const double term = log_binomial(alpha, k) + double(k) * std::log(q) +
                        double(alpha - k) * std::log1p(-q) +
                        double(k * k - k) / (2 * sigma * sigma);
    log_a = log_add(log_a, term);
  }
  return log_a;
}

// log A_alpha for fractional alpha: the two series of Mironov et al. (Section 3.3), one term
// per i = 0, 1, ... of the binomial series of (1 + x)^alpha. Past i > alpha the generalised
// binomial coefficients alternate in sign; every term is added here by its absolute value,
// which bounds A_alpha from above (so epsilon is never under-reported) and avoids the
// cancellation of subtracting nearly equal logs. The series stops once both parts' terms fall
// and are e^-30 of the total; if that takes more than kMaxTerms, the order is dropped (+inf).
double log_a_fractional(double q, double sigma, double alpha) {
  constexpr int kMaxTerms = 1000;
  double log_a0 = -kInf, log_a1 = -kInf, last_s0 = -kInf, last_s1 = -kInf;
  const double z0 = sigma * sigma * std::log(1 / q - 1) + 0.5;
  for (int i = 0; i < kMaxTerms; ++i) {
    // log |C(alpha, i)| through the gamma function's log-magnitude.
    const double log_coef =
        std::lgamma(alpha + 1) - std::lgamma(double(i) + 1) - std::lgamma(alpha - double(i) + 1);
    const double j = alpha - double(i);
    const double log_t0 = log_coef + double(i) * std::log(q) + j * std::log1p(-q);
    const double log_t1 = log_coef + j * std::log(q) + double(i) * std::log1p(-q);
    const double log_e0 = std::log(0.5) + log_erfc((double(i) - z0) / (M_SQRT2 * sigma));
    const double log_e1 = std::log(0.5) + log_erfc((z0 - j) / (M_SQRT2 * sigma));
    const double log_s0 =
        log_t0 + (double(i) * double(i) - double(i)) / (2 * sigma * sigma) + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / (2 * sigma * sigma) + log_e1;
    log_a0 = log_add(log_a0, log_s0);
    log_a1 = log_add(log_a1, log_s1);
    const double total = log_add(log_a0, log_a1);
    if (log_s0 < last_s0 && log_s1 < last_s1 && std::max(log_s0, log_s1) < total - 30) return total;
    last_s0 = log_s0;
    last_s1 = log_s1;
  }
  return kInf;
}

}  // namespace

const std::vector<double>& rdp_orders() {
  static const std::vector<double> orders = [] {
    std::vector<double> o;
    for (int tenth = 11; tenth <= 109; ++tenth) o.push_back(tenth / 10.0);
    for (int a = 11; a <= 64; ++a) o.push_back(a);
    for (double a : {128.0, 256.0, 512.0, 1024.0}) o.push_back(a);
    return o;
  }();
  return orders;
}

double sampled_gaussian_rdp(double q, double sigma, double order) {
  CF_CHECK(q >= 0 && q <= 1 && sigma > 0 && order > 1, "privacy accountant: bad arguments");
  if (q == 0) return 0;
  if (q == 1) return order / (2 * sigma * sigma);  // the Gaussian mechanism itself
  if (std::isinf(order)) return kInf;
  const double log_a = order == std::floor(order) ? log_a_integer(q, sigma, int64_t(order))
                                                  : log_a_fractional(q, sigma, order);
  return log_a / (order - 1);  // +inf for an order whose series did not converge
}

std::vector<double> composed_rdp(const std::vector<MechanismPhase>& phases) {
  const std::vector<double>& orders = rdp_orders();
  std::vector<double> total(orders.size(), 0.0);
  for (const MechanismPhase& phase : phases) {
    CF_CHECK(phase.steps >= 0, "privacy accountant: negative steps");
    if (phase.steps == 0) continue;
    for (size_t i = 0; i < orders.size(); ++i)
      total[i] += double(phase.steps) *
                  sampled_gaussian_rdp(phase.sampling_rate, phase.noise_multiplier, orders[i]);
  }
  return total;
}

StepAccountant::StepAccountant(double q, double sigma, double delta, std::vector<double> earlier)
    : delta_(delta), earlier_rdp_(std::move(earlier)) {
  CF_CHECK(delta > 0 && delta < 1, "privacy accountant: delta must be in (0, 1)");
  for (const double order : rdp_orders())
    step_rdp_.push_back(sampled_gaussian_rdp(q, sigma, order));
  if (earlier_rdp_.empty()) earlier_rdp_.assign(step_rdp_.size(), 0.0);
  CF_CHECK(earlier_rdp_.size() == step_rdp_.size(),
           "privacy accountant: earlier RDP has the wrong number of orders");
}

Epsilon StepAccountant::after(int64_t steps) const {
  CF_CHECK(steps >= 0, "privacy accountant: negative steps");
  const std::vector<double>& orders = rdp_orders();
  Epsilon best{kInf, 0};
  for (size_t i = 0; i < orders.size(); ++i) {
    const double order = orders[i];
    const double rdp = earlier_rdp_[i] + double(steps) * step_rdp_[i];
    double eps;
    CF_CHECK(!(rdp < 0), "privacy accountant: negative RDP (a numerical error)");
    if (delta_ * delta_ + std::expm1(-rdp) > 0) {
      eps = 0;  // the KL bound alone gives delta
    } else {
      eps = rdp + std::log1p(-1 / order) - std::log(delta_ * order) / (order - 1);
    }
    if (eps < best.epsilon) best = {eps, order};
  }
  best.epsilon = std::max(0.0, best.epsilon);
  return best;
}

Epsilon epsilon_after(double q, double sigma, int64_t steps, double delta) {
  return StepAccountant(q, sigma, delta).after(steps);
}

double calibrate_noise(double q, int64_t steps, double target_epsilon, double delta,
                       const std::string& key, const std::vector<double>& earlier) {
  const auto eps = [&](double sigma) {
    return StepAccountant(q, sigma, delta, earlier).after(steps).epsilon;
  };
  if (!earlier.empty()) {
    const double spent = StepAccountant(q, kMaxNoise, delta, earlier).after(0).epsilon;
    if (spent >= target_epsilon)
      throw UserError(key + ": epsilon " + std::to_string(target_epsilon) +
                      " is already spent by the earlier private training of these users (" +
                      std::to_string(spent) +
                      " at this delta); the target covers both runs: "
                      "raise it above that");
  }
  if (eps(kMaxNoise) > target_epsilon) {
    throw UserError(key + ": epsilon " + std::to_string(target_epsilon) + " is out of reach in " +
                    std::to_string(steps) + " steps at sampling rate " + std::to_string(q) +
                    " (even noise multiplier " + std::to_string(int(kMaxNoise)) + " gives " +
                    std::to_string(eps(kMaxNoise)) +
                    "); raise it, or take fewer steps or a lower sampling rate");
  }
  // epsilon falls as sigma grows: bisect on log sigma between a sigma that misses the target
  // and one that meets it.
  double low = 0.01, high = kMaxNoise;
  if (eps(low) <= target_epsilon) return low;
  while (high / low > 1.001) {
    const double mid = std::sqrt(low * high);
    (eps(mid) <= target_epsilon ? high : low) = mid;
  }
  return high;
}

}  // namespace cf::trainer::privacy
