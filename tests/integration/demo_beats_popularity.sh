#!/usr/bin/env bash
# The README's first command, on its default data: it must finish and the fine-tuned model's
# HR@10 (full ranking, history filtered) must be at least 1.5x the most-popular baseline's; it
# ends with the HTML report and a coupon allocation and prints their paths.
source "$(dirname "$0")/support/common.bash"
CARTFORMER_DEMO_DIR="$WORK/demo" "$SRC/launch/demo.sh" > "$WORK/demo.log" 2>&1 || {
  tail -30 "$WORK/demo.log"; fail "demo failed"; }
for f in corpus.h5 eval/eval.json eval/eval.md eval_propensity/eval.json recommendations.csv \
         report/report.html report/report.json coupons.csv coupons_summary.json; do
  [ -s "$WORK/demo/$f" ] || fail "demo did not produce $f"
done
python3 - "$WORK/demo/eval/eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
m, p = e["model"]["hr@10"], e["baselines"]["popularity"]["hr@10"]
print(f"demo HR@10: model {m:.4f}, popularity {p:.4f}, ratio {m / p:.2f}")
assert m >= 1.5 * p, "model HR@10 is not 1.5x the popularity baseline"
PY
grep -q "report: .*report/report.html" "$WORK/demo.log" || fail "demo does not print the report's path"
grep -q "coupons: .*coupons.csv" "$WORK/demo.log" || fail "demo does not print the coupons' path"
