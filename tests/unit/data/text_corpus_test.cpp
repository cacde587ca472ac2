// Text pairs and the text corpus (data/text/): the KOBE and JSONL readers and each bad input's
// one-line error naming the file and line, the split by title, and the HDF5 corpus written,
// read back and refused when it is not (or no longer) a text corpus.
#include "data/text/text_corpus.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "data_test_support.h"
#include "unit/user_error_of.h"

namespace cf::data::text {
namespace {

using data::testing::ScratchDir;

void write(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

TEST(TextPairs, KobeLinesGiveTagsTitleAndText) {
  ScratchDir dir("kobe_ok");
  write(dir.file("s"), "<4> <a> 卡 普 斯 小 提 琴\n<10> <c> 手 包 2 0 1 8 新 款\r\n");
  write(dir.file("t"), "音 色 纯 正 ， 做 工 精 细\n头 层 牛 皮\n");
  const std::vector<TextPair> pairs = read_kobe_pairs(dir.file("s"), dir.file("t"));
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].segment, "4");
  EXPECT_EQ(pairs[0].aspect, "a");
  EXPECT_EQ(pairs[0].title, "卡普斯小提琴");
  EXPECT_EQ(pairs[0].text, "音色纯正，做工精细");
  EXPECT_EQ(pairs[1].segment, "10");
  EXPECT_EQ(pairs[1].title, "手包2018新款");
  EXPECT_EQ(pairs[1].line, 2);
}

TEST(TextPairs, BadKobeInputIsOneLineNamingTheFileAndLine) {
  ScratchDir dir("kobe_bad");
  const std::string s = dir.file("src"), t = dir.file("tgt");
  auto with = [&](const std::string& src, const std::string& tgt) {
    write(s, src);
    write(t, tgt);
    return cf::testing::user_error_of([&] { read_kobe_pairs(s, t); });
  };
  EXPECT_EQ(with("<1> <a> 包\n<2> <b> 鞋\n", "好\n"),
            s + " has 2 lines but " + t +
                " has 1: a title and its text must be on the same line of each");
  EXPECT_EQ(with("<1> <a> 包\n<2> <b> \xE4\xB8\n", "好\n好\n"),
            s + ": line 2: not well-formed UTF-8");
  EXPECT_EQ(with("<1> <a> 包\n", "\xFF\n"), t + ": line 1: not well-formed UTF-8");
  EXPECT_EQ(with("<1> <a>\n", "好\n"), s + ": line 1: empty title");
  EXPECT_EQ(with("<1> <a> 包\n", "\n"), t + ": line 1: empty text");
  EXPECT_EQ(with("<x> <a> 包\n", "好\n"),
            s + ": line 1: segment tag '<x>' is not <N> (a user segment number)");
  EXPECT_EQ(with("<1> <d> 包\n", "好\n"),
            s + ": line 1: aspect tag '<d>' is not one of <a> <b> <c>");
  EXPECT_EQ(with("包 <1> <a>\n", "好\n"),
            s + ": line 1: segment tag '包' is not <N> (a user segment number)");
  EXPECT_EQ(with("", ""), s + ": no pairs");
  EXPECT_EQ(with(std::string("<1> <a> \xE5\x8C\x85\0\n", 13), "x\n"),
            s + ": line 1: a NUL character (U+0000)");
  EXPECT_EQ(cf::testing::user_error_of([&] { read_kobe_pairs(dir.file("missing"), t); }),
            dir.file("missing") + ": cannot open for reading");
}

TEST(TextPairs, JsonlObjectsAndTheirErrors) {
  ScratchDir dir("jsonl");
  const std::string f = dir.file("pairs.jsonl");
  write(
      f,
      R"({"title": "真皮手包", "segment": "young", "aspect": "material", "text": "头层牛皮"})"
      "\n\n"
      R"({"title": "Mug 350ml", "segment": "office", "aspect": "function", "text": "Keeps tea hot ☕"})"
      "\n");
  const std::vector<TextPair> pairs = read_jsonl_pairs(f);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[1].title, "Mug 350ml");
  EXPECT_EQ(pairs[1].line, 3);
  EXPECT_EQ(pairs[1].text, "Keeps tea hot ☕");
  auto with = [&](const std::string& content) {
    write(f, content);
    return cf::testing::user_error_of([&] { read_jsonl_pairs(f); });
  };
  EXPECT_EQ(with("{\"title\": \"a\"\n"), f + ": line 1: not a JSON object");
  EXPECT_EQ(with("{\"title\": \"a\", \"segment\": \"s\", \"aspect\": \"x\"}\n"),
            f + ": line 1: missing string field 'text'");
  EXPECT_EQ(with("{\"title\": \"\", \"segment\": \"s\", \"aspect\": \"x\", \"text\": \"t\"}\n"),
            f + ": line 1: empty title");
  EXPECT_EQ(with("[1, 2]\n"), f + ": line 1: not a JSON object");
  EXPECT_EQ(
      with("{\"title\": \"a\\u0000b\", \"segment\": \"s\", \"aspect\": \"x\", \"text\": \"t\"}\n"),
      f + ": line 1: a NUL character (U+0000)");
}

std::vector<TextPair> many_pairs(int titles) {
  std::vector<TextPair> pairs;
  for (int i = 0; i < titles; ++i)
    for (const char* aspect : {"a", "b"}) {
      TextPair p;
      p.title = "商品" + std::to_string(i) + "号";
      p.segment = std::to_string(i % 3);
      p.aspect = aspect;
      p.text = "柔软皮质" + std::to_string(i % 7) + (i % 5 == 0 ? " Ω 😀" : "");
      p.line = int64_t(pairs.size()) + 1;
      pairs.push_back(p);
    }
  return pairs;
}

TEST(TextCorpus, SplitKeepsEveryTitleOnOneSideAtTheAskedShares) {
  const std::vector<TextPair> pairs = many_pairs(2000);
  const TextCorpus corpus = build_text_corpus(pairs, {});
  std::map<std::string, std::set<int>> splits_of_title;
  int per_split[3] = {0, 0, 0};
  for (size_t i = 0; i < pairs.size(); ++i) {
    splits_of_title[pairs[i].title].insert(corpus.split[i]);
    ++per_split[corpus.split[i]];
  }
  for (const auto& [title, splits] : splits_of_title) EXPECT_EQ(splits.size(), 1u) << title;
  // 2000 titles at 10% / 10%: within 5 standard deviations (sqrt(2000 * 0.09) = 13.4 titles).
  EXPECT_NEAR(per_split[2] / 2, 200, 67);
  EXPECT_NEAR(per_split[1] / 2, 200, 67);
  // A pure function of the title and seed.
  TextCorpusOptions other;
  other.split_seed = 7;
  int moved = 0;
  for (const auto& [title, splits] : splits_of_title) {
    EXPECT_EQ(int(split_of_title(title, {})), *splits.begin());
    moved += split_of_title(title, other) != split_of_title(title, {});
  }
  EXPECT_GT(moved, 0);
}

TEST(TextCorpus, WrittenCorpusReadsBackAndDecodesToTheText) {
  ScratchDir dir("text_corpus");
  const std::vector<TextPair> pairs = many_pairs(50);
  TextCorpus corpus = build_text_corpus(pairs, {});
  corpus.source_format = "test";
  write_text_corpus(dir.file("c.h5"), corpus);
  EXPECT_TRUE(is_text_corpus(dir.file("c.h5")));
  const TextCorpus back = read_text_corpus(dir.file("c.h5"));
  EXPECT_EQ(back.pieces, corpus.pieces);
  EXPECT_EQ(back.title_tokens, corpus.title_tokens);
  EXPECT_EQ(back.text_offsets, corpus.text_offsets);
  EXPECT_EQ(back.split, corpus.split);
  EXPECT_EQ(back.segments, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(back.aspects, (std::vector<std::string>{"a", "b"}));
  const CharTokenizer tok = back.tokenizer("c.h5");
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto slice = [](const std::vector<int32_t>& t, const std::vector<int64_t>& o, size_t k) {
      return std::vector<int32_t>(t.begin() + o[k], t.begin() + o[k + 1]);
    };
    EXPECT_EQ(tok.decode(slice(back.title_tokens, back.title_offsets, i)), pairs[i].title);
    EXPECT_EQ(tok.decode(slice(back.text_tokens, back.text_offsets, i)), pairs[i].text);
    EXPECT_EQ(back.segments[size_t(back.segment[i])], pairs[i].segment);
  }
}

TEST(TextCorpus, OtherFilesAreRefusedWithOneLine) {
  ScratchDir dir("text_corpus_bad");
  TextCorpus corpus = build_text_corpus(many_pairs(20), {});
  write_text_corpus(dir.file("c.h5"), corpus);
  // Truncated: HDF5 cannot read it.
  const auto size = std::filesystem::file_size(dir.file("c.h5"));
  std::filesystem::copy_file(dir.file("c.h5"), dir.file("cut.h5"));
  std::filesystem::resize_file(dir.file("cut.h5"), size / 2);
  EXPECT_EQ(cf::testing::user_error_of([&] {
              read_text_corpus(dir.file("cut.h5"));
            }).rfind(dir.file("cut.h5") + ": ", 0),
            0u);
  write(dir.file("plain.txt"), "not hdf5");
  EXPECT_EQ(cf::testing::user_error_of([&] {
              read_text_corpus(dir.file("plain.txt"));
            }).rfind(dir.file("plain.txt") + ": ", 0),
            0u);
  EXPECT_FALSE(is_text_corpus(dir.file("plain.txt")));
  // Ids beyond the tokenizer are caught on reading.
  corpus.text_tokens[3] = int32_t(corpus.pieces.size()) + 5;
  write_text_corpus(dir.file("bad_ids.h5"), corpus);
  EXPECT_EQ(cf::testing::user_error_of([&] { read_text_corpus(dir.file("bad_ids.h5")); }),
            dir.file("bad_ids.h5") +
                ": corrupt text corpus: a token id outside the tokenizer's text tokens");
}

}  // namespace
}  // namespace cf::data::text
