// cartformer privacy: the DP-SGD accountant from the command line — epsilon for a sampling
// rate, noise multiplier and number of steps, or the noise multiplier a target epsilon needs.
#include <cstdio>

#include "core/error.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "trainer/privacy/rdp_accountant.h"

namespace cf::cli {

int run_privacy(int argc, char** argv) {
  ArgParser args("privacy",
                 "epsilon of DP-SGD (Poisson-sampled users, Gaussian noise; RDP accountant), or "
                 "the noise multiplier that meets a target epsilon");
  args.option("sampling-rate", "Q", "probability that a user is in a step's batch (0, 1]");
  args.option("steps", "N", "training steps");
  args.option("delta", "D", "the delta of (epsilon, delta); below 1 / users");
  args.option("noise", "SIGMA", "noise multiplier (noise std / clip norm); or --target-epsilon");
  args.option("target-epsilon", "E", "print the smallest noise multiplier that meets it");
  args.flag("json", "one JSON object instead of the sentence");
  if (!args.parse(argc, argv)) return 0;
  const double q = args.get_double("sampling-rate", 0, 1);
  const int64_t steps = args.get_int("steps", 0);
  const double delta = args.get_double("delta", 0, 1);
  if (!args.has("sampling-rate") || !args.has("steps") || !args.has("delta"))
    throw UserError("--sampling-rate, --steps and --delta are required");
  if (q <= 0)
    throw UserError("--sampling-rate must be in (0, 1], got " + args.get("sampling-rate"));
  if (delta <= 0 || delta >= 1)
    throw UserError("--delta must be in (0, 1), got " + args.get("delta"));
  if (args.has("noise") == args.has("target-epsilon"))
    throw UserError("give exactly one of --noise and --target-epsilon");
  double sigma;
  if (args.has("noise")) {
    sigma = args.get_double("noise", 0);
    if (sigma <= 0) throw UserError("--noise must be positive, got " + args.get("noise"));
  } else {
    const double target = args.get_double("target-epsilon", 0);
    if (target <= 0)
      throw UserError("--target-epsilon must be positive, got " + args.get("target-epsilon"));
    sigma = trainer::privacy::calibrate_noise(q, steps, target, delta, "--target-epsilon");
  }
  const trainer::privacy::Epsilon spent = trainer::privacy::epsilon_after(q, sigma, steps, delta);
  if (args.get_flag("json")) {
    std::printf(
        "{\"epsilon\": %.17g, \"order\": %.17g, \"noise_multiplier\": %.17g, \"sampling_rate\": "
        "%.17g, \"steps\": %lld, \"delta\": %.17g}\n",
        spent.epsilon, spent.order, sigma, q, static_cast<long long>(steps), delta);
  } else {
    std::printf(
        "epsilon %.4f (delta %g) after %lld steps at sampling rate %g, noise multiplier "
        "%.4f (best RDP order %g)\n",
        spent.epsilon, delta, static_cast<long long>(steps), q, sigma, spent.order);
  }
  return 0;
}

}  // namespace cf::cli
