#!/usr/bin/env bash
# Data parallelism with real mpirun: 2 ranks x micro-batch b == 1 rank x micro-batch b x 2
# accumulation (losses and weights), with and without ZeRO-1, and a run checkpointed on 2 ranks
# continues on 1 rank exactly as an uninterrupted 1-rank run.
source "$(dirname "$0")/support/common.bash"
require_mpirun
make_tiny_corpus
cfg=(--config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5" "${TINY[@]}"
     --set train.steps=20 --set train.log_every=1 --set checkpoint.every=100
     --set model.dropout=0.2 --set comm.bucket_mb=0.01 --set comm.timeout_s=60 --quiet)
# comm.bucket_mb=0.01 cuts the ~20k gradients into several buckets, so the all-reduce really
# runs bucket by bucket while backward goes on.

"$BIN" train "${cfg[@]}" --set train.grad_accum=2 --set "run.out_dir=$WORK/one" >/dev/null
"${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/two" \
  >"$WORK/two.out" 2>"$WORK/two.err" || { cat "$WORK/two.err"; fail "2-rank run failed"; }
grep -q "train: world size 2 (mpi)" "$WORK/two.err" || fail "2-rank run did not see 2 MPI ranks"
[ "$(grep -c "checkpoint:" "$WORK/two.out")" -eq 1 ] || fail "only rank 0 should report"
same_losses "$WORK/two/metrics.jsonl" "$WORK/one/metrics.jsonl" 1e-6 || fail "losses differ"
# Two gradient contributions summed in either order are the same floats, so this is bit for bit.
for f in model.safetensors optimizer.safetensors; do
  cmp "$WORK/two/checkpoints/step_20/$f" "$WORK/one/checkpoints/step_20/$f" ||
    fail "$f: 2 ranks differ from 1 rank with accumulation"
done
grep -q '"world_size":2,"comm_wait_s":[0-9.e-]*,"comm_share":' "$WORK/two/metrics.jsonl" ||
  fail "metrics.jsonl lacks the communication wait"
echo "ok: 2 ranks == 1 rank with 2-fold accumulation"

# With the co-occurrence prior chosen on a validation ranking (users split over the ranks): the
# same weights, the same prior weight and the same early-stopping state as on 1 rank.
prior=(--set model.cooccurrence_prior=true --set validation.every=5 --set validation.users=40)
"$BIN" train "${cfg[@]}" "${prior[@]}" --set train.grad_accum=2 \
  --set "run.out_dir=$WORK/p_one" >/dev/null
"${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" "${prior[@]}" --set "run.out_dir=$WORK/p_two" \
  >/dev/null 2>"$WORK/p_two.err" || { cat "$WORK/p_two.err"; fail "2-rank run with the prior failed"; }
cmp "$WORK/p_two/checkpoints/step_20/model.safetensors" \
    "$WORK/p_one/checkpoints/step_20/model.safetensors" || fail "prior: 2 ranks differ from 1 rank"
python3 - "$WORK/p_one/checkpoints/step_20/manifest.json" \
  "$WORK/p_two/checkpoints/step_20/manifest.json" <<'PY' || fail "prior: manifests differ"
import json, sys
one, two = (json.load(open(p)) for p in sys.argv[1:])
for key in ("early_stopping", "cooccurrence_prior_weight"):
    assert one[key] == two[key], (key, one[key], two[key])
assert one["early_stopping"]["best_step"] > 0, one["early_stopping"]
PY
echo "ok: 2 ranks == 1 rank with the co-occurrence prior"

# The same job through the launcher script.
CARTFORMER_BIN="$BIN" OMP_NUM_THREADS=1 "$SRC/launch/local.sh" -n 2 -- "${cfg[@]}" \
  --set "run.out_dir=$WORK/launched" >/dev/null 2>"$WORK/launched.err" ||
  { cat "$WORK/launched.err"; fail "launch/local.sh -n 2 failed"; }
grep -q "^+ mpirun -np 2" "$WORK/launched.err" || fail "local.sh did not print its mpirun command"
cmp "$WORK/launched/checkpoints/step_20/model.safetensors" \
    "$WORK/two/checkpoints/step_20/model.safetensors" || fail "launch/local.sh run differs"
echo "ok: launch/local.sh -n 2 gives the same weights"

# ZeRO-1: optimizer state sharded, same result.
"${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" --set comm.zero1=true \
  --set "run.out_dir=$WORK/zero" >/dev/null 2>&1 || fail "ZeRO-1 run failed"
same_losses "$WORK/zero/metrics.jsonl" "$WORK/one/metrics.jsonl" 1e-6 || fail "ZeRO-1 losses differ"
"$BIN" inspect "$WORK/zero/checkpoints/step_20" --compare "$WORK/one/checkpoints/step_20" \
  --tolerance 1e-6 >/dev/null || fail "ZeRO-1 weights or optimizer state differ"
echo "ok: ZeRO-1 == unsharded"

# 2 ranks for 10 steps (ZeRO-1 shards), then 1 rank for 10 more: the same global batch
# (train.global_batch) continues the identical sample stream.
gb=(--set train.global_batch=16)
"${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" "${gb[@]}" --set comm.zero1=true \
  --set "run.out_dir=$WORK/moved" --stop-after 10 >/dev/null 2>&1 || fail "2-rank part failed"
[ -d "$WORK/moved/checkpoints/step_10" ] || fail "no checkpoint at step 10"
"$BIN" train "${cfg[@]}" "${gb[@]}" --set "run.out_dir=$WORK/moved" --resume auto >/dev/null 2>&1
"$BIN" inspect "$WORK/moved/checkpoints/step_20" --compare "$WORK/one/checkpoints/step_20" \
  --tolerance 1e-6 >/dev/null || fail "2 ranks then 1 rank differs from 1 rank throughout"
same_losses "$WORK/moved/metrics.jsonl" "$WORK/one/metrics.jsonl" 1e-6 || fail "resumed losses differ"
echo "ok: checkpoint from 2 ranks resumes on 1 rank"

# And back to 3 ranks (global batch 24 = 8 x 3): a different global batch is refused.
expect_error "global batch of 16 sequences, this run has 24" \
  "${MPIRUN[@]}" -np 3 "$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/moved" --resume auto \
  --set train.steps=30
# 4 ranks x micro-batch 4 keeps 16: accepted, and continues.
"${MPIRUN[@]}" -np 4 "$BIN" train "${cfg[@]}" "${gb[@]}" --set train.micro_batch=4 \
  --set train.steps=24 --set "run.out_dir=$WORK/moved" --resume auto >/dev/null 2>&1 ||
  fail "resume on 4 ranks with the same global batch failed"
[ -d "$WORK/moved/checkpoints/step_24" ] || fail "4-rank continuation wrote no checkpoint"
# Ranks that would build different models (another config on one host) stop before training.
expect_error "the ranks disagree on the number of parameters" \
  "${MPIRUN[@]}" -np 1 "$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/mixed" : \
  -np 1 "$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/mixed" --set model.d_ff=64
echo "data parallel: all checks passed"
