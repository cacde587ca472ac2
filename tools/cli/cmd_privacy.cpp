// cartformer privacy: the DP-SGD accountant from the command line — epsilon for a sampling
// rate, noise multiplier and number of steps, or the noise multiplier a target epsilon needs;
// with --earlier, on top of earlier private runs on the same users (a private fine-tune).
#include <cstdio>
#include <string>
#include <vector>

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
  args.option("earlier", "Q:SIGMA:STEPS",
              "an earlier private run on the same users, composed with this plan (repeatable)", "",
              true);
  args.flag("json", "one JSON object instead of the sentence");
  if (!args.parse(argc, argv)) return 0;
  std::vector<trainer::privacy::MechanismPhase> earlier;
  for (const std::string& phase : args.get_all("earlier")) {
    trainer::privacy::MechanismPhase p;
    long long phase_steps = -1;
    char end = 0;
    if (std::sscanf(phase.c_str(), "%lf:%lf:%lld%c", &p.sampling_rate, &p.noise_multiplier,
                    &phase_steps, &end) != 3 ||
        !(p.sampling_rate > 0 && p.sampling_rate <= 1) || !(p.noise_multiplier > 0) ||
        phase_steps < 0)
      throw UserError(
          "--earlier: expected Q:SIGMA:STEPS (q in (0, 1], sigma > 0, steps >= 0), "
          "got '" +
          phase + "'");
    p.steps = phase_steps;
    earlier.push_back(p);
  }
  const std::vector<double> earlier_rdp = trainer::privacy::composed_rdp(earlier);
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
    sigma =
        trainer::privacy::calibrate_noise(q, steps, target, delta, "--target-epsilon", earlier_rdp);
  }
  const trainer::privacy::Epsilon spent =
      trainer::privacy::StepAccountant(q, sigma, delta, earlier_rdp).after(steps);
  if (args.get_flag("json")) {
    std::printf(
        "{\"epsilon\": %.17g, \"order\": %.17g, \"noise_multiplier\": %.17g, \"sampling_rate\": "
        "%.17g, \"steps\": %lld, \"delta\": %.17g}\n",
        spent.epsilon, spent.order, sigma, q, static_cast<long long>(steps), delta);
  } else {
    std::printf(
        "epsilon %.4f (delta %g) after %lld steps at sampling rate %g, noise multiplier "
        "%.4f (best RDP order %g)%s\n",
        spent.epsilon, delta, static_cast<long long>(steps), q, sigma, spent.order,
        earlier.empty() ? "" : ", composed with the --earlier runs");
  }
  return 0;
}

}  // namespace cf::cli
