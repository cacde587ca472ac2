#!/usr/bin/env bash
# cartformer report (HTML rendered in headless Chromium, JSON checked against eval.json),
# report --compare, and cartformer target (category / campaign targeting, coupon allocation),
# with every bad input the issue names: a budget <= 0, an unknown category or campaign, a
# checkpoint without the head a command needs, eval files from different corpora.
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus
common=(--set "data.corpus=$WORK/corpus.h5" "${TINY[@]}" --quiet)
"$BIN" train --config "$SRC/configs/demo/pretrain.yaml" "${common[@]}" \
  --set "run.out_dir=$WORK/pre" --set train.steps=20 --set model.action_head=false \
  --set task.action_loss_weight=0 >/dev/null
"$BIN" train --config "$SRC/configs/demo/finetune_next_item.yaml" "${common[@]}" \
  --set "run.out_dir=$WORK/ni" --set "task.init_from=$WORK/pre" --set train.steps=10 \
  --set model.action_head=false >/dev/null
"$BIN" train --config "$SRC/configs/demo/finetune_propensity.yaml" "${common[@]}" \
  --set "run.out_dir=$WORK/prop" --set "task.init_from=$WORK/ni" --set train.steps=10 \
  --set model.action_head=false >/dev/null
"$BIN" eval --checkpoint "$WORK/ni" --corpus "$WORK/corpus.h5" --out-dir "$WORK/eval_ni" --quiet >/dev/null
"$BIN" eval --checkpoint "$WORK/pre" --corpus "$WORK/corpus.h5" --out-dir "$WORK/eval_pre" --quiet >/dev/null
[ -s "$WORK/eval_ni/eval_users.csv" ] || fail "eval wrote no eval_users.csv"

# ---- the report --------------------------------------------------------------------------
"$BIN" report --corpus "$WORK/corpus.h5" --checkpoint "$WORK/eval_ni" --propensity "$WORK/prop" \
  --run "$WORK/pre" --run "$WORK/ni" --run "$WORK/prop" --bootstrap 200 --out-dir "$WORK/report" \
  --quiet > "$WORK/report.out"
[ -s "$WORK/report/report.html" ] && [ -s "$WORK/report/report.json" ] || fail "report files missing"
python3 - "$WORK/report/report.json" "$WORK/eval_ni/eval.json" <<'PY'
import json, sys
r, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert r["kind"] == "report"
# The report's point estimates are eval.json's numbers (same users, same ranks).
for scorer, ev in [("model", e["model"])] + list(e["baselines"].items()):
    for k in ("hr@1", "hr@10", "hr@50", "ndcg@10", "mrr"):
        m = r["next_item"]["metrics"][scorer][k]
        assert abs(m["estimate"] - ev[k]) < 1e-12, (scorer, k, m, ev[k])
        assert m["lower"] <= m["estimate"] <= m["upper"], (scorer, k, m)
assert len(r["training"]) == 3 and all(len(t["step"]) > 0 for t in r["training"])
groups = {b["by"]: b["groups"] for b in r["next_item"]["breakdowns"]}
assert set(groups) == {"history_length", "category", "last_action"}
for by, g in groups.items():
    assert sum(x["n"] for x in g) == r["next_item"]["n_users"], by
p = r["propensity"]
assert p is not None and 0 <= p["model"]["auc"]["estimate"] <= 1
assert [t["fraction"] for t in p["model"]["top"]] == [0.01, 0.05, 0.10, 0.20]
d = r["data_profile"]
assert d["order_value"]["available"] and d["order_value"]["mean"] > 0   # synth logs have prices
assert [s["stage"] for s in d["funnel"]] == ["view", "cart", "buy"]
assert sum(b["users"] for b in d["events_per_user"]["histogram"]) == d["users"]
print("report.json ok")
PY
bash "$SRC/tests/integration/support/check_html_in_chromium.sh" "$WORK/report/report.html" \
  "$WORK/report/report.png" 12
# The screenshots and pages outlive the scratch dir: in the test's working directory (the build
# tree under ctest) unless CARTFORMER_SCREENSHOT_DIR says where.
shots=${CARTFORMER_SCREENSHOT_DIR:-$PWD/report_screenshots}
mkdir -p "$shots" && cp "$WORK/report/report.png" "$WORK/report/report.html" "$shots/"

# ---- comparison: the next-item model against its pretrained start -------------------------
"$BIN" report --corpus "$WORK/corpus.h5" --compare "$WORK/eval_pre" "$WORK/eval_ni" \
  --bootstrap 200 --out-dir "$WORK/cmp" --quiet >/dev/null
python3 - "$WORK/cmp/comparison.json" "$WORK/eval_pre/eval.json" "$WORK/eval_ni/eval.json" <<'PY'
import json, sys
c, a, b = (json.load(open(p)) for p in sys.argv[1:])
by = {m["metric"]: m for m in c["metrics"]}
for k in ("hr@10", "ndcg@10", "mrr"):
    m = by[k]
    assert abs(m["a"] - a["model"][k]) < 1e-12 and abs(m["b"] - b["model"][k]) < 1e-12, k
    assert abs(m["difference"] - (m["b"] - m["a"])) < 1e-12
    assert m["lower"] <= m["difference"] <= m["upper"]
    assert m["significant"] == (m["lower"] > 0 or m["upper"] < 0)
print("comparison.json ok")
PY
bash "$SRC/tests/integration/support/check_html_in_chromium.sh" "$WORK/cmp/comparison.html" \
  "$WORK/cmp/comparison.png" 1
cp "$WORK/cmp/comparison.png" "$WORK/cmp/comparison.html" "$shots/"
echo "screenshots: $shots"

# A checkpoint evaluated on the spot gives the same comparison as its eval folder.
"$BIN" report --corpus "$WORK/corpus.h5" --compare "$WORK/pre" "$WORK/eval_ni" --bootstrap 200 \
  --out-dir "$WORK/cmp2" --quiet >/dev/null
python3 -c "
import json,sys
a=json.load(open('$WORK/cmp/comparison.json'))['metrics']; b=json.load(open('$WORK/cmp2/comparison.json'))['metrics']
assert [(m['metric'], m['a'], m['b']) for m in a] == [(m['metric'], m['a'], m['b']) for m in b]"

# ---- targeting ---------------------------------------------------------------------------
cat="$(sed -n 2p "$WORK/logs/item_data.csv" | cut -d, -f2)"
"$BIN" target --checkpoint "$WORK/ni" --corpus "$WORK/corpus.h5" --category "$cat" --top 25 \
  --out "$WORK/targets.csv" --quiet >/dev/null
[ "$(tail -n +2 "$WORK/targets.csv" | wc -l)" -eq 25 ] || fail "--top 25 wrote another count"
python3 - "$WORK/targets.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
scores = [float(r["score"]) for r in rows]
assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
assert len({r["user_key"] for r in rows}) == len(rows)
PY
"$BIN" target --checkpoint "$WORK/prop" --corpus "$WORK/corpus.h5" --campaign a1 --threshold 0 \
  --out "$WORK/campaign.csv" --quiet >/dev/null
[ "$(tail -n +2 "$WORK/campaign.csv" | wc -l)" -eq 300 ] || fail "--threshold 0 keeps every user"

# Coupons: declared randomised -> uplift allocation; not declared -> propensity ranking + caveat.
"$BIN" target --checkpoint "$WORK/prop" --corpus "$WORK/corpus.h5" --coupon a1:5 --coupon a3:10:4 \
  --budget-value 100 --exposure-randomized --out "$WORK/coupons.csv" --quiet > "$WORK/coupons.out"
"$BIN" target --checkpoint "$WORK/prop" --corpus "$WORK/corpus.h5" --coupon a1:5 --coupon a3:10 \
  --budget-coupons 7 --out "$WORK/coupons_obs.csv" --quiet > "$WORK/coupons_obs.out" 2> "$WORK/coupons_obs.err"
grep -q "uplift is not identified" "$WORK/coupons_obs.err" || fail "no causality caveat on stderr"
python3 - "$WORK/coupons.csv" "$WORK/coupons_summary.json" "$WORK/coupons_obs.csv" "$WORK/coupons_obs_summary.json" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1]))); s = json.load(open(sys.argv[2]))
face = {"a1": 5.0, "a3": 10.0}; cost = {"a1": 5.0, "a3": 4.0}
assert s["method"] == "uplift" and s["coupons_issued"] == len(rows)
assert sum(face[r["coupon"]] for r in rows) <= 100 + 1e-9           # the budget holds
assert len({r["user_key"] for r in rows}) == len(rows)               # one coupon per user
for r in rows:                                                       # net = value*uplift - cost
    up, pw = float(r["expected_uplift"]), float(r["purchase_prob_with"])
    assert abs(float(r["expected_cost"]) - cost[r["coupon"]] * pw) < 1e-3
    assert float(r["net_value"]) > 0
    assert abs(up - (pw - float(r["purchase_prob_without"]))) < 2e-6
assert abs(s["expected_extra_purchases"] - sum(float(r["expected_uplift"]) for r in rows)) < 1e-3
obs = list(csv.DictReader(open(sys.argv[3]))); so = json.load(open(sys.argv[4]))
assert len(obs) == 7 and so["method"].startswith("propensity") and "not identified" in so["caveat"]
assert {r["coupon"] for r in obs} == {"a1"}                           # the first coupon listed
assert "expected_extra_purchases" not in so and "model_estimates_unidentified" in so
p = [float(r["purchase_prob_without"]) for r in obs]
assert p == sorted(p, reverse=True)                                  # most likely buyers first
print("coupons ok:", len(rows), "uplift allocations,", len(obs), "propensity allocations")
PY

# ---- bad inputs: one error line each, nothing written ------------------------------------
rm -f "$WORK/bad.csv"
expect_error "budget must be > 0" "$BIN" target --checkpoint "$WORK/prop" --corpus "$WORK/corpus.h5" \
  --coupon a1:5 --budget-coupons 0 --out "$WORK/bad.csv"
expect_error "budget must be > 0" "$BIN" target --checkpoint "$WORK/prop" --corpus "$WORK/corpus.h5" \
  --coupon a1:5 --budget-value -3 --out "$WORK/bad.csv"
expect_error "at least one coupon" "$BIN" target --checkpoint "$WORK/prop" --corpus "$WORK/corpus.h5" \
  --coupon a1:5 --budget-coupons 0.5 --out "$WORK/bad.csv"
expect_error "given twice" "$BIN" target --checkpoint "$WORK/prop" --corpus "$WORK/corpus.h5" \
  --coupon a1:5 --coupon a1:10 --budget-coupons 3 --out "$WORK/bad.csv"
expect_error "'nosuch': not a category of" "$BIN" target --checkpoint "$WORK/ni" \
  --corpus "$WORK/corpus.h5" --category nosuch --top 5 --out "$WORK/bad.csv"
expect_error "'zz': not a campaign" "$BIN" target --checkpoint "$WORK/prop" \
  --corpus "$WORK/corpus.h5" --campaign zz --top 5 --out "$WORK/bad.csv"
expect_error "'zz': not an activity" "$BIN" target --checkpoint "$WORK/prop" --corpus "$WORK/corpus.h5" \
  --coupon zz:5 --budget-coupons 3 --out "$WORK/bad.csv"
expect_error "has neither a propensity head nor a next-action head" "$BIN" target \
  --checkpoint "$WORK/ni" --corpus "$WORK/corpus.h5" --coupon a1:5 --budget-coupons 3 --out "$WORK/bad.csv"
expect_error "has no propensity head" "$BIN" target --checkpoint "$WORK/ni" \
  --corpus "$WORK/corpus.h5" --campaign a1 --top 3 --head propensity --out "$WORK/bad.csv"
[ ! -e "$WORK/bad.csv" ] || fail "a failed target left an output file"

# Eval files from a different corpus (another synthetic log, its own vocabulary).
"$BIN" synth --out "$WORK/logs2" --users 120 --items 90 --categories 5 --seed 5 >/dev/null
"$BIN" prep --format trio --input "$WORK/logs2" --out "$WORK/corpus2.h5" --key-file "$WORK/key" >/dev/null
"$BIN" eval --corpus "$WORK/corpus2.h5" --baselines-only --out-dir "$WORK/eval_other" --quiet >/dev/null
cp -r "$WORK/eval_ni" "$WORK/eval_ni_copy"
python3 - "$WORK/eval_ni_copy/eval.json" "$WORK/eval_other/eval.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
a["protocol"]["corpus"] = b["protocol"]["corpus"]                  # as if evaluated on corpus2
json.dump(a, open(sys.argv[1], "w"))
PY
expect_error "different corpora" "$BIN" report --corpus "$WORK/corpus.h5" \
  --compare "$WORK/eval_ni" "$WORK/eval_ni_copy" --out-dir "$WORK/bad_cmp"
expect_error "evaluated on another corpus" "$BIN" report --corpus "$WORK/corpus.h5" \
  --checkpoint "$WORK/eval_other" --out-dir "$WORK/bad_report"
expect_error "needs two paths" "$BIN" report --corpus "$WORK/corpus.h5" --compare "$WORK/eval_ni"
printf 'sequence,history_length\n1,2\n' > "$WORK/eval_ni_copy/eval_users.csv"
expect_error "eval_users.csv:1: header" "$BIN" report --corpus "$WORK/corpus.h5" \
  --checkpoint "$WORK/eval_ni_copy" --out-dir "$WORK/bad_report"
[ ! -e "$WORK/bad_cmp" ] && [ ! -e "$WORK/bad_report" ] || fail "a failed report left output"
echo "report and target ok"
