#!/usr/bin/env bash
# Copy generation on the KOBE pairs, end to end on this machine: prep the text corpus, train the
# recipe (configs/recipes/taobao-kobe-copy.yaml, unchanged), and score the model beside the
# retrieval and n-gram baselines on the held-out test titles (cartformer copy --evaluate with
# the decoding the recipe documents). Prints the CPU, the training wall time, and the metrics
# table with the model / best-baseline ratios measured in the same run.
#
#   tools/bench/bench_copy.sh [--data ../shared/data/taobao-kobe-copywriting] [--out runs/kobe]
#       [--set key=value ...]   (overrides for the training config, e.g. train.epochs=1)
set -euo pipefail
BIN=${CARTFORMER_BIN:-build/release/bin/cartformer}
data=../shared/data/taobao-kobe-copywriting out=runs/kobe
sets=()
while [ $# -gt 0 ]; do
  case $1 in
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "bench_copy: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
"$BIN" prep --format kobe --input "$data/test.src.str" --target "$data/test.tgt.str" \
  --out "$out/text.h5" >/dev/null
start=$(date +%s)
"$BIN" train --config configs/recipes/taobao-kobe-copy.yaml --set "data.corpus=$out/text.h5" \
  --set "run.out_dir=$out/copy-bench" "${sets[@]}" --resume fresh --quiet >/dev/null
seconds=$(( $(date +%s) - start ))
# The decoding chosen on the validation titles (docs/benchmarks.md, "Copy generation").
"$BIN" copy --checkpoint "$out/copy-bench" --text-corpus "$out/text.h5" --evaluate --split test \
  --temperature 1.0 --top-p 0.95 --no-repeat-ngram 4 --order consensus --evidence 5 \
  --consensus-samples 24 --end-bias=-1.2 --retrieved-copy 0.7 --out-dir "$out/copy-bench-eval" \
  --quiet \
  > "$out/copy-bench-eval.txt"
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "bench_copy: $data, recipe configs/recipes/taobao-kobe-copy.yaml ${sets[*]}"
echo "cpu: $cpu, $(getconf _NPROCESSORS_ONLN) cores; training wall time ${seconds} s"
cat "$out/copy-bench-eval.txt"
python3 - "$out/copy-bench-eval/copy_eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
s, h = e["systems"], e["human"]
best = lambda k: max(s["retrieval"][k], s["ngram"][k])
print(f"model / best baseline: BLEU-4 {s['model']['bleu4'] / best('bleu4'):.2f}x, "
      f"ROUGE-L {s['model']['rouge_l'] / best('rouge_l'):.2f}x; "
      f"perplexity model / n-gram {s['model']['perplexity'] / s['ngram']['perplexity']:.2f}; "
      f"distinct-2 model / human {s['model']['distinct_2'] / h['distinct_2']:.2f}")
PY
