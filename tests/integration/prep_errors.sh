#!/usr/bin/env bash
# Bad inputs to `cartformer prep` and `cartformer inspect`, and a `cartformer synth --out` onto
# the user's own raw logs: each must exit non-zero with exactly one error line naming the file or
# folder, and leave no output (nor damage an existing corpus or log).
# Uses $CARTFORMER_BIN and $CARTFORMER_FIXTURES; only the trio-fixture parts are skipped when
# that fixture is absent.
set -u

BIN=${CARTFORMER_BIN:?set CARTFORMER_BIN to the cartformer binary}
FIXTURES=${CARTFORMER_FIXTURES:-}
source "$(dirname "$0")/support/scratch_dir.bash"
cd "$WORK"
export CARTFORMER_USER_KEY="integration-test-key-0123456789"
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect_error NAME PATTERN OUTPUT -- COMMAND...: the command must exit non-zero, print exactly
# one stderr line matching PATTERN (extended regex), and OUTPUT (if not "-") must not exist.
expect_error() {
  local name=$1 pattern=$2 output=$3
  shift 4
  "$@" >"$WORK/stdout" 2>"$WORK/stderr"
  local rc=$?
  if [ "$rc" -eq 0 ]; then fail "$name: exit status 0"; fi
  local lines
  lines=$(wc -l <"$WORK/stderr")
  if [ "$lines" -ne 1 ]; then fail "$name: expected one error line, got $lines:"; cat "$WORK/stderr" >&2; fi
  if ! grep -Eq -- "$pattern" "$WORK/stderr"; then
    fail "$name: error does not match /$pattern/:"
    cat "$WORK/stderr" >&2
  fi
  if [ "$output" != "-" ] && [ -e "$output" ]; then fail "$name: output $output was left behind"; fi
  if ls "$WORK" | grep -q '\.tmp\.'; then fail "$name: temporary file left behind"; fi
  echo "ok: $name"
}

# A small valid Taobao log (no header): 3 users x 4 events.
good_log() {
  for u in 1 2 3; do
    for e in 0 1 2 3; do echo "$u,$((100 + (u + e) % 5)),7,pv,$((1511540000 + u * 100 + e))"; done
  done
}

# ---- malformed rows beyond the limit --------------------------------------------------------
{ good_log; for i in 1 2 3; do echo "9,100,7,pv,not-a-time"; echo "9,100,7"; done; } >malformed.csv
expect_error "malformed rows beyond the limit" \
  '^cartformer prep: error: malformed\.csv: [0-9.]+% of rows rejected \(limit 1%\): .*bad_timestamp 3' \
  out.h5 -- "$BIN" prep --format taobao --input malformed.csv --out out.h5

# ---- unknown behaviour type: rejected rows, beyond the limit ---------------------------------
{ good_log; echo "4,100,7,teleport,1511540001"; echo "4,101,7,levitate,1511540002"; } >behaviour.csv
expect_error "unknown behaviour type" \
  '^cartformer prep: error: behaviour\.csv: .*rows rejected.*unknown_action 2' \
  out.h5 -- "$BIN" prep --format taobao --input behaviour.csv --out out.h5

# ---- empty input -----------------------------------------------------------------------------
: >empty.csv
expect_error "empty input" '^cartformer prep: error: empty\.csv: no usable events$' out.h5 -- \
  "$BIN" prep --format taobao --input empty.csv --out out.h5

# ---- a failed prep never replaces an existing corpus -----------------------------------------
good_log >good.csv
if "$BIN" prep --format taobao --input good.csv --out keep.h5 >/dev/null 2>"$WORK/stderr"; then
  before=$(sha256sum keep.h5)
  expect_error "failed prep keeps the existing corpus" 'malformed\.csv: .*rows rejected' - -- \
    "$BIN" prep --format taobao --input malformed.csv --out keep.h5
  [ "$(sha256sum keep.h5)" = "$before" ] || fail "existing corpus keep.h5 was modified"
else
  fail "prep of a valid log failed: $(cat "$WORK/stderr")"
fi

# ---- an item-attributes file of another data set ---------------------------------------------
# The log's items are 1..4; the attributes file lists none of them: most likely the file of
# another data set, whose items would get wrong features or none.
for u in 1 2 3; do echo "$u 1 2 3 4"; done >histories.txt
printf '{"900": [5, 6], "901": [7]}\n' >other_attributes.json
expect_error "attributes file of another data set" \
  '^cartformer prep: error: other_attributes\.json: only 0 of 4 items of histories\.txt appear in it \(is it the attributes file of this data set\?\)$' \
  attrs.h5 -- "$BIN" prep --format user_items --input histories.txt \
  --item-attributes other_attributes.json --out attrs.h5
printf '{"1": [5, 6], "2": [7], "3": []}\n' >own_attributes.json
"$BIN" prep --format user_items --input histories.txt --item-attributes own_attributes.json \
  --out attrs.h5 >attrs.txt 2>&1 || fail "prep with a matching attributes file failed: $(cat attrs.txt)"
grep -q '^item features  3 feature tokens on 2 of 4 items$' attrs.txt ||
  fail "prep does not report the item features: $(cat attrs.txt)"
"$BIN" inspect attrs.h5 >attrs_inspect.txt 2>&1 || fail "inspect of attrs.h5 failed"
grep -q '^item features   3 feature tokens (vocab 4 incl. padding 0) on 2 of 4 items, 3 item-feature pairs$' \
  attrs_inspect.txt || fail "inspect does not show the item features: $(cat attrs_inspect.txt)"
echo "ok: a matching attributes file gives item features"

# ---- missing key, bad config -----------------------------------------------------------------
expect_error "no user-hash key" 'no user-hash key' out.h5 -- \
  env -u CARTFORMER_USER_KEY "$BIN" prep --format taobao --input good.csv --out out.h5
printf 'format: taobao\nmin_seq_length: 3\n' >bad.yaml
expect_error "config with an unknown key" "bad\.yaml: unknown key 'min_seq_length'" out.h5 -- \
  "$BIN" prep --config bad.yaml --input good.csv --out out.h5
expect_error "missing input file" 'nowhere\.csv' out.h5 -- \
  "$BIN" prep --format taobao --input nowhere.csv --out out.h5

# ---- a line break in a file name cannot split the error line ---------------------------------
expect_error "input path with a line break" '^cartformer prep: error: no\\nwhere\.csv: no such file$' \
  out.h5 -- "$BIN" prep --format taobao --input $'no\nwhere.csv' --out out.h5

# ---- rejected rows are named by file, line and reason, never by their contents ---------------
# A trio log with a personal column and one row of an unknown behaviour (line 11): neither its
# user id nor any personal value may reach what prep prints or writes.
mkdir -p personal
printf 'item_id,category,price\n100,c1,1.5\n101,c2,2.5\n' >personal/item_data.csv
printf 'activity_id,type\n' >personal/activity_data.csv
{
  echo "user_id,item_id,activity_id,behavior,timestamp,purchase,email"
  for u in 1 2 3; do
    for e in 0 1 2; do echo "u$u,$((100 + e % 2)),,view,$((1511540000 + e)),0,u$u@example.com"; done
  done
  echo "secret-user-4711,100,,teleport,1511540009,0,alice@example.com"
} >personal/behavior_data.csv
if "$BIN" prep --format trio --input personal --out personal.h5 --personal-columns email \
  --max-reject-fraction 1 >personal.txt 2>&1; then
  grep -q '^  e\.g\. personal/behavior_data\.csv:11 unknown_action$' personal.txt ||
    fail "personal log: the reject example is not 'file:line reason': $(grep 'e\.g\.' personal.txt)"
  "$BIN" inspect personal.h5 >>personal.txt 2>&1 || fail "inspect of personal.h5 failed"
  if grep -a -q -e 'secret-user-4711' -e '@example\.com' personal.txt personal.h5; then
    fail "a raw user id or personal value reached prep's output or the corpus"
  fi
  echo "ok: rejected personal row named by file, line and reason only"
else
  fail "prep of the personal log failed: $(cat personal.txt)"
fi
expect_error "personal row beyond the reject limit" \
  'personal: [0-9.]+% of rows rejected .*first: personal/behavior_data\.csv:11 unknown_action\)?$' \
  personal2.h5 -- "$BIN" prep --format trio --input personal --out personal2.h5 --personal-columns email
if grep -q -e 'secret-user-4711' -e '@example\.com' "$WORK/stdout" "$WORK/stderr"; then
  fail "a raw user id or personal value reached the error output"
fi
echo "ok: no personal value in the error output"

# ---- ids the corpus cannot store and absurd times: rejects naming file and line --------------
# Lines 13-16 (after good_log's 12): an item id in Latin-1 (not UTF-8), a 10 MB item id, and the
# int64 extremes as times; user 5 then has clean events, so the corpus keeps two users.
long_id=$(head -c 10000000 /dev/zero | tr '\0' x)
{
  good_log
  printf '4,caf\xe9,7,pv,1511540001\n'
  printf '4,%s,7,pv,1511540002\n' "$long_id"
  echo "4,100,7,pv,-9223372036854775808"
  echo "4,101,7,pv,9223372036854775807"
  for e in 0 1 2; do echo "5,10$e,7,pv,$((1511540000 + e))"; done
} >hostile.csv
if "$BIN" prep --format taobao --input hostile.csv --out hostile.h5 --max-reject-fraction 1 \
  >hostile.txt 2>&1; then
  for expected in 'timestamp_out_of_range 2' 'item_not_utf8 1' 'item_too_long 1'; do
    grep -q "^rows rejected .*$expected" hostile.txt || fail "hostile log: no '$expected' reject"
  done
  for example in 13:item_not_utf8 14:item_too_long 15:timestamp_out_of_range \
    16:timestamp_out_of_range; do
    grep -q "^  e\.g\. hostile\.csv:${example%%:*} ${example#*:}$" hostile.txt ||
      fail "hostile log: no reject example hostile.csv:${example%%:*} ${example#*:}"
  done
  [ "$(wc -c <hostile.txt)" -lt 10000 ] || fail "prep echoed the 10 MB id"
  echo "ok: unstorable ids and absurd times are rejects naming file and line"
  if python3 -c 'import h5py' 2>/dev/null; then
    python3 - hostile.h5 <<'PY' || fail "h5py cannot decode every string of hostile.h5"
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    def decode(name, obj):
        if isinstance(obj, h5py.Dataset) and h5py.check_string_dtype(obj.dtype):
            obj.asstr()[:]
    f.visititems(decode)
    dict(f.attrs)
    items = list(f["vocab/item_raw"].asstr()[:])
    assert sorted(items) == ["100", "101", "102", "103", "104", "<pad>"], items
print("ok: h5py decodes every string of the corpus")
PY
  else
    echo "skip: h5py not installed (pip install h5py): the corpus is checked through cartformer only"
  fi
  # generate --format jsonl, ranking every item of the vocabulary.
  "$BIN" train --config "${CARTFORMER_SOURCE:?set by ctest}/configs/demo/pretrain.yaml" --quiet \
    --set "data.corpus=$WORK/hostile.h5" --set "run.out_dir=$WORK/hostile_run" \
    --set model.d_model=16 --set model.n_head=2 --set model.d_ff=32 --set model.max_len=20 \
    --set train.micro_batch=8 --set train.eval_every=0 --set train.eval_batches=2 \
    --set train.warmup_steps=1 --set train.steps=2 >/dev/null 2>&1 ||
    fail "training on hostile.h5 failed"
  if "$BIN" generate --checkpoint hostile_run --corpus hostile.h5 --all-users --k 5 \
    --format jsonl --out recs.jsonl >/dev/null 2>"$WORK/stderr"; then
    python3 -c 'import json, sys; [json.loads(line) for line in open(sys.argv[1])]' recs.jsonl ||
      fail "generate --format jsonl wrote lines that are not JSON"
    echo "ok: generate --format jsonl on the corpus"
  else
    fail "generate --format jsonl on hostile.h5 failed: $(cat "$WORK/stderr")"
  fi
else
  fail "prep of the hostile log failed: $(head -c 2000 hostile.txt)"
fi

# ---- a full disk: one error line naming the output, nothing left behind ----------------------
mkdir -p full
if mount -t tmpfs -o size=64k tmpfs full 2>/dev/null; then
  on_exit "! mountpoint -q '$WORK/full' || umount '$WORK/full'"
  "$BIN" synth --out bulky --users 2000 --items 500 --seed 2 >/dev/null
  expect_error "full disk" \
    '^cartformer prep: error: full/out\.h5: cannot (write|close|flush|create).*\(No space left on device\)$' \
    - -- "$BIN" prep --format trio --input bulky --out full/out.h5
  [ -z "$(ls -A full)" ] || fail "full disk: left behind: $(ls -A full)"
  umount full
else
  echo "skip: cannot mount a tmpfs here (needs root): the full-disk case is not run"
fi

# ---- truncated or foreign HDF5 given to inspect ----------------------------------------------
if [ -f keep.h5 ]; then
  size=$(stat -c %s keep.h5)
  head -c $((size / 2)) keep.h5 >truncated.h5
  expect_error "truncated HDF5 to inspect" \
    '^cartformer inspect: error: truncated\.h5: truncated or corrupt HDF5 file' - -- \
    "$BIN" inspect truncated.h5
  "$BIN" inspect keep.h5 >/dev/null || fail "inspect of a good corpus failed"
fi
cp good.csv foreign.h5
expect_error "foreign file to inspect" \
  '^cartformer inspect: error: foreign\.h5: not a Cartformer corpus' - -- "$BIN" inspect foreign.h5

# ---- inspect on directories: only a verified checkpoint's manifest is printed ----------------
mkdir -p not_a_checkpoint ckpt
expect_error "directory without manifest.json" \
  '^cartformer inspect: error: not_a_checkpoint: not a checkpoint directory' - -- \
  "$BIN" inspect not_a_checkpoint
# A manifest without its checksum is not shown as if it described a valid checkpoint.
echo '{"step": 12, "files": {}}' >ckpt/manifest.json
expect_error "manifest without its checksum" \
  '^cartformer inspect: error: ckpt/manifest\.json: malformed manifest \(no manifest_sha256\)$' - -- \
  "$BIN" inspect ckpt
expect_error "missing path to inspect" '^cartformer inspect: error: nowhere\.h5: cannot open' - -- \
  "$BIN" inspect nowhere.h5

# ---- synth never overwrites raw logs it did not write (defect 9) ------------------------------
# A folder of the user's own trio CSVs has the file names synth writes but not synth's marker.
mkdir -p real_logs
printf 'user_id,item_id,activity_id,behavior,timestamp,purchase\nu7,3301,,view,1700000000,0\nu7,3301,spring,buy,1700000200,1\n' \
  >real_logs/behavior_data.csv
printf 'item_id,category,price\n3301,shoes,59.90\n' >real_logs/item_data.csv
printf 'activity_id,type,discount\nspring,coupon,0.15\n' >real_logs/activity_data.csv
cp -a real_logs real_logs.reference
expect_error "synth onto a folder of real trio logs" \
  '^cartformer synth: error: real_logs: .*marker' - -- "$BIN" synth --out real_logs --users 20 --seed 1
diff -r real_logs.reference real_logs >/dev/null || fail "synth changed the user's files in real_logs"
# Its own earlier output is replaced on a re-run.
if "$BIN" synth --out synth_logs --users 20 --seed 1 >/dev/null 2>"$WORK/stderr" &&
   "$BIN" synth --out synth_logs --users 30 --seed 2 >/dev/null 2>"$WORK/stderr"; then
  grep -q '"seed": 2' synth_logs/ground_truth.json || fail "synth did not replace its own output"
else
  fail "synth onto its own earlier output failed: $(cat "$WORK/stderr")"
fi

# ---- the trio fixture: its deliberately broken rows exceed the default limit -----------------
if [ -n "$FIXTURES" ] && [ -f "$FIXTURES/trio/behavior_data.csv" ]; then
  expect_error "trio fixture rejects beyond the limit" \
    "^cartformer prep: error: $FIXTURES/trio: [0-9.]+% of rows rejected \(limit 1%\)" trio.h5 -- \
    "$BIN" prep --format trio --input "$FIXTURES/trio" --out trio.h5
  "$BIN" prep --format trio --input "$FIXTURES/trio" --out trio.h5 --max-reject-fraction 1 \
    --min-sequence-length 1 >/dev/null 2>&1 || fail "trio fixture with a lenient limit failed"
else
  echo "skip: no trio fixture under '${FIXTURES}' (trio parts not run)"
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all prep/inspect error checks passed"
