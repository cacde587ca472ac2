#!/usr/bin/env bash
# The README's first command, on its default data: it must finish and the fine-tuned model's
# HR@10 (full ranking, history filtered) must be at least 1.5x the most-popular baseline's.
source "$(dirname "$0")/support/common.bash"
CARTFORMER_DEMO_DIR="$WORK/demo" "$SRC/launch/demo.sh" > "$WORK/demo.log" 2>&1 || {
  tail -30 "$WORK/demo.log"; fail "demo failed"; }
for f in corpus.h5 eval/eval.json eval/eval.md eval_propensity/eval.json recommendations.csv; do
  [ -s "$WORK/demo/$f" ] || fail "demo did not produce $f"
done
python3 - "$WORK/demo/eval/eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
m, p = e["model"]["hr@10"], e["baselines"]["popularity"]["hr@10"]
print(f"demo HR@10: model {m:.4f}, popularity {p:.4f}, ratio {m / p:.2f}")
assert m >= 1.5 * p, "model HR@10 is not 1.5x the popularity baseline"
PY
