#!/usr/bin/env bash
# Item features end to end (issue 12, side information): prep stores them, train uses them on
# the input and output side (resume bit-exact, 2 ranks = 1 rank), eval and generate read the
# checkpoint with its corpus; a corpus without features, or with other features, is one error
# line and no checkpoint or report.
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus  # trio: each item's category becomes its feature token
"$BIN" inspect --path "$WORK/corpus.h5" | grep -q "item features" ||
  fail "inspect does not report the tiny corpus's item features"
cfg=(--config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5" "${TINY[@]}"
     --set model.item_features=both --set train.steps=12 --set checkpoint.every=100
     --set model.dropout=0.2 --set loss.kind=sampled_softmax --set loss.negatives=16 --quiet)

# 1. Train, stop, resume: bit for bit the straight run, and the features were trained.
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/straight" >/dev/null
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/resumed" --stop-after 5 >/dev/null
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/resumed" --resume auto >/dev/null
cmp "$WORK/straight/checkpoints/step_12/model.safetensors" \
    "$WORK/resumed/checkpoints/step_12/model.safetensors" || fail "resume with item features differs"
python3 - "$WORK/straight/checkpoints/step_12" <<'PY' || fail "checkpoint lacks a trained feature table"
import json, struct, sys
d = sys.argv[1]
manifest = json.load(open(d + "/manifest.json"))
assert manifest["vocab_sizes"]["item_features"] > 1, manifest["vocab_sizes"]
raw = open(d + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
begin, end = header["item_feature_emb.weight"]["data_offsets"]
values = struct.unpack(f"<{(end - begin) // 4}f", raw[8 + n + begin:8 + n + end])
rows = header["item_feature_emb.weight"]["shape"]
assert rows[0] == manifest["vocab_sizes"]["item_features"], (rows, manifest["vocab_sizes"])
print(f"ok: item_feature_emb.weight {rows}, max |w| {max(abs(v) for v in values):.4f}")
PY

# 2. Two ranks train the same model as one (the feature table's gradient is all-reduced too).
if command -v mpirun >/dev/null; then
  "$BIN" train "${cfg[@]}" --set train.global_batch=16 --set comm.timeout_s=60 \
    --set "run.out_dir=$WORK/one" >/dev/null
  "${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" --set train.global_batch=16 \
    --set comm.timeout_s=60 --set "run.out_dir=$WORK/two" >/dev/null 2>"$WORK/two.err" ||
    { cat "$WORK/two.err"; fail "2-rank run failed"; }
  same_losses "$WORK/one/metrics.jsonl" "$WORK/two/metrics.jsonl" 1e-5 ||
    fail "2-rank losses differ from 1-rank with item features"
  echo "ok: same losses at 1 and 2 ranks"
else
  echo "SKIP (part): mpirun not found"
fi

# 3. eval and generate take the checkpoint with its corpus.
"$BIN" eval --checkpoint "$WORK/straight" --corpus "$WORK/corpus.h5" --out-dir "$WORK/eval" \
  --quiet >/dev/null 2>&1 || fail "eval of an item-features model failed"
python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['model']; assert m['n'] > 0 and 0 <= m['hr@10'] <= 1" \
  "$WORK/eval/eval.json" || fail "eval.json has no model metrics"
"$BIN" generate --checkpoint "$WORK/straight" --corpus "$WORK/corpus.h5" --all-users --limit 2 \
  --format jsonl --out "$WORK/recs.jsonl" >/dev/null 2>&1 || fail "generate with an item-features model failed"
[ "$(wc -l < "$WORK/recs.jsonl")" -eq 20 ] || fail "generate did not write 2 users x 10 recommendations"
echo "ok: eval and generate"

# 4. The same histories without features (no attributes file): training with features is one
#    line naming the key and leaves no checkpoint; a checkpoint trained with the attributes does
#    not accept the corpus without them.
fixture=$SRC/tests/fixtures/user_items
"$BIN" prep --format user_items --input "$fixture/Beauty.txt" --item-attributes \
  "$fixture/item2attributes.json" --out "$WORK/attrs.h5" --key-file "$WORK/key" \
  --min-sequence-length 1 --max-reject-fraction 0.5 >/dev/null 2>&1 || fail "prep with the attributes file failed"
"$BIN" prep --format user_items --input "$fixture/Beauty.txt" --out "$WORK/plain.h5" \
  --key-file "$WORK/key" --min-sequence-length 1 --max-reject-fraction 0.5 >/dev/null 2>&1 || fail "prep without attributes failed"
small=(--config "$SRC/configs/demo/pretrain.yaml" "${TINY[@]}" --set train.steps=2
       --set checkpoint.every=100 --set loss.kind=full_softmax --set model.item_features=input
       --set validation.users=0 --set validation.holdout=all_users --quiet)
expect_error "model.item_features is 'input' but the corpus has no item features" \
  "$BIN" train "${small[@]}" --set "data.corpus=$WORK/plain.h5" --set "run.out_dir=$WORK/nofeat"
[ ! -d "$WORK/nofeat/checkpoints" ] || ! has_checkpoint_in "$WORK/nofeat/checkpoints" ||
  fail "a refused run left a checkpoint"
"$BIN" train "${small[@]}" --set "data.corpus=$WORK/attrs.h5" --set "run.out_dir=$WORK/attrs" \
  >/dev/null || fail "training on the attributes corpus failed"
expect_error "plain.h5: vocabulary differs from the checkpoint's" \
  "$BIN" eval --checkpoint "$WORK/attrs" --corpus "$WORK/plain.h5" --out-dir "$WORK/bad_eval"
[ ! -e "$WORK/bad_eval/eval.json" ] || fail "a refused eval wrote eval.json"

# 5. Fine-tuning keeps the pretrained model's features: another setting is one line, no run.
expect_error "model.item_features is none but task.init_from .* was trained with model.item_features: both" \
  "$BIN" train --config "$SRC/configs/demo/finetune_next_item.yaml" --set "data.corpus=$WORK/corpus.h5" \
  "${TINY[@]}" --set train.steps=2 --set "task.init_from=$WORK/straight" \
  --set "run.out_dir=$WORK/ft_none" --quiet
[ ! -d "$WORK/ft_none/checkpoints" ] || ! has_checkpoint_in "$WORK/ft_none/checkpoints" ||
  fail "a refused fine-tuning run left a checkpoint"
"$BIN" train --config "$SRC/configs/demo/finetune_next_item.yaml" --set "data.corpus=$WORK/corpus.h5" \
  "${TINY[@]}" --set train.steps=2 --set "task.init_from=$WORK/straight" \
  --set model.item_features=both --set "run.out_dir=$WORK/ft_both" --quiet >/dev/null ||
  fail "fine-tuning with the pretrained model's item features failed"
echo "item features: ok"
