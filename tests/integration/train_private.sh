#!/usr/bin/env bash
# DP-SGD (privacy.enabled, trainer/privacy/) through `cartformer train`: bad privacy settings are
# one clear error before training; a private run says its plan, reports epsilon every logged
# step and stays within its target, records the spend in the checkpoint manifest, repeats bit
# for bit, resumes bit for bit, refuses a resume under another plan, composes with a private
# checkpoint it fine-tunes, and 2 ranks follow 1 rank.
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus
head -c 32 /dev/urandom > "$WORK/noise.key"
# A named noise key: runs that must be compared bit for bit (again, resumed, on 2 ranks) draw
# the same sampling and noise; without it every run draws from a fresh secret of its own.
cfg=(--config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5" "${TINY[@]}"
     --set train.steps=20 --set train.log_every=1 --set checkpoint.every=10
     --set validation.every=0 --set checkpoint.keep_best=false --set model.dropout=0.1
     --set privacy.enabled=true --set privacy.target_epsilon=8 --set privacy.clip_norm=1
     --set train.global_batch=32 --set "privacy.noise_key_file=$WORK/noise.key" --quiet)

expect_error "privacy.target_epsilon' must be > 0" "$BIN" train "${cfg[@]}" \
  --set privacy.target_epsilon=0 --set "run.out_dir=$WORK/bad1"
expect_error "privacy.clip_norm' must be > 0" "$BIN" train "${cfg[@]}" \
  --set privacy.clip_norm=-1 --set "run.out_dir=$WORK/bad2"
expect_error "privacy.delta' must be below 1 / users" "$BIN" train "${cfg[@]}" \
  --set privacy.delta=0.5 --set "run.out_dir=$WORK/bad3"
expect_error "privacy.target_epsilon': epsilon 0.001000 is out of reach in 20 steps" "$BIN" train \
  "${cfg[@]}" --set privacy.target_epsilon=0.001 --set train.global_batch=280 --set "run.out_dir=$WORK/bad4"
expect_error "model.cooccurrence_prior serves counts" "$BIN" train "${cfg[@]}" \
  --set model.cooccurrence_prior=true --set "run.out_dir=$WORK/bad5"
expect_error "validation.patience stops training" "$BIN" train "${cfg[@]}" \
  --set validation.patience=2 --set "run.out_dir=$WORK/bad6"
expect_error "checkpoint.keep_best picks a checkpoint" "$BIN" train "${cfg[@]}" \
  --set checkpoint.keep_best=true --set "run.out_dir=$WORK/bad7"
expect_error "loss.sampler: popularity draws negatives" "$BIN" train "${cfg[@]}" \
  --set loss.kind=sampled_softmax --set loss.negatives=16 --set loss.sampler=popularity \
  --set "run.out_dir=$WORK/bad8"
expect_error "loss.logq_correction corrects in-batch negatives" "$BIN" train "${cfg[@]}" \
  --set loss.kind=sampled_softmax --set loss.negatives=16 --set loss.in_batch_negatives=4 \
  --set loss.logq_correction=true --set "run.out_dir=$WORK/bad9"
expect_error "privacy.enabled in a sweep" "$BIN" sweep "${cfg[@]}" --grid train.lr=0.001,0.002 \
  --out-dir "$WORK/sweep"
for d in bad1 bad2 bad3 bad4 bad5 bad6 bad7 bad8 bad9; do
  [ ! -e "$WORK/$d/checkpoints" ] || fail "a refused private run ($d) left checkpoints"
done

"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/a" 2>"$WORK/a.err" >/dev/null ||
  { cat "$WORK/a.err"; fail "private run failed"; }
grep -q "train: privacy: DP-SGD to epsilon 8 at delta" "$WORK/a.err" || { cat "$WORK/a.err"; fail "plan not said"; }
python3 - "$WORK/a/metrics.jsonl" "$WORK/a/checkpoints/step_20/manifest.json" <<'PY' || fail "epsilon accounting"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
eps = [r["epsilon"] for r in rows if "loss" in r and "epsilon" in r]
assert len(eps) == 20, eps
assert all(a < b for a, b in zip(eps, eps[1:])), eps
assert 0 < eps[-1] <= 8.0, eps[-1]
state = json.load(open(sys.argv[2]))
p = state.get("state", state)["privacy"] if "privacy" not in state else state["privacy"]
assert abs(p["epsilon"] - eps[-1]) < 1e-9, (p, eps[-1])
assert p["steps"] == 20 and p["clip_norm"] == 1 and p["noise_multiplier"] > 0, p
assert 0 < p["delta"] < 1 / 300 and 0 < p["sampling_rate"] <= 1, p
print(f"ok: epsilon rises to {eps[-1]:.3f} <= 8 over 20 steps; manifest: {p}")
PY

# eval.json and the HTML report carry the spend; inspect shows the manifest's.
"$BIN" eval --checkpoint "$WORK/a/checkpoints/step_20" --corpus "$WORK/corpus.h5" \
  --out-dir "$WORK/eval_a" --quiet >/dev/null || fail "eval of the private checkpoint failed"
python3 - "$WORK/eval_a/eval.json" <<'PY' || fail "eval.json lacks the privacy spend"
import json, sys
p = json.load(open(sys.argv[1]))["protocol"]["checkpoint"]["privacy"]
assert p["steps"] == 20 and 0 < p["epsilon"] <= 8 and p["clip_norm"] == 1, p
PY
"$BIN" report --corpus "$WORK/corpus.h5" --checkpoint "$WORK/a/checkpoints/step_20" \
  --out-dir "$WORK/report" --quiet >/dev/null 2>&1 || fail "report of the private checkpoint failed"
grep -q "epsilon 7.99 at delta" "$WORK/report/report.html" || fail "the report's run summary lacks the privacy spend"
"$BIN" inspect "$WORK/a/checkpoints/step_20" > "$WORK/inspect.txt"
grep -q "\"noise_multiplier\"" "$WORK/inspect.txt" || fail "inspect lacks the privacy spend"
echo "ok: eval.json, the report and inspect show the spend"

# The same run again: the same bits (sampling, clipping and noise are functions of seed and step).
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/b" >/dev/null 2>&1 || fail "second private run failed"
cmp "$WORK/a/checkpoints/step_20/model.safetensors" "$WORK/b/checkpoints/step_20/model.safetensors" ||
  fail "two identical private runs differ"
# Stopped at step 10 and resumed: the same bits as the uninterrupted run.
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/r" --stop-after 10 >/dev/null 2>&1 || fail "run to step 10 failed"
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/r" --resume auto >/dev/null 2>&1 || fail "resume failed"
cmp "$WORK/a/checkpoints/step_20/model.safetensors" "$WORK/r/checkpoints/step_20/model.safetensors" ||
  fail "a resumed private run differs from the uninterrupted one"
echo "ok: private runs repeat and resume bit for bit"
# Without a named key each run keys its sampling and noise by a fresh secret of its own, kept
# in the run directory (owner-only) and nowhere else: two such runs differ, a resume reads the
# secret back, and a resume whose secret is gone is refused.
own=("${cfg[@]}" --set privacy.noise_key_file=)
"$BIN" train "${own[@]}" --set "run.out_dir=$WORK/own1" --stop-after 10 >/dev/null 2>&1 || fail "own-key run failed"
"$BIN" train "${own[@]}" --set "run.out_dir=$WORK/own2" --stop-after 10 >/dev/null 2>&1 || fail "own-key run failed"
[ "$(stat -c %a "$WORK/own1/privacy_noise.key")" = 600 ] || fail "the run's noise key is not owner-only"
! cmp -s "$WORK/own1/checkpoints/step_10/model.safetensors" "$WORK/own2/checkpoints/step_10/model.safetensors" ||
  fail "two runs with their own secrets drew the same noise"
secret=$(head -c 64 "$WORK/own1/privacy_noise.key")
! grep -rq "$secret" "$WORK/own1/checkpoints" "$WORK/own1/metrics.jsonl" "$WORK/own1/config.resolved.yaml" ||
  fail "the noise secret leaked into the run's outputs"
cp -r "$WORK/own1" "$WORK/own1b"
"$BIN" train "${own[@]}" --set "run.out_dir=$WORK/own1" --resume auto >/dev/null 2>&1 || fail "own-key resume failed"
rm "$WORK/own1b/privacy_noise.key"
expect_error "privacy_noise.key: missing" "$BIN" train "${own[@]}" --set "run.out_dir=$WORK/own1b" --resume auto
echo "ok: a run's own noise secret is fresh, owner-only, kept out of its outputs, and needed to resume"

# A resume under another plan (train.steps changes the calibrated noise) is refused.
expect_error "privacy: the resumed run's plan differs" "$BIN" train "${cfg[@]}" \
  --set "run.out_dir=$WORK/r" --set train.steps=40 --resume auto
expect_error "the run being resumed trained with DP-SGD" "$BIN" train "${cfg[@]}" \
  --set "run.out_dir=$WORK/r" --set train.steps=40 --set privacy.enabled=false --resume auto

# Fine-tuning from a checkpoint trained on this corpus's users without privacy is refused
# (nothing bounds what it carries in) unless the user says its users were others'; from a
# private one, its spend composes with the fine-tune's under the fine-tune's target.
"$BIN" train "${cfg[@]}" --set privacy.enabled=false --set train.steps=5 --set checkpoint.every=5 \
  --set "run.out_dir=$WORK/public" >/dev/null 2>&1 || fail "non-private run failed"
ft=(--set task.kind=next_item --set train.steps=5 --set checkpoint.every=5)
expect_error "privacy.enabled but task.init_from" "$BIN" train "${cfg[@]}" "${ft[@]}" \
  --set "task.init_from=$WORK/public/checkpoints/step_5" --set "run.out_dir=$WORK/ft1"
"$BIN" train "${cfg[@]}" "${ft[@]}" --set "task.init_from=$WORK/public/checkpoints/step_5" \
  --set privacy.init_from_public=true --set "run.out_dir=$WORK/ft2" >/dev/null 2>&1 ||
  fail "fine-tuning from a declared public checkpoint failed"
expect_error "is already spent by the earlier private training of these users" "$BIN" train \
  "${cfg[@]}" "${ft[@]}" --set "task.init_from=$WORK/a/checkpoints/step_20" \
  --set privacy.target_epsilon=5 --set "run.out_dir=$WORK/ft3"
[ ! -e "$WORK/ft3/checkpoints" ] || fail "a refused composed run left checkpoints"
"$BIN" train "${cfg[@]}" "${ft[@]}" --set "task.init_from=$WORK/a/checkpoints/step_20" \
  --set privacy.target_epsilon=12 --set "run.out_dir=$WORK/ft4" 2>"$WORK/ft4.err" >/dev/null ||
  { cat "$WORK/ft4.err"; fail "a private fine-tune of a private checkpoint failed"; }
grep -q "composed with 1 earlier private run(s) on these users (20 steps" "$WORK/ft4.err" ||
  { cat "$WORK/ft4.err"; fail "the composition was not said"; }
python3 - "$WORK/a/checkpoints/step_20/manifest.json" "$WORK/ft4/checkpoints/step_5/manifest.json" <<'PY' || fail "composed accounting"
import json, sys
def spend(path):
    m = json.load(open(path))
    return m.get("state", m)["privacy"] if "privacy" not in m else m["privacy"]
pre, ft = spend(sys.argv[1]), spend(sys.argv[2])
assert pre["earlier_phases"] == [], pre
phase = ft["earlier_phases"]
assert len(phase) == 1 and phase[0]["steps"] == 20, phase
assert phase[0]["noise_multiplier"] == pre["noise_multiplier"], (phase, pre)
assert phase[0]["sampling_rate"] == pre["sampling_rate"], (phase, pre)
# Both runs together: above what the pretraining spent, within the fine-tune's target.
assert pre["epsilon"] < ft["epsilon"] <= 12, (pre["epsilon"], ft["epsilon"])
print(f"ok: pretraining epsilon {pre['epsilon']:.3f}, with the fine-tune {ft['epsilon']:.3f} <= 12")
PY
# The composed run resumes with its earlier phases (the same noise): the same bits.
"$BIN" train "${cfg[@]}" "${ft[@]}" --set "task.init_from=$WORK/a/checkpoints/step_20" \
  --set privacy.target_epsilon=12 --set checkpoint.every=2 --set "run.out_dir=$WORK/ft5" \
  --stop-after 2 >/dev/null 2>&1 || fail "composed run to step 2 failed"
"$BIN" train "${cfg[@]}" "${ft[@]}" --set "task.init_from=$WORK/a/checkpoints/step_20" \
  --set privacy.target_epsilon=12 --set checkpoint.every=2 --set "run.out_dir=$WORK/ft5" \
  --resume auto >/dev/null 2>&1 || fail "resuming the composed run failed"
cmp "$WORK/ft4/checkpoints/step_5/model.safetensors" "$WORK/ft5/checkpoints/step_5/model.safetensors" ||
  fail "a resumed composed run differs from the uninterrupted one"
"$BIN" report --corpus "$WORK/corpus.h5" --checkpoint "$WORK/ft4/checkpoints/step_5" \
  --out-dir "$WORK/report_ft4" --quiet >/dev/null 2>&1 || fail "report of the composed checkpoint failed"
grep -q "composed with 1 earlier private run(s) on the same users (20 steps)" "$WORK/report_ft4/report.html" ||
  fail "the report does not say the spend is composed"
echo "ok: task.init_from follows privacy.init_from_public; a private start composes"

if command -v mpirun >/dev/null; then
  "${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/two" >/dev/null 2>"$WORK/two.err" ||
    { cat "$WORK/two.err"; fail "2-rank private run failed"; }
  same_losses "$WORK/two/metrics.jsonl" "$WORK/a/metrics.jsonl" 1e-5 || fail "2 ranks differ from 1 rank"
  "$BIN" inspect "$WORK/two/checkpoints/step_20" --compare "$WORK/a/checkpoints/step_20" \
    --tolerance 1e-5 >/dev/null || fail "2-rank private weights differ from 1 rank's"
  # The composed fine-tune on 2 ranks: every rank accounts the earlier phase (the same noise).
  "${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" "${ft[@]}" --set "task.init_from=$WORK/a/checkpoints/step_20" \
    --set privacy.target_epsilon=12 --set "run.out_dir=$WORK/ft4two" >/dev/null 2>"$WORK/ft4two.err" ||
    { cat "$WORK/ft4two.err"; fail "2-rank composed fine-tune failed"; }
  "$BIN" inspect "$WORK/ft4two/checkpoints/step_5" --compare "$WORK/ft4/checkpoints/step_5" \
    --tolerance 1e-5 >/dev/null || fail "2-rank composed fine-tune differs from 1 rank's"
  expect_error "privacy.enabled does not shard the optimizer state" "${MPIRUN[@]}" -np 2 "$BIN" train \
    "${cfg[@]}" --set comm.zero1=true --set "run.out_dir=$WORK/z"
  echo "ok: 2 ranks follow 1 rank"
fi
