#!/usr/bin/env bash
# Training control (issue 12): the validation metric during training is `eval --split
# validation`'s full_filtered HR@10/NDCG@10 of the same checkpoint, the same at 1 and 2 ranks;
# early stopping stops at the evaluation the rule says; the best checkpoint survives pruning and
# is what a run directory means; an interrupted and resumed run stops where the uninterrupted
# one does with the same files; train.epochs sets the run length; bad keys are one error line.
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus
cfg=(--config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5" "${TINY[@]}"
     --set task.sampled_negatives=0 --set model.dropout=0.1 --set train.log_every=100 --quiet)

# The val_hr@10 / val_ndcg@10 of metrics.jsonl at step $2 against eval.json's model entry.
same_as_eval() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
row = next(r for r in rows if r["step"] == int(sys.argv[2]) and "val_ndcg@10" in r)
model = json.load(open(sys.argv[3]))["model"]
for ours, theirs in (("val_hr@10", "hr@10"), ("val_ndcg@10", "ndcg@10")):
    if abs(row[ours] - model[theirs]) > 1e-9:
        sys.exit(f"{ours} {row[ours]!r} != eval {theirs} {model[theirs]!r}")
print(f"ok: step {sys.argv[2]}: hr@10 {row['val_hr@10']:.6f} ndcg@10 {row['val_ndcg@10']:.6f} == eval")
PY
}

# 1. The in-training metric is eval's, on the same checkpoint.
"$BIN" train "${cfg[@]}" --set train.steps=20 --set validation.every=10 \
  --set checkpoint.every=100 --set "run.out_dir=$WORK/plain" >/dev/null
"$BIN" eval --checkpoint "$WORK/plain/checkpoints/step_20" --corpus "$WORK/corpus.h5" \
  --split validation --out-dir "$WORK/plain_eval" >/dev/null 2>&1 || fail "eval failed"
same_as_eval "$WORK/plain/metrics.jsonl" 20 "$WORK/plain_eval/eval.json" || fail "metric differs from eval"

# 2. The same value at 1 and 2 ranks (same global batch, so the same weights).
if command -v mpirun >/dev/null; then
  mpi=(--set train.steps=20 --set validation.every=10 --set checkpoint.every=100
       --set train.global_batch=16 --set comm.timeout_s=60)
  "$BIN" train "${cfg[@]}" "${mpi[@]}" --set "run.out_dir=$WORK/one" >/dev/null
  "${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" "${mpi[@]}" --set "run.out_dir=$WORK/two" \
    >/dev/null 2>"$WORK/two.err" || { cat "$WORK/two.err"; fail "2-rank run failed"; }
  diff <(grep -o '"val_[a-z]*@10":[0-9.e-]*' "$WORK/one/metrics.jsonl") \
       <(grep -o '"val_[a-z]*@10":[0-9.e-]*' "$WORK/two/metrics.jsonl") ||
    fail "validation metric differs between 1 and 2 ranks"
  "$BIN" eval --checkpoint "$WORK/two/checkpoints/step_20" --corpus "$WORK/corpus.h5" \
    --split validation --out-dir "$WORK/two_eval" >/dev/null 2>&1 || fail "eval failed"
  same_as_eval "$WORK/two/metrics.jsonl" 20 "$WORK/two_eval/eval.json" || fail "2-rank metric differs from eval"
  echo "ok: same validation metric at 1 and 2 ranks"
else
  echo "SKIP (part): mpirun not found"
fi

# 3. Early stopping at a known evaluation: no improvement can beat min_delta 1 on NDCG, so with
#    patience 2 the run stops at its third evaluation (step 15), the first (step 5) being best.
"$BIN" train "${cfg[@]}" --set train.steps=200 --set validation.every=5 --set validation.patience=2 \
  --set validation.min_delta=1 --set checkpoint.every=100 --set "run.out_dir=$WORK/stop" \
  >"$WORK/stop.out" 2>"$WORK/stop.err"
grep -q "train: early stop at step 15: best ndcg@10 [0-9.]* at step 5" "$WORK/stop.err" ||
  { cat "$WORK/stop.err"; fail "no early stop at step 15"; }
[ -d "$WORK/stop/checkpoints/step_15" ] || fail "no final checkpoint at the early stop"
[ ! -d "$WORK/stop/checkpoints/step_20" ] || fail "trained past the early stop"
grep -q '"step": 5' "$WORK/stop/checkpoints/best.json" || fail "best.json does not name step 5"
# Resumed after the stop, it stays stopped.
"$BIN" train "${cfg[@]}" --set train.steps=200 --set validation.every=5 --set validation.patience=2 \
  --set validation.min_delta=1 --set checkpoint.every=100 --set "run.out_dir=$WORK/stop" \
  --resume auto >/dev/null 2>"$WORK/stop2.err"
grep -q "already stopped: early stop at step 15" "$WORK/stop2.err" || fail "resumed run trained on"
[ ! -d "$WORK/stop/checkpoints/step_20" ] || fail "resumed run trained past the early stop"
echo "ok: early stop at the third evaluation without improvement"

# 4. A natural run: early stopping with patience 2 on the real metric sequence, checkpoints
#    pruned to 1; the stop and best steps must follow the rule replayed on metrics.jsonl.
long=(--set train.steps=400 --set validation.every=4 --set validation.patience=2
      --set checkpoint.every=6 --set checkpoint.keep_last=1 --set train.lr=0.01)
"$BIN" train "${cfg[@]}" "${long[@]}" --set "run.out_dir=$WORK/straight" >"$WORK/straight.out" 2>&1
python3 - "$WORK/straight" <<'PY' || fail "stop/best steps do not follow the rule"
import json, os, sys
run = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl")) if "val_ndcg@10" in l]
best, best_step, since, stop = None, -1, 0, None
for r in rows:
    v = r["val_ndcg@10"]
    if best is None or v > best:
        best, best_step, since = v, r["step"], 0
    else:
        since += 1
    if since >= 2:
        stop = r["step"]
        break
mark = json.load(open(os.path.join(run, "checkpoints", "best.json")))
assert mark["step"] == best_step and mark["value"] == best, (mark, best_step, best)
last = max(r["step"] for r in rows)
assert stop is None or stop == last, (stop, last)
print(f"ok: {len(rows)} evaluations, best step {best_step}, stop {stop}")
PY
best=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' "$WORK/straight/checkpoints/best.json")
[ -d "$WORK/straight/checkpoints/step_$best" ] || fail "best checkpoint pruned"
"$BIN" eval --checkpoint "$WORK/straight" --corpus "$WORK/corpus.h5" --split validation \
  --out-dir "$WORK/best_eval" >/dev/null 2>"$WORK/best_eval.err" || fail "eval of the run failed"
grep -q "eval: checkpoint $WORK/straight/checkpoints/step_$best (step $best; best validation ndcg@10" \
  "$WORK/best_eval.err" || { cat "$WORK/best_eval.err"; fail "eval did not take the best checkpoint"; }
same_as_eval "$WORK/straight/metrics.jsonl" "$best" "$WORK/best_eval/eval.json" ||
  fail "best checkpoint's metric differs from eval"

# 5. Interrupted at step 13 and resumed: the same evaluations, best, stop and files.
"$BIN" train "${cfg[@]}" "${long[@]}" --set "run.out_dir=$WORK/resumed" --stop-after 13 >/dev/null 2>&1
"$BIN" train "${cfg[@]}" "${long[@]}" --set "run.out_dir=$WORK/resumed" --resume auto >/dev/null 2>&1
cmp "$WORK/straight/checkpoints/best.json" "$WORK/resumed/checkpoints/best.json" ||
  fail "best.json differs between the straight and the resumed run"
[ "$(ls "$WORK/straight/checkpoints")" = "$(ls "$WORK/resumed/checkpoints")" ] ||
  fail "different checkpoints: $(ls "$WORK/straight/checkpoints") vs $(ls "$WORK/resumed/checkpoints")"
for dir in "$WORK/straight/checkpoints"/step_*; do
  for f in model.safetensors optimizer.safetensors; do
    cmp "$dir/$f" "$WORK/resumed/checkpoints/${dir##*/}/$f" || fail "${dir##*/}/$f differs"
  done
  python3 - "$dir/manifest.json" "$WORK/resumed/checkpoints/${dir##*/}/manifest.json" <<'PY' ||
import json, sys
a, b = (json.load(open(p))["early_stopping"] for p in sys.argv[1:])
assert a == b, (a, b)
PY
    fail "early-stopping state differs in ${dir##*/}"
done
diff <(grep -o '"step":[0-9]*\|"val_[a-z]*@10":[0-9.e-]*' "$WORK/straight/metrics.jsonl") \
     <(grep -o '"step":[0-9]*\|"val_[a-z]*@10":[0-9.e-]*' "$WORK/resumed/metrics.jsonl") ||
  fail "metrics.jsonl steps or validation values differ"
echo "ok: interrupted + resumed run == uninterrupted run (best step $best)"

# 6. Fine-tuning from a run directory starts from its best checkpoint.
"$BIN" train --config "$SRC/configs/demo/finetune_next_item.yaml" --set "data.corpus=$WORK/corpus.h5" \
  "${TINY[@]}" --set "task.init_from=$WORK/straight" --set train.steps=4 \
  --set "run.out_dir=$WORK/ft" --quiet >/dev/null 2>"$WORK/ft.err"
grep -q "initialised from $WORK/straight/checkpoints/step_$best (best validation" "$WORK/ft.err" ||
  { cat "$WORK/ft.err"; fail "fine-tuning did not start from the best checkpoint"; }

# 7. train.epochs: the run is epochs x steps per epoch, validated once per epoch.
"$BIN" train "${cfg[@]}" --set train.steps=0 --set train.epochs=2 --set checkpoint.every=1000 \
  --set "run.out_dir=$WORK/epochs" >/dev/null
python3 - "$WORK/epochs/metrics.jsonl" <<'PY' || fail "epochs run validated at the wrong steps"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
val = [r["step"] for r in rows if "val_ndcg@10" in r]
last = rows[-1]["step"]
assert len(val) == 2 and val[1] == last and 2 * val[0] == last, (val, last)
print(f"ok: 2 epochs = {last} steps, validated at {val}")
PY

# 8. Bad input: one error line naming the file and the key.
cfgfile="$SRC/configs/demo/pretrain.yaml"
expect_error "$cfgfile: keys 'train.steps' and 'train.epochs' both set the run length" \
  "$BIN" train "${cfg[@]}" --set train.epochs=2 --set "run.out_dir=$WORK/bad"
expect_error "$cfgfile: --set validation.metric=mrr: key 'validation.metric' expects one of ndcg@10, hr@10, loss, got 'mrr'" \
  "$BIN" train "${cfg[@]}" --set validation.metric=mrr --set "run.out_dir=$WORK/bad"
expect_error "$cfgfile: key 'validation.patience' must be >= 0, got -1" \
  "$BIN" train "${cfg[@]}" --set validation.patience=-1 --set "run.out_dir=$WORK/bad"
expect_error "$cfgfile: key 'validation.users' must be >= 0, got -3" \
  "$BIN" train "${cfg[@]}" --set validation.users=-3 --set "run.out_dir=$WORK/bad"
echo "training control ok"
