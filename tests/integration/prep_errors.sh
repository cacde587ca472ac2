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

# ---- missing key, bad config -----------------------------------------------------------------
expect_error "no user-hash key" 'no user-hash key' out.h5 -- \
  env -u CARTFORMER_USER_KEY "$BIN" prep --format taobao --input good.csv --out out.h5
printf 'format: taobao\nmin_seq_length: 3\n' >bad.yaml
expect_error "config with an unknown key" "bad\.yaml: unknown key 'min_seq_length'" out.h5 -- \
  "$BIN" prep --config bad.yaml --input good.csv --out out.h5
expect_error "missing input file" 'nowhere\.csv' out.h5 -- \
  "$BIN" prep --format taobao --input nowhere.csv --out out.h5

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
