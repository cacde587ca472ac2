#!/usr/bin/env bash
# Cartformer against its PyTorch twin (tools/bench/torch_twin.py) on the same machine, the same
# threads and the same batch shapes, in one run: bench_pipeline's training rows (fp32 and bf16
# products), then the twin's rows (eager fp32, bf16 autocast, torch.compile), then the ratios.
# Skips the twin (and says so) where torch, h5py or numpy is missing.
#
#   tools/bench/bench_vs_torch.sh [--config FILE] [--steps N] [--threads N]
# Defaults: configs/pretrain/beauty.yaml (its corpus must exist), 30 steps, 2 threads.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
config=configs/pretrain/beauty.yaml steps=30 threads=2
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "usage: $0 [--config FILE] [--steps N] [--threads N]" >&2; exit 2 ;;
  esac
done
bin=${CARTFORMER_BUILD_DIR:-$root/build/release}/bin
cd "$root"
corpus=$(awk '/^data:/ {d = 1} d && /^  corpus:/ {print $2; exit}' "$config")
[ -f "$corpus" ] || { echo "bench_vs_torch: $corpus (data.corpus of $config) not found; prep it first" >&2; exit 1; }
# The twin's model settings, read from the config (the twin covers gpt blocks, no side channels).
model_value() { awk -v k="$1" '/^model:/ {m = 1; next} /^[a-z]/ {m = 0} m && $1 == k ":" {print $2; exit}' "$config"; }

ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=passive "$bin/bench_pipeline" --config "$config" \
  --steps "$steps" --prep-events 0 --pseudonym-ids 0 --precision both | tee "$ours"
echo
status=0
python3 "$root/tools/bench/torch_twin.py" --corpus "$corpus" --steps "$steps" --threads "$threads" \
  --layers "$(model_value n_layer)" --d-model "$(model_value d_model)" \
  --heads "$(model_value n_head)" --d-ff "$(model_value d_ff)" \
  --max-len "$(model_value max_len)" --dropout "$(model_value dropout)" | tee "$theirs" || status=$?
if [ "$status" -eq 3 ]; then echo "bench_vs_torch: the PyTorch twin was skipped (see above)"; exit 0; fi
[ "$status" -eq 0 ] || exit "$status"

# tokens/s of a row: the number before " tokens/s" (ours) or the third column (the twin's).
our_rate() { grep "| train ($1 products)" "$ours" | sed -E 's/.*\| ([0-9]+) tokens\/s.*/\1/'; }
their_rate() { grep "| torch $1 |" "$theirs" | awk -F'|' '{gsub(/ /, "", $4); print $4}'; }
fp32=$(our_rate fp32) bf16=$(our_rate bf16)
eager=$(their_rate "eager fp32") autocast=$(their_rate "bf16 autocast") compiled=$(their_rate compile)
best_torch=$(printf '%s\n' "$eager" "$autocast" "$compiled" | grep -E '^[0-9]+$' | sort -n | tail -1)
fastest_ours=$(( fp32 > bf16 ? fp32 : bf16 ))
echo
echo "| ratio (tokens/s, same run) | value |"
echo "|---|---:|"
awk -v a="$fp32" -v b="$eager" 'BEGIN { printf "| Cartformer fp32 / torch eager fp32 | %.2fx |\n", a / b }'
awk -v a="$bf16" -v b="$fp32" 'BEGIN { printf "| Cartformer bf16 / Cartformer fp32 | %.2fx |\n", a / b }'
awk -v a="$fastest_ours" -v b="$best_torch" 'BEGIN { printf "| Cartformer fastest / torch fastest mode | %.2fx |\n", a / b }'
