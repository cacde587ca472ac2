#!/usr/bin/env bash
# Bad inputs around training and checkpoints: each one clear error line naming the file, a
# non-zero exit, and nothing half-written.
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus
cfg=(--config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5" "${TINY[@]}"
     --set train.steps=10 --set checkpoint.every=5 --quiet)

# Config with an unknown key (in the file, and through --set).
sed 's/^  steps:/  stpes:/' "$SRC/configs/demo/pretrain.yaml" > "$WORK/typo.yaml"
expect_error "typo.yaml: unknown key 'train.stpes'" "$BIN" train --config "$WORK/typo.yaml"
expect_error "unknown key" "$BIN" train "${cfg[@]}" --set train.bogus=1
expect_error "expects" "$BIN" train "${cfg[@]}" --set train.lr=fast

"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/run" >/dev/null

# Checkpoint with one flipped byte: loading names the file; resume auto skips it with a warning.
ck="$WORK/run/checkpoints/step_10/model.safetensors"
python3 - "$ck" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x01; open(p, "wb").write(b)
PY
expect_error "model.safetensors" "$BIN" eval --checkpoint "$WORK/run/checkpoints/step_10" \
  --corpus "$WORK/corpus.h5" --out-dir "$WORK/e"
[ ! -e "$WORK/e/eval.json" ] || fail "eval wrote output for a corrupt checkpoint"
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/run" --set train.steps=12 --resume auto \
  >/dev/null 2>"$WORK/resume.err"
grep -q "step_10" "$WORK/resume.err" || { cat "$WORK/resume.err"; fail "no warning about the corrupt checkpoint"; }
grep -q "resumed from .*step_5" "$WORK/resume.err" || { cat "$WORK/resume.err"; fail "did not fall back to step_5"; }

# Vocabulary mismatch: a corpus with another catalogue.
"$BIN" synth --out "$WORK/logs2" --users 200 --items 90 --seed 3 >/dev/null
"$BIN" prep --format trio --input "$WORK/logs2" --out "$WORK/other.h5" --key-file "$WORK/key" >/dev/null
expect_error "vocabulary differs" "$BIN" eval --checkpoint "$WORK/run/checkpoints/step_12" \
  --corpus "$WORK/other.h5" --out-dir "$WORK/e2"
expect_error "vocabulary differs" "$BIN" train "${cfg[@]}" --set "data.corpus=$WORK/other.h5" \
  --set "run.out_dir=$WORK/ft" --set task.kind=next_item --set "task.init_from=$WORK/run/checkpoints/step_12"

# An unknown block, and fine-tuning a checkpoint under another block than it was trained with.
expect_error "key 'model.block' expects one of gpt, ligr, hstu, got 'bert'" "$BIN" train "${cfg[@]}" \
  --set model.block=bert
expect_error "model.block is ligr but task.init_from" "$BIN" train "${cfg[@]}" \
  --set "run.out_dir=$WORK/ft_block" --set task.kind=next_item --set model.block=ligr \
  --set "task.init_from=$WORK/run/checkpoints/step_12"

# Truncated corpus given to train.
head -c 5000 "$WORK/corpus.h5" > "$WORK/truncated.h5"
# An unknown loss, and more shared negatives than the corpus has items (named with the corpus).
expect_error "key 'loss.kind' expects one of full_softmax, sampled_softmax, gbce, got 'bpr'" \
  "$BIN" train "${cfg[@]}" --set loss.kind=bpr
expect_error "key 'loss.negatives' is 1000000, more than the" "$BIN" train "${cfg[@]}" \
  --set "run.out_dir=$WORK/k_too_big" --set loss.kind=sampled_softmax --set loss.negatives=1000000
[ ! -d "$WORK/k_too_big/checkpoints" ] || fail "K > catalogue left checkpoints behind"
expect_error "truncated.h5" "$BIN" train "${cfg[@]}" --set "data.corpus=$WORK/truncated.h5" \
  --set "run.out_dir=$WORK/t"
[ ! -d "$WORK/t/checkpoints" ] || [ -z "$(ls "$WORK/t/checkpoints")" ] || fail "checkpoint written for a bad corpus"

# --device cuda on a build without the CUDA backend.
expect_error "cuda" "$BIN" train "${cfg[@]}" --set run.device=cuda --set "run.out_dir=$WORK/c"
echo "bad inputs ok"
