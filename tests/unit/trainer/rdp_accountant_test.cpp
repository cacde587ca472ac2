#include "trainer/privacy/rdp_accountant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

namespace cf::trainer::privacy {
namespace {

// Without sampling (q = 1) the step is the Gaussian mechanism: RDP alpha / (2 sigma^2) at every
// order; with q = 0 nothing is released.
TEST(RdpAccountant, ClosedFormsAtTheEnds) {
  for (const double order : {1.5, 2.0, 7.3, 64.0})
    EXPECT_DOUBLE_EQ(sampled_gaussian_rdp(1.0, 1.3, order), order / (2 * 1.3 * 1.3));
  EXPECT_EQ(sampled_gaussian_rdp(0.0, 1.3, 4.0), 0.0);
  EXPECT_EQ(epsilon_after(0.01, 1.0, 0, 1e-5).epsilon, 0.0);
}

// One step's RDP against Google's dp-accounting 0.6.0
// (rdp_privacy_accountant._compute_rdp_poisson_subsampled_gaussian), a fractional order and an
// integer one (the two formulas here).
TEST(RdpAccountant, OneStepMatchesAnIndependentImplementation) {
  EXPECT_NEAR(sampled_gaussian_rdp(0.01, 1.1, 2.5), 0.00016215219755506363, 1e-12 * 1.6e-4);
  EXPECT_NEAR(sampled_gaussian_rdp(0.01, 1.1, 8.0), 0.0005840703355202598, 1e-12 * 5.8e-4);
  EXPECT_NEAR(sampled_gaussian_rdp(0.3, 0.7, 3.3), 1.6786626662495894, 1e-12 * 1.7);
}

// The fractional series (an upper bound, with every term's absolute value) and the exact
// integer sum agree across an integer order, where the terms past i > alpha vanish.
TEST(RdpAccountant, FractionalOrdersJoinTheIntegerOnes) {
  for (const double q : {0.001, 0.02, 0.3}) {
    for (const double sigma : {0.6, 1.0, 3.0}) {
      const double at = sampled_gaussian_rdp(q, sigma, 4.0);
      EXPECT_NEAR(sampled_gaussian_rdp(q, sigma, 4.0 - 1e-7), at, 1e-5 * at + 1e-12);
      EXPECT_NEAR(sampled_gaussian_rdp(q, sigma, 4.0 + 1e-7), at, 1e-5 * at + 1e-12);
    }
  }
}

// (epsilon, best order) over the whole training run against dp-accounting 0.6.0 with the same
// orders (RdpAccountant(orders).compose(PoissonSampledDpEvent(q, GaussianDpEvent(sigma)),
// steps).get_epsilon_and_optimal_order(delta)). tests/integration/privacy_accountant.sh runs
// a larger grid live when the package is installed.
TEST(RdpAccountant, EpsilonMatchesAnIndependentImplementation) {
  struct Plan {
    double q, sigma;
    int64_t steps;
    double delta, epsilon, order;
  };
  const Plan plans[] = {
      {0.01, 1.1, 10000, 1e-05, 5.632010670081592, 4.7},
      {0.004, 0.8, 5000, 1e-06, 3.3924876536804707, 6.0},
      {0.2, 2.0, 100, 1e-05, 5.498763681471653, 4.5},
      {0.0001, 0.5, 1, 1e-05, 2.0397336450590116, 5.5},
      {0.05, 5.0, 10000, 1e-08, 6.185577516943212, 6.6},
  };
  for (const Plan& p : plans) {
    const Epsilon got = epsilon_after(p.q, p.sigma, p.steps, p.delta);
    EXPECT_NEAR(got.epsilon, p.epsilon, 1e-7 * p.epsilon) << "q " << p.q << ", sigma " << p.sigma;
    EXPECT_DOUBLE_EQ(got.order, p.order) << "q " << p.q << ", sigma " << p.sigma;
  }
}

// More noise, fewer steps or a lower sampling rate never cost more epsilon.
TEST(RdpAccountant, EpsilonIsMonotone) {
  const double base = epsilon_after(0.01, 1.0, 1000, 1e-5).epsilon;
  EXPECT_LT(epsilon_after(0.01, 1.2, 1000, 1e-5).epsilon, base);
  EXPECT_LT(epsilon_after(0.01, 1.0, 500, 1e-5).epsilon, base);
  EXPECT_LT(epsilon_after(0.005, 1.0, 1000, 1e-5).epsilon, base);
  EXPECT_GT(epsilon_after(0.01, 1.0, 1000, 1e-7).epsilon, base);
}

// The calibrated noise meets the target and 0.2% less does not; a target no noise up to
// kMaxNoise meets is one error naming the key.
TEST(RdpAccountant, CalibrationFindsTheSmallestNoise) {
  for (const double target : {1.0, 3.0, 8.0}) {
    const double sigma = calibrate_noise(0.004, 5000, target, 1e-5, "privacy.target_epsilon");
    EXPECT_LE(epsilon_after(0.004, sigma, 5000, 1e-5).epsilon, target);
    EXPECT_GT(epsilon_after(0.004, sigma / 1.002, 5000, 1e-5).epsilon, target);
  }
  try {
    calibrate_noise(0.5, 100000, 1e-6, 1e-5, "privacy.target_epsilon");
    FAIL() << "an unreachable target was accepted";
  } catch (const UserError& e) {
    EXPECT_EQ(
        std::string(e.what()).rfind("privacy.target_epsilon: epsilon 0.000001 is out of reach "
                                    "in 100000 steps at sampling rate 0.500000",
                                    0),
        0u)
        << e.what();
  }
}

// Composition: RDP adds across phases, so two phases of the same plan are one longer phase,
// and an accountant started with earlier phases' RDP counts them in its epsilon.
TEST(RdpAccountant, EarlierPhasesComposeByAddingRdp) {
  const std::vector<double> earlier = composed_rdp({{0.01, 1.1, 300}, {0.01, 1.1, 200}});
  const std::vector<double> whole = composed_rdp({{0.01, 1.1, 500}});
  ASSERT_EQ(earlier.size(), rdp_orders().size());
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_NEAR(earlier[i], whole[i], 1e-12 * whole[i]);
  EXPECT_DOUBLE_EQ(
      StepAccountant(0.01, 1.1, 1e-5, composed_rdp({{0.01, 1.1, 300}})).after(200).epsilon,
      epsilon_after(0.01, 1.1, 500, 1e-5).epsilon);
  // Phases of different plans: the sum of their own RDP at every order.
  const std::vector<double> mixed = composed_rdp({{0.02, 0.9, 100}, {0.005, 2.0, 400}});
  for (size_t i = 0; i < mixed.size(); ++i) {
    const double order = rdp_orders()[i];
    EXPECT_NEAR(mixed[i],
                100 * sampled_gaussian_rdp(0.02, 0.9, order) +
                    400 * sampled_gaussian_rdp(0.005, 2.0, order),
                1e-12 * std::max(1.0, mixed[i]));
  }
  EXPECT_EQ(composed_rdp({}), std::vector<double>(rdp_orders().size(), 0.0));
}

// With earlier phases the calibrated noise is larger (less budget is left), still meets the
// target for both together, and a target the earlier phases already spend is refused.
TEST(RdpAccountant, CalibrationCountsEarlierPhases) {
  const std::vector<double> earlier = composed_rdp({{0.004, 1.0, 2000}});
  const double alone = calibrate_noise(0.004, 3000, 8.0, 1e-5, "privacy.target_epsilon");
  const double after = calibrate_noise(0.004, 3000, 8.0, 1e-5, "privacy.target_epsilon", earlier);
  EXPECT_GT(after, alone);
  EXPECT_LE(StepAccountant(0.004, after, 1e-5, earlier).after(3000).epsilon, 8.0);
  EXPECT_GT(StepAccountant(0.004, after / 1.002, 1e-5, earlier).after(3000).epsilon, 8.0);
  const double spent = StepAccountant(0.004, 1.0, 1e-5, earlier).after(0).epsilon;
  ASSERT_GT(spent, 0.5);
  try {
    calibrate_noise(0.004, 3000, spent * 0.9, 1e-5, "privacy.target_epsilon", earlier);
    FAIL() << "a target below the earlier spend was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("is already spent by the earlier private training"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace cf::trainer::privacy
