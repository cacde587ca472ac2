# Shared setup for the integration scripts: a scratch dir, the binary, a tiny corpus, asserts.
set -euo pipefail
: "${CARTFORMER_BIN:?set by ctest}" "${CARTFORMER_SOURCE:?set by ctest}"
BIN=$CARTFORMER_BIN
SRC=$CARTFORMER_SOURCE
source "$(dirname "${BASH_SOURCE[0]}")/scratch_dir.bash"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=passive

fail() { echo "FAIL: $*" >&2; exit 1; }

# PACE: how much slower this machine is than the development machine (>= 1), measured by
# make_tiny_corpus on a fixed amount of work. Waits for a job to react scale with it, so a busy or
# throttled machine gets proportionally longer instead of failing on a fixed guess.
PACE=1
scaled_seconds() { echo $(( $1 * PACE )); }

# A small synthetic corpus at $WORK/corpus.h5 (seconds to build).
# Also sets PACE from its duration (about 0.25 s on the 2-core development machine).
make_tiny_corpus() {
  local start=$EPOCHREALTIME
  "$BIN" synth --out "$WORK/logs" --users 300 --items 200 --categories 8 --seed 11 >/dev/null
  head -c 32 /dev/urandom > "$WORK/key"
  "$BIN" prep --format trio --input "$WORK/logs" --out "$WORK/corpus.h5" --key-file "$WORK/key" >/dev/null
  PACE=$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { p = int((e - s) / 0.25 + 0.999); print (p < 1 ? 1 : p) }')
}

# Tiny model settings for fast runs, on top of a demo config.
TINY=(--set model.d_model=16 --set model.n_head=2 --set model.d_ff=32 --set model.max_len=20
      --set train.micro_batch=8 --set train.log_every=5 --set train.eval_every=0
      --set train.eval_batches=2 --set train.warmup_steps=3)

# expect_error "<grep pattern>" cmd...: the command must fail with exactly one "error:" line
# on stderr matching the pattern.
expect_error() {
  local pattern=$1; shift
  local err="$WORK/stderr.txt"
  if "$@" >/dev/null 2>"$err"; then fail "expected failure: $*"; fi
  local n
  n=$(grep -c "error:" "$err" || true)
  [ "$n" -eq 1 ] || { cat "$err" >&2; fail "expected one error line, got $n: $*"; }
  grep -q -- "$pattern" "$err" || { cat "$err" >&2; fail "error does not match '$pattern': $*"; }
  echo "ok: $(grep 'error:' "$err")"
}

# True when checkpoints root $1 holds a complete checkpoint (step_<digits>, not *.tmp*). A glob,
# not `ls | grep -q`: under pipefail that pipeline fails whenever grep exits before ls is done.
has_checkpoint_in() {
  local dir
  for dir in "$1"/step_*; do
    [[ -d $dir && ${dir##*/} =~ ^step_[0-9]+$ ]] && return 0
  done
  return 1
}

# mpirun with what these tests need on any machine: root allowed, more ranks than cores,
# OpenMP threads not pinned to the rank's core, one thread per rank.
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1
        -x OMP_WAIT_POLICY=passive)
require_mpirun() {
  command -v mpirun >/dev/null || { echo "SKIP: mpirun not found (install openmpi-bin)"; exit 0; }
}

# same_losses A/metrics.jsonl B/metrics.jsonl TOL: the logged losses agree step by step within
# a relative difference TOL (and both logs have the same steps).
same_losses() {
  paste <(grep -o '"step":[0-9]*,"loss":[^,]*' "$1") <(grep -o '"step":[0-9]*,"loss":[^,]*' "$2") |
    awk -F'[:,\t]' -v tol="$3" '
      { if ($2 != $6) { print "step mismatch: " $0; bad = 1; exit }
        d = $4 - $8; if (d < 0) d = -d; r = $8 < 0 ? -$8 : $8;
        if (d > tol * r) { print "step " $2 ": loss " $4 " vs " $8; bad = 1 } n++ }
      END { if (n == 0) { print "no losses logged"; bad = 1 } exit bad }'
}
