#!/usr/bin/env bash
# What DP-SGD costs in training speed on this machine: the same config, batch and steps trained
# with privacy.enabled true and false, for the sampled softmax (a user's gradient support is a
# few item rows) and the full softmax (every user touches the whole item table). Prints the CPU,
# a table of tokens/s, and private / non-private measured in the same run.
#
#   tools/bench/bench_private.sh [--config configs/recipes/amazon-beauty-bert4rec-private.yaml]
#       [--corpus runs/beauty/corpus.h5] [--steps 30] [--batch 512]
set -euo pipefail
BIN=${CARTFORMER_BIN:-build/release/bin/cartformer}
config=configs/recipes/amazon-beauty-bert4rec-private.yaml corpus="" steps=30 batch=512
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "bench_private: unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d "${TMPDIR:-/tmp}/cf-bench-private.XXXXXX")
trap 'rm -rf "$work"' EXIT
head -c 32 /dev/urandom >"$work/noise.key"
common=(--config "$config" --set "train.steps=$steps" --set "train.global_batch=$batch"
        --set "train.log_every=$steps" --set train.eval_every=0 --set validation.every=0
        --set checkpoint.every=1000000 --set "privacy.noise_key_file=$work/noise.key" --quiet)
[ -z "$corpus" ] || common+=(--set "data.corpus=$corpus")

run() {  # run LOSS PRIVATE -> tokens/s over the run (metrics.jsonl's last row)
  local out="$work/$1-$2"
  "$BIN" train "${common[@]}" --set "loss.kind=$1" --set "privacy.enabled=$2" \
    --set "run.out_dir=$out" >/dev/null 2>"$out.err" || { cat "$out.err" >&2; exit 1; }
  python3 -c 'import json,sys; print(round(json.loads(open(sys.argv[1]).readlines()[-1])["tokens_per_s"]))' \
    "$out/metrics.jsonl"
}

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "bench_private: $config, expected batch $batch users, $steps steps"
echo "cpu: $cpu, $(getconf _NPROCESSORS_ONLN) cores, OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
printf "\n| item loss | non-private tokens/s | private tokens/s | private / non-private |\n"
printf "|---|---:|---:|---:|\n"
for loss in sampled_softmax full_softmax; do
  plain=$(run "$loss" false)
  private=$(run "$loss" true)
  printf "| %s | %s | %s | %.2fx |\n" "$loss" "$plain" "$private" \
    "$(awk -v a="$private" -v b="$plain" 'BEGIN {print a / b}')"
done
