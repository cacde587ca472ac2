#!/usr/bin/env bash
# Training and checkpoint tools under hostile inputs: each ends with one error line naming the
# file or key, and leaves nothing behind that a later run or tool would mistake for valid —
# configs that cannot fit in memory, a diverging run, corrupt or missing checkpoints, resumes
# after a crash, flags out of range.
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus
cfg=(--config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5" "${TINY[@]}"
     --set train.log_every=1 --quiet)

# 1. Configs whose memory cannot exist are refused before allocating, naming the key.
for bad in train.micro_batch=100000000 model.d_model=1000000 model.max_len=2000000000 \
           model.d_ff=2000000000; do
  key=${bad%%=*}
  expect_error "this run needs about .* of memory .*$key" \
    "$BIN" train "${cfg[@]}" --set "$bad" --set "run.out_dir=$WORK/huge"
  [ ! -e "$WORK/huge" ] || fail "$bad: the refused run left $WORK/huge"
done
# Layers beyond any model this trainer can hold are out of the key's range.
expect_error "model.n_layer" "$BIN" train "${cfg[@]}" --set model.n_layer=2000000000 \
  --set "run.out_dir=$WORK/huge"

# 2. A diverging run stops at the first non-finite loss, naming the step; it wrote no checkpoint
#    of NaN weights and, having none, leaves no run folder (nor an empty checkpoints/).
expect_error "training diverged at step 2: loss nan" \
  "$BIN" train "${cfg[@]}" --set train.lr=1e30 --set train.steps=20 --set "run.out_dir=$WORK/nan"
[ ! -e "$WORK/nan" ] || { ls -R "$WORK/nan"; fail "the diverged run left files behind"; }
# With a checkpoint before it, that checkpoint stays and metrics.jsonl ends at its step.
expect_error "training diverged at step 2" \
  "$BIN" train "${cfg[@]}" --set train.lr=1e30 --set train.steps=20 --set checkpoint.every=1 \
  --set "run.out_dir=$WORK/nan1"
[ "$(ls "$WORK/nan1/checkpoints")" = step_1 ] || fail "expected only step_1 after divergence"
"$BIN" inspect "$WORK/nan1/checkpoints/step_1" >/dev/null || fail "step_1 not valid"
[ "$(grep -o '"step":[0-9]*' "$WORK/nan1/metrics.jsonl" | cut -d: -f2 | tr '\n' ' ')" = "1 " ] ||
  fail "metrics.jsonl holds steps past the last checkpoint: $(cat "$WORK/nan1/metrics.jsonl")"
echo "ok: divergence stops the run; nothing non-finite is kept"

# 3. A crash after step 25 was logged but before its checkpoint (simulated by deleting it):
#    the resumed run logs steps 21..30 once each, never twice.
steps=(--set checkpoint.every=10 --set checkpoint.keep_last=5)
"$BIN" train "${cfg[@]}" "${steps[@]}" --set train.steps=25 --set "run.out_dir=$WORK/crash" >/dev/null
rm -rf "$WORK/crash/checkpoints/step_25"
"$BIN" train "${cfg[@]}" "${steps[@]}" --set train.steps=30 --set "run.out_dir=$WORK/crash" \
  --resume auto >/dev/null 2>&1 || fail "resume after the crash failed"
logged=$(grep -o '"step":[0-9]*' "$WORK/crash/metrics.jsonl" | cut -d: -f2 | tr '\n' ' ')
[ "$logged" = "$(seq -s ' ' 1 30) " ] || fail "metrics.jsonl after resume: $logged"
echo "ok: resume drops the metrics rows no checkpoint kept (steps logged once each)"

# 4. Every checkpoint corrupt: --resume auto stops (never starts over by itself);
#    --resume fresh starts over with the old checkpoints moved aside, not deleted.
printf 'x' | dd of="$WORK/crash/checkpoints/step_20/model.safetensors" bs=1 seek=200 conv=notrunc 2>/dev/null
printf 'x' | dd of="$WORK/crash/checkpoints/step_30/model.safetensors" bs=1 seek=200 conv=notrunc 2>/dev/null
rm -rf "$WORK/crash/checkpoints/step_10"
expect_error "none of its 2 checkpoints is valid.*--resume fresh" \
  "$BIN" train "${cfg[@]}" "${steps[@]}" --set train.steps=30 --set "run.out_dir=$WORK/crash" --resume auto
"$BIN" train "${cfg[@]}" "${steps[@]}" --set train.steps=10 --set "run.out_dir=$WORK/crash" \
  --resume fresh >/dev/null 2>&1 || fail "--resume fresh failed"
[ -d "$WORK/crash/checkpoints.replaced_1/step_30" ] || fail "old checkpoints not kept aside"
"$BIN" inspect "$WORK/crash/checkpoints/step_10" >/dev/null || fail "fresh run wrote no step_10"
echo "ok: all-corrupt checkpoints stop --resume auto; --resume fresh keeps them aside"

# 5. inspect verifies a checkpoint as eval does: a flipped byte or an edited manifest is an error.
"$BIN" train "${cfg[@]}" --set train.steps=5 --set "run.out_dir=$WORK/good" >/dev/null
ck=$WORK/good/checkpoints/step_5
cp -r "$ck" "$WORK/flipped"
printf 'x' | dd of="$WORK/flipped/model.safetensors" bs=1 seek=300 conv=notrunc 2>/dev/null
expect_error "flipped/model.safetensors: checksum mismatch" "$BIN" inspect "$WORK/flipped"
cp -r "$ck" "$WORK/edited"
sed -i 's/"step": 5,/"step": 50,/' "$WORK/edited/manifest.json"
grep -q '"step": 50,' "$WORK/edited/manifest.json" || fail "test setup: manifest not edited"
expect_error "edited/manifest.json: checksum mismatch" "$BIN" inspect "$WORK/edited"
"$BIN" inspect "$ck" >"$WORK/inspect.txt" || fail "inspect of a good checkpoint failed"
grep -q "^verified:" "$WORK/inspect.txt" || fail "inspect of a good checkpoint: not verified"

# 6. Flags out of range are errors naming the flag.
expect_error "\-\-tolerance must be >= 0" "$BIN" inspect "$ck" --compare "$ck" --tolerance -1
expect_error "\-\-tolerance expects a finite number" "$BIN" inspect "$ck" --compare "$ck" --tolerance nan
expect_error "\-\-top-items must be between 0 and" "$BIN" inspect "$WORK/corpus.h5" --top-items -5
expect_error "\-\-stop-after must be >= 1" \
  "$BIN" train "${cfg[@]}" --set train.steps=5 --set "run.out_dir=$WORK/neg" --stop-after -1
[ ! -e "$WORK/neg" ] || fail "a refused --stop-after left $WORK/neg"
echo "train failures: all checks passed"
