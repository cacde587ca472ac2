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

# A fresh run refuses to write into a run directory that already has checkpoints.
expect_error "already has checkpoints" "$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/straight"
echo "resume is bit-exact"
