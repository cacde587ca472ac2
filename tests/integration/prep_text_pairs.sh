#!/usr/bin/env bash
# `cartformer prep` of text pairs (copy generation, issue 16): the KOBE pair of files and a JSONL
# file become a text corpus (the summary says the split by title and the tokenizer); each bad
# input is one error line naming the file and line, with no corpus left behind; the old corpus
# survives a failed prep over it.
source "$(dirname "$0")/support/common.bash"
printf '%s\n' "<0> <a> 真 皮 手 包 女" "<3> <c> 真 皮 手 包 女" "<12> <b> 保 温 杯 3 5 0 m l" \
  "<1> <a> 小 提 琴" > "$WORK/src.txt"
printf '%s\n' "头 层 牛 皮 ， 柔 软 有 型" "容 量 大 ， 通 勤 好 搭" "保 温 持 久 ☕" \
  "音 色 纯 正" > "$WORK/tgt.txt"
"$BIN" prep --format kobe --input "$WORK/src.txt" --target "$WORK/tgt.txt" \
  --out "$WORK/text.h5" --min-char-count 1 > "$WORK/prep.out" || fail "kobe prep failed"
grep -q "^pairs          4 (train" "$WORK/prep.out" || { cat "$WORK/prep.out"; fail "no pair count"; }
grep -q "segments       4, aspects 3" "$WORK/prep.out" || { cat "$WORK/prep.out"; fail "no vocabularies"; }
h5ls "$WORK/text.h5/text" | grep -q "title_tokens" || fail "no title tokens in the corpus"

printf '%s\n' '{"title": "Mug 350ml", "segment": "office", "aspect": "function", "text": "Keeps tea hot ☕"}' \
  '{"title": "真皮手包", "segment": "young", "aspect": "material", "text": "头层牛皮"}' > "$WORK/pairs.jsonl"
"$BIN" prep --format text_jsonl --input "$WORK/pairs.jsonl" --out "$WORK/jsonl.h5" \
  > "$WORK/jsonl.out" || fail "jsonl prep failed"
grep -q "^pairs          2 " "$WORK/jsonl.out" || { cat "$WORK/jsonl.out"; fail "no pair count"; }
echo "ok: kobe and jsonl pairs prepped"
# inspect describes a text corpus (and decodes a pair); training on behaviour refuses one
# with a line saying what it is.
"$BIN" inspect "$WORK/text.h5" --sequence 2 > "$WORK/inspect.txt" || fail "inspect of a text corpus failed"
grep -q "^pairs           4 (split by title" "$WORK/inspect.txt" || { cat "$WORK/inspect.txt"; fail "no pair count"; }
grep -q "^title  保温杯350ml$" "$WORK/inspect.txt" || { cat "$WORK/inspect.txt"; fail "pair 2 not decoded"; }
grep -q "^text   保温持久☕$" "$WORK/inspect.txt" || { cat "$WORK/inspect.txt"; fail "pair 2 not decoded"; }
expect_error "text.h5: a text corpus (prep --format kobe / text_jsonl), not a behaviour corpus: it trains a copy model (task.kind: copy)" \
  "$BIN" train --config "$SRC/configs/demo/pretrain.yaml" --set "data.corpus=$WORK/text.h5" \
  --set "run.out_dir=$WORK/run"

cp "$WORK/text.h5" "$WORK/before.h5"
printf '%s\n' "<0> <a> 包" "<1> <a> 鞋" > "$WORK/two.txt"
expect_error "src.txt has 4 lines but .*two.txt has 2" "$BIN" prep --format kobe \
  --input "$WORK/src.txt" --target "$WORK/two.txt" --out "$WORK/text.h5"
cmp -s "$WORK/text.h5" "$WORK/before.h5" || fail "a failed prep changed the existing corpus"
printf '<0> <a> \xe7\x9c\n' > "$WORK/bad_utf8.txt"
printf 'x\n' > "$WORK/one.txt"
expect_error "bad_utf8.txt: line 1: not well-formed UTF-8" "$BIN" prep --format kobe \
  --input "$WORK/bad_utf8.txt" --target "$WORK/one.txt" --out "$WORK/bad1.h5"
printf '<0> <z> 包\n' > "$WORK/bad_tag.txt"
expect_error "bad_tag.txt: line 1: aspect tag '<z>' is not one of <a> <b> <c>" "$BIN" prep \
  --format kobe --input "$WORK/bad_tag.txt" --target "$WORK/one.txt" --out "$WORK/bad2.h5"
printf '<0> <a>\n' > "$WORK/empty_title.txt"
expect_error "empty_title.txt: line 1: empty title" "$BIN" prep --format kobe \
  --input "$WORK/empty_title.txt" --target "$WORK/one.txt" --out "$WORK/bad3.h5"
expect_error "--target: missing" "$BIN" prep --format kobe --input "$WORK/src.txt" --out "$WORK/bad4.h5"
printf '{"title": "a", "segment": "s"}\n' > "$WORK/bad.jsonl"
expect_error "bad.jsonl: line 1: missing string field 'aspect'" "$BIN" prep --format text_jsonl \
  --input "$WORK/bad.jsonl" --out "$WORK/bad5.h5"
for n in 1 2 3 4 5; do [ ! -e "$WORK/bad$n.h5" ] || fail "a failed prep left bad$n.h5"; done
echo "ok: bad text pairs are one error line each, nothing written"
