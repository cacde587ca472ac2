#!/usr/bin/env bash
# Copy generation on the KOBE pairs, end to end on this machine: prep the text corpus, train the
# recipe (configs/recipes/taobao-kobe-copy.yaml, unchanged), and score the model beside the
# retrieval and n-gram baselines on the held-out test titles (cartformer copy --evaluate with
# the decoding the recipe documents). Prints the CPU, the training wall time, and the metrics
# table with the model / best-baseline ratios measured in the same run, and the decoding speed
# with drafts decoded one at a time and together (the ratio from the same run).
#
#   tools/bench/bench_copy.sh [--data ../shared/data/taobao-kobe-copywriting] [--out runs/kobe]
#       [--set key=value ...]   (overrides for the training config, e.g. train.epochs=1)
#       [--checkpoint DIR]      (score this trained copy model instead of training the recipe)
set -euo pipefail
BIN=${CARTFORMER_BIN:-build/release/bin/cartformer}
data=../shared/data/taobao-kobe-copywriting out=runs/kobe
sets=() checkpoint=
while [ $# -gt 0 ]; do
  case $1 in
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    --checkpoint) checkpoint=$2; shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "bench_copy: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -n "$checkpoint" ] && [ ${#sets[@]} -gt 0 ]; then
  echo "bench_copy: --set changes the training, which --checkpoint skips" >&2
  exit 2
fi
mkdir -p "$out"
"$BIN" prep --format kobe --input "$data/test.src.str" --target "$data/test.tgt.str" \
  --out "$out/text.h5" >/dev/null
if [ -z "$checkpoint" ]; then
  start=$(date +%s)
  "$BIN" train --config configs/recipes/taobao-kobe-copy.yaml --set "data.corpus=$out/text.h5" \
    --set "run.out_dir=$out/copy-bench" "${sets[@]}" --resume fresh --quiet >/dev/null
  training="training wall time $(( $(date +%s) - start )) s"
  checkpoint=$out/copy-bench
else
  training="no training: $checkpoint"
fi
# The decoding chosen on the validation titles (docs/benchmarks.md, "Copy generation").
"$BIN" copy --checkpoint "$checkpoint" --text-corpus "$out/text.h5" --evaluate --split test \
  --temperature 1.0 --top-p 0.95 --no-repeat-ngram 4 --order consensus --evidence 5 \
  --consensus-samples 24 --end-bias=-1.2 --retrieved-copy 0.7 --out-dir "$out/copy-bench-eval" \
  --quiet \
  > "$out/copy-bench-eval.txt"
# Decoding speed: the same decoding for the first 40 distinct test titles, drafts decoded one at
# a time (--draft-lanes 1) and together (the default, 32 lanes), in the same run.
python3 - "$data/test.src.str" "$out/bench-titles.jsonl" <<'PY'
import json, sys
seen, rows = set(), []
for line in open(sys.argv[1], encoding="utf-8"):
    tokens = line.split()
    title = "".join(tokens[2:])
    if title in seen:
        continue
    seen.add(title)
    rows.append({"id": str(len(rows)), "title": title, "segment": tokens[0].strip("<>"),
                 "aspect": tokens[1].strip("<>")})
    if len(rows) == 40:
        break
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
PY
declare -A write_seconds
for round in 1 2; do  # interleaved, twice; the faster of each is kept
  for lanes in 1 32; do
    t0=$(date +%s.%N)
    "$BIN" copy --checkpoint "$checkpoint" --text-corpus "$out/text.h5" \
      --titles "$out/bench-titles.jsonl" --temperature 1.0 --top-p 0.95 --no-repeat-ngram 4 \
      --order consensus --evidence 5 --consensus-samples 24 --end-bias=-1.2 --retrieved-copy 0.7 \
      --draft-lanes "$lanes" --format jsonl --out "$out/bench-copy-lanes$lanes.jsonl" 2>/dev/null
    took=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
    if [ "$round" = 1 ] || python3 -c "import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))" "$took" "${write_seconds[$lanes]}"; then
      write_seconds[$lanes]=$took
    fi
  done
done
same=$(python3 - "$out/bench-copy-lanes1.jsonl" "$out/bench-copy-lanes32.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l)["text"] for l in open(p, encoding="utf-8")] for p in sys.argv[1:3])
print(f"{sum(x == y for x, y in zip(a, b))} of {len(a)}")
PY
)
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "bench_copy: $data, recipe configs/recipes/taobao-kobe-copy.yaml ${sets[*]}"
echo "cpu: $cpu, $(getconf _NPROCESSORS_ONLN) cores; $training"
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
echo "writing 40 titles x 24 samples (faster of two interleaved runs): one draft at a time ${write_seconds[1]} s, in lanes (the 24 drafts together) ${write_seconds[32]} s ($(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "${write_seconds[1]}" "${write_seconds[32]}")x); the same copy for $same titles"
