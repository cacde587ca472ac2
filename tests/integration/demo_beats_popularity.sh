#!/usr/bin/env bash
# The README's first command, on its default data: it must finish and the fine-tuned model's
# HR@10 (full ranking, history filtered) must be at least 1.5x the most-popular baseline's; it
# ends with the HTML report and a coupon allocation and prints their paths. No user-hash key may
# be left among its outputs (anyone holding the run folder could recompute the pseudonyms), and
# the corpus must say which key it was made with (the public demo key).
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
keys=$(find "$WORK/demo" -type f \( -iname '*key*' -o -iname '*.pem' -o -iname '*secret*' \))
[ -z "$keys" ] || fail "demo left key material in its output folder: $keys"
"$BIN" inspect "$WORK/demo/corpus.h5" --json > "$WORK/inspect.json"
python3 - "$WORK/inspect.json" <<'PY'
import json, sys
source = json.load(open(sys.argv[1]))["provenance"]["user_key_source"]
assert source == "demo-key", f"demo corpus made with user_key_source={source!r}, expected the public demo key"
PY
grep -q "public demo key" "$WORK/demo.log" || fail "demo does not say its pseudonyms use the public demo key"
