#!/usr/bin/env bash
# cartformer sweep (issue 12): a grid of trials trained and ranked on validation. The best trial
# is the one its own metrics.jsonl says is best (checked here from the run files, not from the
# sweep's table); a sweep stopped by --max-trials, with a trial interrupted mid-run, or by a
# stop signal resumes without retraining finished trials and ends with the uninterrupted
# sweep's table; 2 ranks give the 1-rank table; random draws are distinct and seeded; every
# input mistake is one error line before anything trains.
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus
cfgfile="$SRC/configs/demo/pretrain.yaml"
base=(--config "$cfgfile" --set "data.corpus=$WORK/corpus.h5" "${TINY[@]}" --set train.steps=30
      --set validation.every=10 --set checkpoint.every=5 --set checkpoint.keep_last=1
      --set train.log_every=100)
grid=(--grid train.lr=0.001,0.01 --grid model.dropout=0,0.1)
sweep=(sweep "${base[@]}" "${grid[@]}")

# The table without its wall-time column (the only one that differs between runs).
table_without_wall() { awk -F, '{ $8 = ""; print }' OFS=, "$1/sweep.csv"; }

# 1. A full sweep: four trials in nested-loop order, all done.
"$BIN" "${sweep[@]}" --quiet --out-dir "$WORK/full" >"$WORK/full.out" 2>"$WORK/full.err" ||
  { cat "$WORK/full.err"; fail "sweep failed"; }
diff <(cut -d, -f1-3,9 "$WORK/full/sweep.csv") - <<'EOF' || fail "unexpected trials in sweep.csv"
id,train.lr,model.dropout,status
t000,0.001,0,done
t001,0.001,0.1,done
t002,0.01,0,done
t003,0.01,0.1,done
EOF

# The reference, from each trial's own run files: its best val_ndcg@10 and step in
# metrics.jsonl (the first best, as early stopping counts it); the best trial the highest of
# those (the first in plan order on ties). trial.json, sweep.csv, the stdout line and best.yaml
# (the trial's config.resolved.yaml, written by the trainer) must all agree with it.
python3 - "$WORK/full" "$WORK/full.out" <<'PY' || fail "the sweep's results disagree with the trials' runs"
import csv, json, os, sys
out, stdout = sys.argv[1], open(sys.argv[2]).read().strip().splitlines()
rows = list(csv.DictReader(open(os.path.join(out, "sweep.csv"))))
best_id, best_value = None, None
for row in rows:
    tid = row["id"]
    run = os.path.join(out, "trials", tid)
    vals = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl")) if "val_ndcg@10" in l]
    value, step = None, None
    for v in vals:
        if value is None or v["val_ndcg@10"] > value:
            value, step = v["val_ndcg@10"], v["step"]
    result = json.load(open(os.path.join(run, "trial.json")))
    assert result["status"] == "done" and result["metric"] == "ndcg@10", result
    assert result["value"] == value and result["best_step"] == step, (tid, result, value, step)
    assert float(row["ndcg@10"]) == value and int(row["best_step"]) == step, (row, value, step)
    assert int(row["steps"]) == 30 and row["stopped_early"] == "0", row
    if best_value is None or value > best_value:
        best_id, best_value = tid, value
marked = [r["id"] for r in rows if r["best"] == "1"]
assert marked == [best_id], (marked, best_id)
assert stdout[-1].startswith(f"best: {best_id} ndcg@10 {rows[int(best_id[1:])]['ndcg@10']} ("), stdout[-1]
best_yaml = open(os.path.join(out, "best.yaml")).read()
resolved = open(os.path.join(out, "trials", best_id, "config.resolved.yaml")).read()
assert best_yaml == resolved, "best.yaml is not the best trial's resolved config"
print(f"ok: best trial {best_id} ndcg@10 {best_value:.4f}, as its metrics.jsonl says")
PY
# The trials differ in what they say they differ in.
grep -q "lr: 0.01$" "$WORK/full/trials/t003/config.resolved.yaml" || fail "t003 did not train with lr 0.01"
grep -q "dropout: 0.1$" "$WORK/full/trials/t003/config.resolved.yaml" || fail "t003 did not train with dropout 0.1"
grep -q "best\*\*" "$WORK/full/sweep.md" || fail "sweep.md marks no best trial"

# 2. Rerunning the finished sweep trains nothing and writes the same table.
before=$(stat -c %Y "$WORK"/full/trials/*/trial.json; cat "$WORK"/full/trials/*/trial.json)
"$BIN" "${sweep[@]}" --quiet --out-dir "$WORK/full" >/dev/null 2>"$WORK/again.err"
grep -q "4 recorded in $WORK/full before, 0 to train" "$WORK/again.err" || { cat "$WORK/again.err"; fail "rerun trained"; }
[ "$(stat -c %Y "$WORK"/full/trials/*/trial.json; cat "$WORK"/full/trials/*/trial.json)" = "$before" ] ||
  fail "rerun rewrote trial results"
echo "ok: a finished sweep reruns without training"

# 3. Resume: one trial, then one more, then t002 interrupted after step 15 (as a killed sweep
#    leaves it: checkpoints, no trial.json), then the rest. Finished trials are never retrained;
#    t002 continues from its checkpoint; the table is the uninterrupted one.
part="$WORK/part"
"$BIN" "${sweep[@]}" --quiet --out-dir "$part" --max-trials 1 >"$WORK/part1.out" 2>&1
[ ! -e "$part/best.yaml" ] || fail "an unfinished sweep wrote best.yaml"
grep -q "^best so far: t000 " "$WORK/part1.out" || { cat "$WORK/part1.out"; fail "no best-so-far line"; }
diff <(cut -d, -f1,9 "$part/sweep.csv") - <<'EOF' || fail "unfinished sweep.csv"
id,status
t000,done
t001,pending
t002,pending
t003,pending
EOF
t000=$(stat -c %Y "$part/trials/t000/trial.json"; sha256sum < "$part/trials/t000/trial.json")
sleep 1  # a rewrite would change the mtime (1 s resolution)
"$BIN" "${sweep[@]}" --quiet --out-dir "$part" --max-trials 1 >/dev/null 2>&1
[ -e "$part/trials/t001/trial.json" ] && [ ! -e "$part/trials/t002" ] || fail "--max-trials 1 did not train t001 alone"
"$BIN" train "${base[@]}" --set train.lr=0.01 --set model.dropout=0 --set "run.out_dir=$part/trials/t002" \
  --stop-after 15 --quiet >/dev/null 2>&1
t001=$(stat -c %Y "$part/trials/t001/trial.json"; sha256sum < "$part/trials/t001/trial.json")
"$BIN" "${sweep[@]}" --out-dir "$part" >"$WORK/part3.out" 2>"$WORK/part3.err" ||
  { cat "$WORK/part3.err"; fail "resumed sweep failed"; }
grep -q "2 recorded in $part before, 2 to train" "$WORK/part3.err" || { cat "$WORK/part3.err"; fail "wrong trials retrained"; }
grep -q "^sweep: t002: resumed from $part/trials/t002/checkpoints/step_15 at step 15" "$WORK/part3.err" ||
  { cat "$WORK/part3.err"; fail "t002 did not resume from its checkpoint"; }
grep -q "^sweep: t000\|^sweep: t001" "$WORK/part3.err" && fail "a finished trial was retrained"
[ "$(stat -c %Y "$part/trials/t000/trial.json"; sha256sum < "$part/trials/t000/trial.json")" = "$t000" ] ||
  fail "t000's result was rewritten"
[ "$(stat -c %Y "$part/trials/t001/trial.json"; sha256sum < "$part/trials/t001/trial.json")" = "$t001" ] ||
  fail "t001's result was rewritten"
diff <(table_without_wall "$WORK/full") <(table_without_wall "$part") ||
  fail "the resumed sweep's table differs from the uninterrupted one"
diff <(sed "s|$WORK/full/|DIR/|" "$WORK/full/best.yaml") <(sed "s|$part/|DIR/|" "$part/best.yaml") ||
  fail "best.yaml differs"
diff <(tail -1 "$WORK/full.out" | sed "s|$WORK/full/|DIR/|") <(tail -1 "$WORK/part3.out" | sed "s|$part/|DIR/|") ||
  fail "best line differs"
echo "ok: stopped, interrupted and resumed sweep == uninterrupted sweep"

# 4. A stop signal during a trial: checkpoint, exit 75, no result, the trial still pending (a
#    rerun continues it from that checkpoint, as t002 above).
long=(sweep "${base[@]}" --set train.steps=100000 --grid train.lr=0.01 --quiet --out-dir "$WORK/signal")
"$BIN" "${long[@]}" >/dev/null 2>"$WORK/signal.err" &
job=$!
for _ in $(seq 1 $(( 600 * PACE ))); do
  has_checkpoint_in "$WORK/signal/trials/t000/checkpoints" && break
  kill -0 "$job" 2>/dev/null || { cat "$WORK/signal.err"; fail "sweep ended before its first checkpoint"; }
  sleep 0.1
done
kill -TERM "$job"
rc=0
wait "$job" || rc=$?
[ "$rc" -eq 75 ] || { cat "$WORK/signal.err"; fail "stopped sweep exited $rc, not 75"; }
[ ! -e "$WORK/signal/trials/t000/trial.json" ] || fail "an interrupted trial has a result"
grep -q "t000 stopped by a stop signal after a checkpoint" "$WORK/signal.err" || { cat "$WORK/signal.err"; fail "no stop note"; }
grep -q "^t000,0.01,,,,,,pending,$" "$WORK/signal/sweep.csv" || fail "the interrupted trial is not pending in sweep.csv"
echo "ok: a stop signal checkpoints the running trial and exits 75"

# 5. A trial that fails (diverges) is recorded as failed; the others still compete; a sweep
#    whose every trial failed is an error.
diverge=(sweep "${base[@]}" --set train.grad_clip=0 --set train.warmup_steps=0 --quiet)
"$BIN" "${diverge[@]}" --grid train.lr=0.01,1e30 --out-dir "$WORK/failing" >"$WORK/failing.out" 2>&1 ||
  { cat "$WORK/failing.out"; fail "a sweep with one failed trial failed"; }
grep -q "^t001,1e30,,,0,0,[0-9.]*,failed,$" "$WORK/failing/sweep.csv" || fail "t001 not failed in sweep.csv"
grep -q "^t000,0.01,.*,done,1$" "$WORK/failing/sweep.csv" || fail "t000 not the best"
grep -q '"error": ".*training diverged at step' "$WORK/failing/trials/t001/trial.json" || fail "no error in trial.json"
expect_error "every trial failed; see $WORK/all_failed/sweep.md" \
  "$BIN" "${diverge[@]}" --grid train.lr=1e30,1e31 --out-dir "$WORK/all_failed"
echo "ok: failed trials"

# 6. Two ranks, each training whole trials: the same table as one rank.
if command -v mpirun >/dev/null; then
  "${MPIRUN[@]}" -np 2 "$BIN" "${sweep[@]}" --quiet --out-dir "$WORK/mpi" >"$WORK/mpi.out" 2>"$WORK/mpi.err" ||
    { cat "$WORK/mpi.err"; fail "2-rank sweep failed"; }
  grep -q "training on rank 1" "$WORK/mpi.err" || { cat "$WORK/mpi.err"; fail "rank 1 trained nothing"; }
  diff <(table_without_wall "$WORK/full") <(table_without_wall "$WORK/mpi") ||
    fail "the 2-rank table differs from the 1-rank one"
  diff <(sed "s|$WORK/full/|DIR/|" "$WORK/full/best.yaml") <(sed "s|$WORK/mpi/|DIR/|" "$WORK/mpi/best.yaml") ||
    fail "the 2-rank best.yaml differs"
  echo "ok: 2 ranks give the 1-rank table"
else
  echo "SKIP (part): mpirun not found"
fi

# 7. Random draws: distinct combinations of the grid, the same for the same seed, capped at the
#    grid. --max-trials 0 plans (and tables) without training.
for dir in r1 r2; do
  "$BIN" sweep "${base[@]}" --grid train.lr=0.001,0.003,0.01 --grid model.dropout=0,0.1 \
    --random 4 --seed 9 --max-trials 0 --quiet --out-dir "$WORK/$dir" >/dev/null 2>&1
done
[ ! -e "$WORK/r1/trials" ] || [ -z "$(ls "$WORK/r1/trials")" ] || fail "--max-trials 0 trained"
cmp "$WORK/r1/sweep.csv" "$WORK/r2/sweep.csv" || fail "the same seed drew different trials"
python3 - "$WORK/r1/sweep.csv" <<'PY' || fail "random draws are not distinct grid points"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
pairs = [(r["train.lr"], r["model.dropout"]) for r in rows]
assert [r["id"] for r in rows] == ["t000", "t001", "t002", "t003"], rows
assert len(set(pairs)) == 4, pairs
assert all(lr in ("0.001", "0.003", "0.01") and d in ("0", "0.1") for lr, d in pairs), pairs
PY
"$BIN" sweep "${base[@]}" "${grid[@]}" --random 9 --max-trials 0 --quiet --out-dir "$WORK/r3" \
  >/dev/null 2>"$WORK/r3.err"
grep -q "the grid has only 4 combinations, taking each" "$WORK/r3.err" || fail "no cap note"
[ "$(grep -c pending "$WORK/r3/sweep.csv")" -eq 4 ] || fail "--random 9 over 4 combinations did not take each"
echo "ok: random draws"

# 8. Mistakes: one error line each, before anything trains (nothing is created).
expect_error "$cfgfile: --grid train.stpes=1,2: unknown key 'train.stpes' (did you mean 'train.steps'?)" \
  "$BIN" sweep "${base[@]}" --grid train.stpes=1,2 --out-dir "$WORK/bad"
expect_error "$cfgfile: --grid train.lr=0.01,abc: key 'train.lr' expects a number, got 'abc'" \
  "$BIN" sweep "${base[@]}" --grid train.lr=0.01,abc --out-dir "$WORK/bad"
expect_error "$cfgfile: key 'model.dropout' must be in \[0, 1), got 1.5 (value 1.5 of --grid model.dropout=0,1.5)" \
  "$BIN" sweep "${base[@]}" --grid model.dropout=0,1.5 --out-dir "$WORK/bad"
expect_error "--grid train.lr=: empty value list" \
  "$BIN" sweep "${base[@]}" --grid train.lr= --out-dir "$WORK/bad"
expect_error "--grid train.lr=0.1: key 'train.lr' is given twice (also --grid train.lr=0.01,0.02)" \
  "$BIN" sweep "${base[@]}" --grid train.lr=0.01,0.02 --grid train.lr=0.1 --out-dir "$WORK/bad"
expect_error "--set train.steps=30: key 'train.steps' is given twice (also --grid train.steps=10,20)" \
  "$BIN" sweep "${base[@]}" --grid train.steps=10,20 --out-dir "$WORK/bad"
expect_error "--grid is required" "$BIN" sweep "${base[@]}" --out-dir "$WORK/bad"
[ ! -e "$WORK/bad" ] || fail "a refused sweep created its directory"
expect_error "$WORK/full/plan.json: planned for another sweep (--grid flags differ (there: --grid train.lr=0.001,0.01 --grid model.dropout=0,0.1; here: --grid train.lr=0.001,0.003 --grid model.dropout=0,0.1))" \
  "$BIN" sweep "${base[@]}" --grid train.lr=0.001,0.003 --grid model.dropout=0,0.1 --out-dir "$WORK/full"
expect_error "$WORK/full/plan.json: planned for another sweep (--set flags differ (there: none; here: --set train.weight_decay=0))" \
  "$BIN" "${sweep[@]}" --set train.weight_decay=0 --out-dir "$WORK/full"
[ "$(stat -c %Y "$WORK"/full/trials/*/trial.json; cat "$WORK"/full/trials/*/trial.json)" = "$before" ] ||
  fail "a refused resume touched the trials"
echo "sweep ok"
