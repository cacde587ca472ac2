#!/usr/bin/env bash
# Data-parallel scaling on this machine: the same global batch trained by 1 rank (accumulating)
# and by N ranks (mpirun), each for the same steps on the same corpus. Prints a table of
# tokens/s, the ratio to 1 rank, and the share of each step spent waiting on other ranks.
#
#   tools/bench/bench_data_parallel.sh --corpus runs/beauty/corpus.h5 \
#       [--config configs/pretrain/beauty.yaml] [--ranks "2"] [--steps 30] [--zero1]
set -euo pipefail
BIN=${CARTFORMER_BIN:-build/release/bin/cartformer}
config=configs/pretrain/beauty.yaml corpus="" ranks="2" steps=30 extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --zero1) extra+=(--set comm.zero1=true); shift ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "bench_data_parallel: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$corpus" ] || { echo "bench_data_parallel: --corpus is required" >&2; exit 2; }
cores=$(nproc)
work=$(mktemp -d "${TMPDIR:-/tmp}/cf-bench-dp.XXXXXX")
trap 'rm -rf "$work"' EXIT
mb=$(awk '/micro_batch:/ {print $2; exit}' "$config")
max_ranks=1
for n in $ranks; do [ "$n" -gt "$max_ranks" ] && max_ranks=$n; done
global=$((mb * max_ranks))
common=(--config "$config" --set "data.corpus=$corpus" --set "train.steps=$steps"
        --set "train.global_batch=$global" --set "train.log_every=$steps" --set train.eval_every=0
        --set checkpoint.every=1000000 "${extra[@]}")

# Mean tokens/s and comm share over the run, from its metrics.jsonl (last row = whole window
# after the first report; the first step includes start-up, so the window starts at step 1).
run() {  # run NAME RANKS
  local out="$work/$1" n=$2 threads=$(( cores / $2 > 0 ? cores / $2 : 1 ))
  local start end
  start=$(date +%s.%N)
  if [ "$n" -eq 1 ]; then
    OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=passive "$BIN" train "${common[@]}" \
      --set "run.out_dir=$out" --quiet >/dev/null 2>"$out.err"
  else
    mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=$threads \
      -x OMP_WAIT_POLICY=passive -np "$n" "$BIN" train "${common[@]}" \
      --set "run.out_dir=$out" --quiet >/dev/null 2>"$out.err"
  fi
  end=$(date +%s.%N)
  python3 - "$out/metrics.jsonl" "$n" "$threads" "$start" "$end" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
last = rows[-1]
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{last['tokens_per_s']:.0f}\t"
      f"{last.get('comm_share', 0) * 100:.1f}\t{last.get('comm_wait_s', 0) * 1e3:.1f}\t"
      f"{float(sys.argv[5]) - float(sys.argv[4]):.1f}")
PY
}

echo "bench_data_parallel: $config on $corpus, global batch $global, $steps steps, $cores cores"
results=$(run one 1)
for n in $ranks; do results+=$'\n'"$(run "r$n" "$n")"; done
base=$(head -1 <<<"$results" | cut -f3)
printf "\n| ranks | threads/rank | tokens/s | vs 1 rank | comm wait share | comm wait ms/step | wall s |\n"
printf "|---|---|---|---|---|---|---|\n"
while IFS=$'\t' read -r n t tok share wait wall; do
  printf "| %s | %s | %s | %.2fx | %s%% | %s | %s |\n" "$n" "$t" "$tok" \
    "$(awk -v a="$tok" -v b="$base" 'BEGIN {print a / b}')" "$share" "$wait" "$wall"
done <<<"$results"
