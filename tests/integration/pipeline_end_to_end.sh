#!/usr/bin/env bash
# synth -> prep -> pretrain -> fine-tune (next item, propensity) -> eval -> generate -> inspect,
# checking each stage's outputs.
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus
common=(--set "data.corpus=$WORK/corpus.h5" "${TINY[@]}" --quiet)

"$BIN" train --config "$SRC/configs/demo/pretrain.yaml" "${common[@]}" \
  --set "run.out_dir=$WORK/pre" --set train.steps=30 --set checkpoint.every=10 \
  --set checkpoint.keep_last=2 >/dev/null
[ -d "$WORK/pre/checkpoints/step_30" ] || fail "final checkpoint missing"
[ "$(ls "$WORK/pre/checkpoints" | grep -c '^step_')" -eq 2 ] || fail "keep_last=2 not applied"
[ -s "$WORK/pre/metrics.jsonl" ] && [ -s "$WORK/pre/config.resolved.yaml" ] || fail "run files missing"
grep -q '"tokens_per_s"' "$WORK/pre/metrics.jsonl" || fail "metrics lack tokens/s"

"$BIN" train --config "$SRC/configs/demo/finetune_next_item.yaml" "${common[@]}" \
  --set "run.out_dir=$WORK/ni" --set "task.init_from=$WORK/pre" --set train.steps=10 >/dev/null
"$BIN" train --config "$SRC/configs/demo/finetune_propensity.yaml" "${common[@]}" \
  --set "run.out_dir=$WORK/prop" --set "task.init_from=$WORK/ni" --set train.steps=10 >/dev/null

"$BIN" eval --checkpoint "$WORK/ni" --corpus "$WORK/corpus.h5" --out-dir "$WORK/eval" >/dev/null
"$BIN" eval --checkpoint "$WORK/prop" --corpus "$WORK/corpus.h5" --out-dir "$WORK/evalp" >/dev/null
python3 - "$WORK/eval/eval.json" "$WORK/evalp/eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
for k in ["hr@1", "hr@5", "hr@10", "hr@20", "hr@50", "ndcg@10", "mrr"]:
    assert k in e["model"], k
    for b in ("popularity", "cooccurrence"):
        assert k in e["baselines"][b], (b, k)
assert set(e["model"]["by_protocol"]) >= {"full_unfiltered", "sampled_uniform", "sampled_popularity"}
assert "protocol" in e
p = json.load(open(sys.argv[2]))["model"]["propensity"]
for k in ("auc", "log_loss", "ece"):
    assert k in p, k
print("eval.json ok: hr@10", e["model"]["hr@10"], "popularity", e["baselines"]["popularity"]["hr@10"])
PY
[ -s "$WORK/eval/eval.md" ] || fail "eval.md missing"

"$BIN" generate --checkpoint "$WORK/ni" --corpus "$WORK/corpus.h5" --all-users --limit 3 --k 4 \
  --format csv --out "$WORK/recs.csv"
[ "$(tail -n +2 "$WORK/recs.csv" | wc -l)" -eq 12 ] || fail "expected 3 users x 4 rows"
# Multi-step generation runs the users on all threads, each with its own decoder: the output is
# the same, row for row, on one thread and on three.
for threads in 1 3; do
  OMP_NUM_THREADS=$threads "$BIN" generate --checkpoint "$WORK/ni" --corpus "$WORK/corpus.h5" \
    --all-users --limit 25 --k 3 --steps 3 --out "$WORK/multi_$threads.csv" --quiet
done
[ "$(tail -n +2 "$WORK/multi_1.csv" | wc -l)" -eq 225 ] || fail "expected 25 users x 3 steps x 3 rows"
cmp "$WORK/multi_1.csv" "$WORK/multi_3.csv" || fail "multi-step generate depends on the thread count"
# Captured to files first: under pipefail, `cmd | grep -q` fails when grep exits before cmd
# has written everything (SIGPIPE), which made this check flaky.
"$BIN" inspect "$WORK/ni/checkpoints/step_10" > "$WORK/inspect_ckpt.txt"
grep -q '"step"' "$WORK/inspect_ckpt.txt" || fail "inspect of a checkpoint"
"$BIN" inspect "$WORK/corpus.h5" > "$WORK/inspect_corpus.txt"
grep -q "sequences" "$WORK/inspect_corpus.txt" || fail "inspect of a corpus"
python3 - "$WORK/pre/checkpoints/step_30/model.safetensors" <<'PY' || true
import sys
try:
    from safetensors.numpy import load_file
except ImportError:
    print("safetensors not installed: skipping the Python load check"); sys.exit(0)
t = load_file(sys.argv[1]); assert "item_emb.weight" in t; print("safetensors loads:", len(t), "tensors")
PY
echo "pipeline ok"
