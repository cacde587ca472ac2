#!/usr/bin/env bash
# N steps straight == k steps + resume + N-k steps, bit for bit (weights and optimizer state).
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus
cfg=(--config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5" "${TINY[@]}"
     --set train.steps=20 --set checkpoint.every=100 --set model.dropout=0.2
     --set loss.kind=full_softmax --quiet)

"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/straight" >/dev/null
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/resumed" --stop-after 8 >/dev/null
[ -d "$WORK/resumed/checkpoints/step_8" ] || fail "no checkpoint at the stop step"
[ ! -d "$WORK/resumed/checkpoints/step_20" ] || fail "stopped run went past its stop step"
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/resumed" --resume auto >/dev/null

for f in model.safetensors optimizer.safetensors; do
  a=$(sha256sum < "$WORK/straight/checkpoints/step_20/$f")
  b=$(sha256sum < "$WORK/resumed/checkpoints/step_20/$f")
  [ "$a" = "$b" ] || fail "$f differs between the straight and the resumed run"
done
# The same holds with a sampled softmax (shared negatives are a pure function of seed and step;
# in-batch ones of the step's rows), popularity negatives and the logQ correction.
cfg+=(--set loss.kind=sampled_softmax --set loss.negatives=16 --set loss.sampler=popularity
      --set loss.in_batch_negatives=8)
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/s_straight" >/dev/null
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/s_resumed" --stop-after 13 >/dev/null
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/s_resumed" --resume auto >/dev/null
cmp "$WORK/s_straight/checkpoints/step_20/model.safetensors" \
    "$WORK/s_resumed/checkpoints/step_20/model.safetensors" || fail "sampled-softmax resume differs"

# And with the co-occurrence prior judged on a validation ranking every 3 steps: the prior's
# weight and the early-stopping state (best, and the network-alone "still learning" best) in the
# final manifest are the uninterrupted run's. The stop falls between two validations.
cfg+=(--set model.cooccurrence_prior=true --set validation.every=3 --set validation.users=40
      --set validation.patience=50 --set checkpoint.keep_best=true)
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/p_straight" >/dev/null
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/p_resumed" --stop-after 10 >/dev/null
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/p_resumed" --resume auto >/dev/null
cmp "$WORK/p_straight/checkpoints/step_20/model.safetensors" \
    "$WORK/p_resumed/checkpoints/step_20/model.safetensors" || fail "resume with the prior differs"
manifest_state() {
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))
print(json.dumps([m["early_stopping"], m["cooccurrence_prior_weight"]], sort_keys=True))' "$1"
}
a=$(manifest_state "$WORK/p_straight/checkpoints/step_20/manifest.json")
b=$(manifest_state "$WORK/p_resumed/checkpoints/step_20/manifest.json")
[ "$a" = "$b" ] || fail "early stopping / prior state differs after resume: $a vs $b"
case "$a" in *'"best_learning_step": -1'*) fail "no network-alone metric was recorded: $a" ;; esac

# A fresh run refuses to write into a run directory that already has checkpoints.
expect_error "already has checkpoints" "$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/straight"
echo "resume is bit-exact"
