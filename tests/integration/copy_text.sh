#!/usr/bin/env bash
# Copy generation end to end (issue 16): a text corpus trains a copy model with the real trainer
# (resume bit-exact; 2 mpirun ranks == 1 rank with 2-fold accumulation), `cartformer copy`
# writes copy for a title and for a titles file (the same seed gives the same copy), --evaluate
# scores it beside the baselines, and each wrong input is one error line naming it.
source "$(dirname "$0")/support/common.bash"
make_tiny_corpus  # a behaviour corpus, for the wrong-model cases (and PACE)
python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
chars = "包鞋裙杯灯表帽伞琴笔"
src, tgt = [], []
for t in range(60):
    title = chars[t % 10] + chars[(t // 10) % 10] + str(t)
    for a, aspect in enumerate("ab"):
        src.append(f"<{(t + a) % 3}> <{aspect}> " + " ".join(title))
        text = "好" + chars[t % 10] + ("很美，" if a == 0 else "耐用，") + chars[t % 10] + "质感出众"
        tgt.append(" ".join(text))
open(f"{work}/src.txt", "w").write("\n".join(src) + "\n")
open(f"{work}/tgt.txt", "w").write("\n".join(tgt) + "\n")
PY
"$BIN" prep --format kobe --input "$WORK/src.txt" --target "$WORK/tgt.txt" --out "$WORK/text.h5" \
  --min-char-count 1 >/dev/null || fail "text prep failed"

cfg=(--config "$SRC/configs/recipes/taobao-kobe-copy.yaml" --set "data.corpus=$WORK/text.h5"
     --set model.n_layer=1 --set model.d_model=16 --set model.n_head=2 --set model.d_ff=32
     --set model.max_len=40 --set train.epochs=0 --set train.steps=12 --set train.micro_batch=8
     --set train.warmup_steps=2 --set train.eval_batches=2 --set train.log_every=1
     --set train.lr=0.01 --set checkpoint.every=100 --quiet)
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/straight" >"$WORK/train.out" 2>&1 ||
  { cat "$WORK/train.out"; fail "copy training failed"; }
grep -q "task=copy" "$WORK/train.out" || { cat "$WORK/train.out"; fail "not a copy run"; }
python3 - "$WORK/straight/metrics.jsonl" <<'PY' || fail "the copy loss did not fall"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
assert rows[-1]["loss"] < rows[0]["loss"] - 0.5, (rows[0]["loss"], rows[-1]["loss"])
assert any(r.get("val_loss", -1) > 0 for r in rows), "no validation loss"
PY
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/resumed" --stop-after 5 >/dev/null 2>&1
"$BIN" train "${cfg[@]}" --set "run.out_dir=$WORK/resumed" --resume auto >/dev/null 2>&1
for f in model.safetensors optimizer.safetensors; do
  cmp "$WORK/straight/checkpoints/step_12/$f" "$WORK/resumed/checkpoints/step_12/$f" ||
    fail "copy model: $f differs between the straight and the resumed run"
done
echo "ok: copy training resumes bit-exact"
if command -v mpirun >/dev/null; then
  "$BIN" train "${cfg[@]}" --set train.grad_accum=2 --set train.micro_batch=4 \
    --set "run.out_dir=$WORK/one" >/dev/null 2>&1 || fail "1-rank copy run failed"
  "${MPIRUN[@]}" -np 2 "$BIN" train "${cfg[@]}" --set train.micro_batch=4 \
    --set "run.out_dir=$WORK/two" >/dev/null 2>"$WORK/two.err" || { cat "$WORK/two.err"; fail "2-rank copy run failed"; }
  cmp "$WORK/one/checkpoints/step_12/model.safetensors" \
      "$WORK/two/checkpoints/step_12/model.safetensors" || fail "copy: 2 ranks differ from 1 rank"
  echo "ok: 2 ranks == 1 rank with 2-fold accumulation"
fi

# Private training works on pairs as on users (each pair is one "user" of DP-SGD).
"$BIN" train "${cfg[@]}" --set train.global_batch=16 --set privacy.enabled=true \
  --set privacy.target_epsilon=8 --set checkpoint.keep_best=false \
  --set "run.out_dir=$WORK/private" >/dev/null 2>&1 || fail "private copy run failed"
python3 - "$WORK/private/checkpoints/step_12/manifest.json" <<'PY' || fail "private copy manifest is wrong"
import json, sys
p = json.load(open(sys.argv[1]))["privacy"]
assert 0 < p["epsilon"] <= 8 and p["steps"] == 12 and p["noise_multiplier"] > 0, p
PY
echo "ok: private copy training"

# Copy for one title: a CSV row per draft; the same seed writes the same copy.
copy=("$BIN" copy --checkpoint "$WORK/straight" --quiet)
"${copy[@]}" --title "包鞋3" --segment 1 --aspect a --n-best 2 --seed 5 > "$WORK/one.csv" ||
  fail "copy --title failed"
head -1 "$WORK/one.csv" | grep -qx "id,rank,segment,aspect,title,text,mean_log_prob,finished" ||
  fail "no CSV header"
rows=$(($(wc -l < "$WORK/one.csv") - 1))
[ "$rows" -ge 1 ] && [ "$rows" -le 2 ] || fail "expected 1 or 2 drafts, got $rows"
"${copy[@]}" --title "包鞋3" --segment 1 --aspect a --n-best 2 --seed 5 > "$WORK/again.csv"
cmp -s "$WORK/one.csv" "$WORK/again.csv" || fail "the same seed wrote different copy"
# A titles file (lines, or JSONL with its own tags) in one batch, JSONL out, written atomically.
printf '%s\n' "裙杯7" "" "灯表 12" > "$WORK/titles.txt"
"${copy[@]}" --titles "$WORK/titles.txt" --segment 0 --aspect b --format jsonl \
  --out "$WORK/batch.jsonl" || fail "copy --titles failed"
python3 - "$WORK/batch.jsonl" <<'PY' || fail "batch output is wrong"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["id"] for r in rows] == ["1", "3"], rows
assert all(r["segment"] == "0" and r["aspect"] == "b" and r["text"] for r in rows), rows
PY
# The batch is spread over threads: one thread writes the same rows.
OMP_NUM_THREADS=1 "${copy[@]}" --titles "$WORK/titles.txt" --segment 0 --aspect b --format jsonl \
  > "$WORK/batch1.jsonl" || fail "copy --titles on one thread failed"
cmp -s "$WORK/batch.jsonl" "$WORK/batch1.jsonl" || fail "the batch differs at another thread count"
printf '%s\n' '{"id": "u-17", "title": "伞琴5", "segment": "2", "aspect": "a"}' > "$WORK/titles.jsonl"
"${copy[@]}" --titles "$WORK/titles.jsonl" > "$WORK/j.csv" || fail "copy --titles jsonl failed"
grep -q "^u-17,1,2,a,伞琴5," "$WORK/j.csv" || { cat "$WORK/j.csv"; fail "JSONL titles not used"; }
echo "ok: copy for a title and a titles file"

# --evaluate: the model, retrieval and the n-gram baseline on the test titles.
"${copy[@]}" --evaluate --out-dir "$WORK/eval" > "$WORK/eval.txt" || fail "copy --evaluate failed"
python3 - "$WORK/eval/copy_eval.json" <<'PY' || fail "copy_eval.json is wrong"
import json, math, sys
e = json.load(open(sys.argv[1]))
assert e["kind"] == "copy_evaluation" and e["split"] == "test" and e["pairs"] > 0, e
for name in ("model", "retrieval", "ngram"):
    s = e["systems"][name]
    for k in ("bleu4", "rouge_l", "distinct_1", "distinct_2"):
        assert 0 <= s[k] <= 1, (name, k, s[k])
for name in ("model", "ngram"):
    assert math.isfinite(e["systems"][name]["perplexity"]) and e["systems"][name]["perplexity"] > 1
assert e["samples"] and all(s["human"] and s["title"] for s in e["samples"]), e["samples"]
# Model minus each baseline with its paired bootstrap interval.
assert e["bootstrap"]["resamples"] == 1000 and e["bootstrap"]["level"] == 0.95, e["bootstrap"]
for name in ("retrieval", "ngram"):
    for k in ("bleu4", "rouge_l"):
        c = e["comparisons"][name][k]
        d = e["systems"]["model"][k] - e["systems"][name][k]
        assert abs(c["difference"] - d) < 1e-12, (name, k, c, d)
        assert c["lower"] <= c["upper"], c
        assert c["significant"] == (c["lower"] > 0 or c["upper"] < 0), c
PY
grep -q "^model - retrieval BLEU-4 " "$WORK/eval.txt" || fail "no model - baseline line" 
grep -q "^retrieval " "$WORK/eval.txt" || fail "no metrics table"
echo "ok: copy --evaluate"
# The consensus order with the nearest training titles' texts as evidence: recorded in the
# JSON, the same model perplexity and baselines (only the choice among drafts changes).
"${copy[@]}" --evaluate --n-best 3 --order consensus --evidence 2 --consensus-samples 5 \
  --end-bias=-0.5 --consensus-bleu-weight 0.7 --retrieved-copy 0.5 --retrieved-texts 3 \
  --draft-lanes 2 --out-dir "$WORK/evidence" \
  >/dev/null || fail "copy --evaluate --evidence failed"
python3 - "$WORK/evidence/copy_eval.json" "$WORK/eval/copy_eval.json" <<'PY' || fail "evidence evaluation is wrong"
import json, sys
e, plain = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert e["decoding"]["evidence"] == 2 and e["decoding"]["order"] == "consensus", e["decoding"]
assert e["decoding"]["consensus_samples"] == 5 and e["decoding"]["end_bias"] == -0.5, e["decoding"]
assert plain["decoding"]["evidence"] == 0, plain["decoding"]
assert plain["decoding"]["consensus_samples"] == 0 and plain["decoding"]["end_bias"] == 0, plain
assert e["decoding"]["consensus_bleu_weight"] == 0.7 and plain["decoding"]["consensus_bleu_weight"] == 0.5
assert e["decoding"]["retrieved_copy"] == 0.5 and e["decoding"]["retrieved_texts"] == 3, e["decoding"]
assert plain["decoding"]["retrieved_copy"] == 0, plain["decoding"]
assert e["decoding"]["draft_lanes"] == 2 and plain["decoding"]["draft_lanes"] == 32, e["decoding"]
assert e["systems"]["model"]["perplexity"] == plain["systems"]["model"]["perplexity"]
# The network's perplexity stays; the mixture the drafts come from has its own.
copied = e["systems"]["model"]["retrieved_copy_perplexity"]
assert 1 < copied < 1e6 and copied != e["systems"]["model"]["perplexity"], copied
assert "retrieved_copy_perplexity" not in plain["systems"]["model"]
for name in ("retrieval", "ngram"):
    assert e["systems"][name] == plain["systems"][name], name
PY
expect_error "--evidence: ranks drafts by consensus; give --order consensus with it" \
  "${copy[@]}" --title "包" --segment 0 --aspect a --evidence 2
expect_error "--consensus-samples: must be 0 or at least --n-best (3) with --order consensus, got 2$" \
  "${copy[@]}" --title "包" --segment 0 --aspect a --n-best 3 --order consensus --consensus-samples 2
expect_error "--end-bias expects a finite number, got 'nan'" \
  "${copy[@]}" --title "包" --segment 0 --aspect a --end-bias nan
expect_error "--retrieved-copy: must be in \[0, 1), got 1$" \
  "${copy[@]}" --title "包" --segment 0 --aspect a --retrieved-copy 1
expect_error "--consensus-bleu-weight: must be in \[0, 1], got 2$" \
  "${copy[@]}" --title "包" --segment 0 --aspect a --order consensus --consensus-bleu-weight 2
expect_error "--draft-lanes must be between 1 and 1000, got 0" \
  "${copy[@]}" --title "包" --segment 0 --aspect a --draft-lanes 0
echo "ok: copy --evidence, --consensus-samples, --consensus-bleu-weight, --end-bias, --retrieved-copy"

# Wrong inputs: one error line naming the flag, file and line, or model.
expect_error "--segment: unknown segment '9' (the corpus has 0, 1, 2)" \
  "${copy[@]}" --title "包" --segment 9 --aspect a
expect_error "--title: empty title" "${copy[@]}" --title "  " --segment 0 --aspect a
printf '\xe5\x8c\n' > "$WORK/bad.txt"
expect_error "bad.txt: line 1: not well-formed UTF-8" "${copy[@]}" --titles "$WORK/bad.txt" --segment 0 --aspect a
printf '%s\n' '{"title": "包", "segment": "0", "aspect": "q"}' > "$WORK/bad.jsonl"
expect_error "bad.jsonl: line 1: aspect: unknown aspect 'q'" "${copy[@]}" --titles "$WORK/bad.jsonl"
# Without --text-corpus the checkpoint's own data.corpus is read: named when not found from here.
(cd "$WORK" && "$BIN" train "${cfg[@]}" --set data.corpus=text.h5 --set train.steps=2 \
  --set "run.out_dir=$WORK/relative" >/dev/null 2>&1) || fail "run with a relative corpus failed"
(cd "$WORK" && "$BIN" copy --checkpoint "$WORK/relative" --title "包" --segment 0 --aspect a \
  --quiet >/dev/null) || fail "copy did not find the checkpoint's own text corpus"
expect_error "--text-corpus: not given, and the checkpoint's data.corpus 'text.h5' is not found" \
  "$BIN" copy --checkpoint "$WORK/relative" --title "包" --segment 0 --aspect a
expect_error "--temperature: must be > 0" "${copy[@]}" --title "包" --segment 0 --aspect a --temperature 0
"$BIN" train --config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/corpus.h5" "${TINY[@]}" \
  --set train.steps=2 --set "run.out_dir=$WORK/behaviour" --quiet >/dev/null 2>&1 || fail "behaviour run failed"
expect_error "not a copy model (trained with task.kind: pretrain)" \
  "$BIN" copy --checkpoint "$WORK/behaviour" --text-corpus "$WORK/text.h5" --title "包" --segment 0 --aspect a
expect_error "a copy (text) model (task.kind: copy): cartformer eval needs a behaviour model" \
  "$BIN" eval --checkpoint "$WORK/straight" --corpus "$WORK/corpus.h5"
expect_error "text.h5: a text corpus (prep --format kobe / text_jsonl), not a behaviour corpus" \
  "$BIN" eval --checkpoint "$WORK/straight" --corpus "$WORK/text.h5"
expect_error "corpus.h5: not a text corpus" \
  "$BIN" train "${cfg[@]}" --set "data.corpus=$WORK/corpus.h5" --set "run.out_dir=$WORK/wrong"
expect_error "validation.metric' ndcg@10 ranks items, which 'task.kind: copy' does not" \
  "$BIN" train "${cfg[@]}" --set validation.metric=ndcg@10 --set "run.out_dir=$WORK/wrong"
# A copy per user of a target list: the behaviour model picks the product (--items) and the
# segment (top predicted category through --segment-map).
python3 - "$WORK" <<'PY'
import csv, sys
work = sys.argv[1]
rows = list(csv.DictReader(open(f"{work}/logs/item_data.csv")))
with open(f"{work}/items.csv", "w") as f:
    f.write("item,title,aspect\n")
    for k, r in enumerate(rows[:3]):
        f.write(f"{r['item_id']},包鞋{k},{'ab'[k % 2]}\n")
cats = sorted({r["category"] for r in rows})
open(f"{work}/segmap.csv", "w").write("category,segment\n" + "".join(f"{c},2\n" for c in cats))
open(f"{work}/partial.csv", "w").write("category,segment\nno-such-category,1\n")
PY
"$BIN" target --checkpoint "$WORK/behaviour" --corpus "$WORK/corpus.h5" --category "$(sed -n 2p "$WORK/logs/item_data.csv" | cut -d, -f2)" \
  --top 4 --out "$WORK/target.csv" >/dev/null 2>&1 || fail "target failed"
users=(--corpus "$WORK/corpus.h5" --behaviour-checkpoint "$WORK/behaviour" --items "$WORK/items.csv")
"${copy[@]}" --users "$WORK/target.csv" "${users[@]}" --segment-map "$WORK/segmap.csv" \
  --format jsonl > "$WORK/users.jsonl" || fail "copy --users failed"
python3 - "$WORK/users.jsonl" "$WORK/target.csv" "$WORK/items.csv" <<'PY' || fail "copy per user is wrong"
import csv, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = [r["user_key"] for r in csv.DictReader(open(sys.argv[2]))]
items = {r["item"]: r for r in csv.DictReader(open(sys.argv[3]))}
assert [r["id"] for r in rows] == keys, (rows, keys)
for r in rows:
    assert r["segment"] == "2" and r["item"] in items and r["category"], r
    assert r["title"] == items[r["item"]]["title"] and r["aspect"] == items[r["item"]]["aspect"], r
PY
first=$(sed -n 2p "$WORK/target.csv" | cut -d, -f2)
"${copy[@]}" --user "$first" "${users[@]}" --segment 1 > "$WORK/user.csv" || fail "copy --user failed"
head -1 "$WORK/user.csv" | grep -q ",item,category$" || fail "no item and category columns"
expect_error "corpus.h5: unknown user key 'nobody'" "${copy[@]}" --user nobody "${users[@]}" --segment 1
expect_error "--segment-map: required with --user/--users" "${copy[@]}" --user "$first" "${users[@]}"
printf 'item,title\n1,\n' > "$WORK/bad_items.csv"
expect_error "bad_items.csv: line 2: empty title" "${copy[@]}" --user "$first" "${users[@]}" --segment 1 \
  --items "$WORK/bad_items.csv"
expect_error "partial.csv\|--segment-map: no segment for category" "${copy[@]}" --user "$first" "${users[@]}" \
  --segment-map "$WORK/partial.csv"
echo "ok: copy per user"

# The report: the copy section alone, or beside a behaviour model's sections.
"$BIN" report --copy "$WORK/eval" --out-dir "$WORK/copy_report" >/dev/null || fail "copy report failed"
grep -q '<h2>Marketing copy</h2>' "$WORK/copy_report/report.html" || fail "no copy section"
grep -q '<td>copy model</td>' "$WORK/copy_report/report.html" || fail "no metrics table"
grep -q '<td>copy model − retrieval' "$WORK/copy_report/report.html" || fail "no paired comparison table"
grep -q 'paired bootstrap interval' "$WORK/copy_report/report.html" || fail "no bootstrap caption"
! grep -q 'end-of-text bias\|samples,\|measured against\|closeness weighs\|runs of text' \
  "$WORK/copy_report/report.html" ||
  fail "the plain evaluation's report names settings it did not use"
"$BIN" report --copy "$WORK/evidence" --out-dir "$WORK/evidence_report" >/dev/null || fail "copy report failed"
grep -q 'of 5 drafts per title the one closest to the others and to the texts of the 2 nearest training titles; closeness weighs BLEU-4 0.70 and ROUGE-L 0.30; end-of-text bias -0.50; runs of text taken over from the texts of the 3 nearest training titles (weight 0.50 at a long match)' \
  "$WORK/evidence_report/report.html" || fail "the report does not name the consensus settings"
grep -q 'under the distribution its drafts are drawn from (with the retrieved texts mixed in) it is [0-9]' \
  "$WORK/evidence_report/report.html" || fail "the report does not give the retrieved copy's perplexity"
# An evaluation from before stop 31 (no consensus_bleu_weight): its n-best were the only
# candidates, measured against the other samples.
mkdir -p "$WORK/old_eval"
python3 - "$WORK/evidence/copy_eval.json" "$WORK/old_eval/copy_eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
for key in ("consensus_bleu_weight", "retrieved_copy", "retrieved_texts", "draft_lanes"):
    del e["decoding"][key]
del e["systems"]["model"]["retrieved_copy_perplexity"]
json.dump(e, open(sys.argv[2], "w"))
PY
"$BIN" report --copy "$WORK/old_eval" --out-dir "$WORK/old_report" >/dev/null || fail "copy report failed"
grep -q 'of 3 drafts per title the one closest to the others and to the texts of the 2 nearest training titles, measured against 5 samples; end-of-text bias -0.50\.' \
  "$WORK/old_report/report.html" || fail "the report misreads an evaluation from before stop 31"
"$BIN" report --corpus "$WORK/corpus.h5" --checkpoint "$WORK/behaviour" --copy "$WORK/eval/copy_eval.json" \
  --bootstrap 10 --quiet --out-dir "$WORK/both_report" >/dev/null || fail "report with --copy failed"
grep -q '<h2>Marketing copy</h2>' "$WORK/both_report/report.html" || fail "no copy section beside the rest"
grep -q 'id="next-item"\|Next-item' "$WORK/both_report/report.html" || fail "the behaviour sections are gone"
expect_error "train.out: not a copy evaluation" "$BIN" report --copy "$WORK/train.out"
echo "copy generation works end to end"
