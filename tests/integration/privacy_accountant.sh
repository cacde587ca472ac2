#!/usr/bin/env bash
# The DP-SGD accountant (trainer/privacy/rdp_accountant.*) through `cartformer privacy`:
# against Google's independent implementation (dp-accounting, PyPI) over a grid of sampling
# rates, noise multipliers and steps at the same RDP orders, when that package is installed;
# the calibration meets its target; --earlier composes earlier runs (also against
# dp-accounting); bad flags get one clear line each.
source "$(dirname "$0")/support/common.bash"

expect_error "--sampling-rate must be in (0, 1]" "$BIN" privacy --sampling-rate 0 --steps 10 --delta 1e-5 --noise 1
expect_error "--delta must be in (0, 1)" "$BIN" privacy --sampling-rate 0.01 --steps 10 --delta 1 --noise 1
expect_error "--noise must be positive" "$BIN" privacy --sampling-rate 0.01 --steps 10 --delta 1e-5 --noise 0
expect_error "give exactly one of --noise and --target-epsilon" "$BIN" privacy --sampling-rate 0.01 --steps 10 --delta 1e-5
expect_error "--target-epsilon: epsilon 0.000001 is out of reach in 100000 steps" \
  "$BIN" privacy --sampling-rate 0.5 --steps 100000 --delta 1e-5 --target-epsilon 1e-6

# Calibration: the noise it prints meets the target, and 0.2% less noise does not.
read -r sigma eps < <("$BIN" privacy --sampling-rate 0.004 --steps 5000 --delta 1e-5 \
  --target-epsilon 3 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["noise_multiplier"], d["epsilon"])')
python3 -c "import sys; assert float('$eps') <= 3.0, '$eps'" || fail "calibrated noise $sigma gives epsilon $eps > 3"
below=$("$BIN" privacy --sampling-rate 0.004 --steps 5000 --delta 1e-5 --noise "$(python3 -c "print($sigma / 1.002)")" --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["epsilon"])')
python3 -c "import sys; assert float('$below') > 3.0, '$below'" || fail "noise $sigma is not the smallest that meets epsilon 3"
echo "ok: calibration gives noise $sigma for epsilon 3 (epsilon $eps)"

# --earlier composes: 300 steps on top of 200 of the same plan are 500 steps.
alone=$("$BIN" privacy --sampling-rate 0.01 --steps 500 --delta 1e-5 --noise 1.1 --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["epsilon"])')
composed=$("$BIN" privacy --sampling-rate 0.01 --steps 300 --delta 1e-5 --noise 1.1 \
  --earlier 0.01:1.1:200 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["epsilon"])')
python3 -c "assert abs($alone - $composed) <= 1e-12 * $alone, ($alone, $composed)" ||
  fail "200 + 300 composed steps ($composed) differ from 500 steps ($alone)"
expect_error "--earlier: expected Q:SIGMA:STEPS" "$BIN" privacy --sampling-rate 0.01 --steps 10 \
  --delta 1e-5 --noise 1 --earlier 0.01:1.1
echo "ok: --earlier composes earlier runs"

if ! python3 -c 'import dp_accounting' 2>/dev/null; then
  echo "skip: dp-accounting not installed (pip install dp-accounting): no independent comparison"
  exit 0
fi
python3 - "$BIN" <<'PY' || fail "epsilon differs from dp-accounting's"
import json, subprocess, sys
import dp_accounting
from dp_accounting.rdp import rdp_privacy_accountant as rdp
# The orders of trainer/privacy/rdp_accountant.cpp (rdp_orders).
orders = [t / 10 for t in range(11, 110)] + list(range(11, 65)) + [128, 256, 512, 1024]
worst = 0.0
plans = 0
for q in (1e-4, 0.004, 0.05, 0.2, 1.0):
    for sigma in (0.5, 1.1, 5.0):
        for steps in (1, 10000):
            for delta in (1e-5, 1e-8):
                out = subprocess.run([sys.argv[1], "privacy", "--sampling-rate", str(q), "--steps",
                                      str(steps), "--delta", str(delta), "--noise", str(sigma),
                                      "--json"], check=True, capture_output=True, text=True).stdout
                ours = json.loads(out)["epsilon"]
                accountant = rdp.RdpAccountant(orders)
                accountant.compose(dp_accounting.PoissonSampledDpEvent(
                    q, dp_accounting.GaussianDpEvent(sigma)), steps)
                theirs = accountant.get_epsilon(delta)
                err = abs(ours - theirs) / max(theirs, 1e-12)
                worst = max(worst, err)
                assert err < 1e-6, (q, sigma, steps, delta, ours, theirs)
                plans += 1
print(f"ok: epsilon matches dp-accounting on {plans} plans (worst relative difference {worst:.1e})")
# Composition of different plans (a private pretraining, then a private fine-tune).
worst = 0.0
for earlier, now in ((((0.004, 0.9, 3000),), (0.05, 1.5, 200)),
                     (((0.2, 2.0, 50), (0.01, 1.1, 700)), (0.001, 0.7, 10000))):
    flags = []
    accountant = rdp.RdpAccountant(orders)
    for q, sigma, steps in earlier:
        flags += ["--earlier", f"{q}:{sigma}:{steps}"]
        accountant.compose(dp_accounting.PoissonSampledDpEvent(
            q, dp_accounting.GaussianDpEvent(sigma)), steps)
    q, sigma, steps = now
    accountant.compose(dp_accounting.PoissonSampledDpEvent(
        q, dp_accounting.GaussianDpEvent(sigma)), steps)
    out = subprocess.run([sys.argv[1], "privacy", "--sampling-rate", str(q), "--steps", str(steps),
                          "--delta", "1e-6", "--noise", str(sigma), "--json"] + flags,
                         check=True, capture_output=True, text=True).stdout
    ours, theirs = json.loads(out)["epsilon"], accountant.get_epsilon(1e-6)
    err = abs(ours - theirs) / theirs
    worst = max(worst, err)
    assert err < 1e-6, (earlier, now, ours, theirs)
print(f"ok: composed plans match dp-accounting (worst relative difference {worst:.1e})")
PY
