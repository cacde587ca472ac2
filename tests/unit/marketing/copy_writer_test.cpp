// Copy generation on the trainer (issue 16): the text corpus as token sequences, the loss mask
// of task.kind copy, and CopyWriter on a small model trained here by the real trainer: its
// key/value-cache scoring equals the full forward, its sampling is fixed by the seed, and the
// consensus order's evidence is the other drafts and the nearest training titles' texts.
#include "marketing/copy/copy_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "data/text/copy_sequences.h"
#include "data/text/text_corpus.h"
#include "eval/text/text_metrics.h"
#include "trainer/config.h"
#include "trainer/task_rows.h"
#include "trainer/train_loop.h"
#include "unit/data/data_test_support.h"
#include "unit/user_error_of.h"

namespace cf::marketing::copy {
namespace {

using cf::testing::user_error_of;
using data::text::TextPair;

// 80 pairs over 40 titles: the text repeats a title's characters in a fixed pattern, so a
// small model learns something in a few steps.
std::vector<TextPair> synthetic_pairs() {
  const std::vector<std::string> chars = {"包", "鞋", "裙", "杯", "灯", "表", "帽", "伞"};
  std::vector<TextPair> pairs;
  for (int t = 0; t < 40; ++t) {
    TextPair p;
    p.title = chars[size_t(t % 8)] + chars[size_t((t / 8) % 8)] + std::to_string(t);
    for (int a = 0; a < 2; ++a) {
      p.segment = std::to_string((t + a) % 3);
      p.aspect = a == 0 ? "a" : "b";
      p.text = "好" + chars[size_t(t % 8)] + (a == 0 ? "很美，" : "耐用，") + chars[size_t(t % 8)] +
               "质感出众";
      p.line = int64_t(pairs.size()) + 1;
      pairs.push_back(p);
    }
  }
  return pairs;
}

class CopyModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new data::testing::ScratchDir("copy_writer");
    data::text::TextCorpusOptions options;
    options.tokenizer.min_count = 1;
    data::text::write_text_corpus(corpus_path(),
                                  data::text::build_text_corpus(synthetic_pairs(), options));
    const trainer::Config config = trainer::parse_config(
        "run:\n  out_dir: " + dir_->file("run") +
            "\n  seed: 7\n  device: cpu\n"
            "data:\n  corpus: " +
            corpus_path() +
            "\nmodel:\n  n_layer: 2\n  n_head: 2\n  d_model: 16\n  d_ff: 32\n  max_len: 40\n"
            "  dropout: 0.0\ntask:\n  kind: copy\n"
            "train:\n  steps: 30\n  micro_batch: 8\n  lr: 0.01\n  warmup_steps: 0\n"
            "  log_every: 100\ncheckpoint:\n  every: 100\n",
        "copy_test.yaml");
    trainer::run_training(config, "");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string corpus_path() { return dir_->file("text.h5"); }
  static std::string run_dir() { return dir_->file("run"); }
  static data::testing::ScratchDir* dir_;
};
data::testing::ScratchDir* CopyModel::dir_ = nullptr;

// The copy task's training rows of the test corpus at max_len 40: what fill_micro_batches reads.
struct CopyTrainingRows {
  std::unique_ptr<data::CorpusReader> reader;
  data::TrainingSplit split;
  std::vector<int64_t> ids;
  trainer::TaskSpec task;
};
CopyTrainingRows copy_training_rows(const std::string& corpus) {
  CopyTrainingRows rows;
  rows.reader = data::text::open_copy_sequences(corpus, 40);
  rows.split = data::TrainingSplit::by_sequence(rows.reader->sequence_splits());
  rows.ids = data::trainable_sequences(*rows.reader, rows.split);
  rows.task.kind = trainer::TaskKind::kCopy;
  return rows;
}

TEST(CopySequences, PairIsTagsBeginTitleSeparatorTextEnd) {
  const data::text::CopyVocabulary vocab{100, 3, 2};
  const std::vector<int32_t> title = {10, 11, 12}, text = {20, 21};
  EXPECT_EQ(data::text::copy_sequence(vocab, 2, 1, title.data(), 3, text.data(), 2, 64),
            (std::vector<int32_t>{102, 104, data::text::kBeginToken, 10, 11, 12,
                                  data::text::kSeparatorToken, 20, 21, data::text::kEndToken}));
  // Cut to max_len: the text's end goes first; a title longer than max_len leaves room for text.
  const std::vector<int32_t> long_text(100, 30), long_title(100, 40);
  const auto cut = data::text::copy_sequence(vocab, 0, 0, title.data(), 3, long_text.data(), 100,
                                             data::text::kMinTextRoom + 10);
  EXPECT_EQ(int(cut.size()), data::text::kMinTextRoom + 10);
  EXPECT_EQ(cut.back(), 30);
  const auto prompt = data::text::copy_prompt(vocab, 0, 0, long_title.data(), 100, 40);
  EXPECT_EQ(int(prompt.size()), 40 - data::text::kMinTextRoom);
  EXPECT_EQ(prompt.back(), data::text::kSeparatorToken);
}

TEST_F(CopyModel, ReaderGivesEveryPairWithItsSplit) {
  auto reader = data::text::open_copy_sequences(corpus_path(), 40);
  const data::text::TextCorpus corpus = data::text::read_text_corpus(corpus_path());
  ASSERT_EQ(reader->num_sequences(), corpus.num_pairs());
  EXPECT_EQ(reader->sequence_splits(), corpus.split);
  const data::text::CopyVocabulary vocab = data::text::CopyVocabulary::of(corpus);
  EXPECT_EQ(reader->vocab_sizes().items, vocab.size());
  data::Sequence seq;
  reader->read_sequence(5, seq);
  const auto title = std::vector<int32_t>(corpus.title_tokens.begin() + corpus.title_offsets[5],
                                          corpus.title_tokens.begin() + corpus.title_offsets[6]);
  const auto text = std::vector<int32_t>(corpus.text_tokens.begin() + corpus.text_offsets[5],
                                         corpus.text_tokens.begin() + corpus.text_offsets[6]);
  EXPECT_EQ(seq.item, data::text::copy_sequence(vocab, corpus.segment[5], corpus.aspect[5],
                                                title.data(), int64_t(title.size()), text.data(),
                                                int64_t(text.size()), 40));
  // A model too short for any text is refused, naming the file.
  EXPECT_NE(user_error_of([&] {
              data::text::open_copy_sequences(corpus_path(), 10);
            }).find("text.h5: model.max_len 10 leaves no room for copy"),
            std::string::npos);
}

TEST_F(CopyModel, LossMaskCoversExactlyTheDescriptionAndItsEnd) {
  const CopyTrainingRows rows = copy_training_rows(corpus_path());
  const auto& [reader, split, ids, task] = rows;
  ASSERT_FALSE(ids.empty());
  for (int64_t id : ids) ASSERT_EQ(reader->sequence_splits()[size_t(id)], 0);
  std::vector<data::Batch> micro;
  const trainer::StepTargetCounts counts =
      trainer::fill_micro_batches(task, split, *reader, ids, 0, 8, 1, 0, 8, 40, micro);
  int64_t expected_targets = 0;
  data::Sequence seq;
  for (int b = 0; b < 8; ++b) {
    reader->read_sequence(ids[size_t(b)], seq);
    int sep = 0;
    while (seq.item[size_t(sep)] != data::text::kSeparatorToken) ++sep;
    for (int t = 0; t < 40; ++t) {
      const int32_t target = micro[0].target_item[size_t(b) * 40 + size_t(t)];
      // Position t's target is token t + 1: from the separator's (the first text token) to
      // the one before </s>, nothing before (tags and title) and nothing after.
      const bool in_text = t >= sep && t + 1 < seq.length();
      EXPECT_EQ(target, in_text ? seq.item[size_t(t) + 1] : 0) << "row " << b << " position " << t;
      expected_targets += in_text ? 1 : 0;
    }
    EXPECT_EQ(micro[0].target_item[size_t(b) * 40 + size_t(seq.length()) - 2],
              data::text::kEndToken);
  }
  EXPECT_EQ(counts.items, expected_targets);
}

TEST_F(CopyModel, InputNoiseReplacesOnlyDescriptionInputsFromTheirOwnRow) {
  CopyTrainingRows copy_rows = copy_training_rows(corpus_path());
  auto& [reader, split, ids, task] = copy_rows;
  const int64_t rows = std::min<int64_t>(int64_t(ids.size()), 8);
  std::vector<data::Batch> clean, noisy, again;
  trainer::fill_micro_batches(task, split, *reader, ids, 0, rows, 5, 3, 8, 40, clean);
  task.copy_input_noise = 0.5f;
  trainer::fill_micro_batches(task, split, *reader, ids, 0, rows, 5, 3, 8, 40, noisy);
  trainer::fill_micro_batches(task, split, *reader, ids, 0, rows, 5, 3, 8, 40, again);
  const data::Batch &c = clean[0], &n = noisy[0];
  EXPECT_EQ(n.item, again[0].item);         // fixed by (seed, step, row)
  EXPECT_EQ(n.target_item, c.target_item);  // the targets stay the true tokens
  int64_t noised = 0, eligible = 0;
  for (int b = 0; b < int(rows); ++b) {
    const size_t row = size_t(b) * 40;
    int sep = 0;
    while (c.item[row + size_t(sep)] != data::text::kSeparatorToken) ++sep;
    int end = c.length[b];
    if (c.item[row + size_t(end) - 1] == data::text::kEndToken) --end;
    const std::vector<int32_t> text(c.item.begin() + long(row) + sep + 1,
                                    c.item.begin() + long(row) + end);
    for (int t = 0; t < 40; ++t) {
      const int32_t was = c.item[row + size_t(t)], is = n.item[row + size_t(t)];
      if (t <= sep + 1 || t >= end) {
        EXPECT_EQ(is, was) << "row " << b << " position " << t;  // prompt, <sep>, first, </s>
        continue;
      }
      ++eligible;
      noised += is != was ? 1 : 0;
      EXPECT_NE(std::find(text.begin(), text.end(), is), text.end()) << "row " << b;
    }
  }
  // Half the eligible inputs are drawn again (some redraw their own token).
  ASSERT_GT(eligible, 40);
  EXPECT_GT(noised, eligible / 4);
  EXPECT_LT(noised, eligible * 3 / 4);
}

TEST_F(CopyModel, DecoderScoringEqualsTheFullForward) {
  CopyWriter writer(run_dir(), corpus_path());
  const data::text::TextCorpus& corpus = writer.corpus();
  int64_t pair = 0;
  while (corpus.split[size_t(pair)] != 1) ++pair;
  data::Sequence seq;
  writer.sequences().read_sequence(pair, seq);
  // Reference: the full forward's hidden state at every position of the pair (one batch row),
  // its scores, the same renormalisation over the tokens a description may use.
  const int T = writer.max_len(), C = writer.model().config().d_model;
  data::Batch batch;
  batch.resize(1, T);
  data::fill_batch_row(batch, 0, seq, seq.length(), false);
  std::vector<float> hidden;
  writer.model().hidden_states(batch, hidden);
  const data::text::CopyVocabulary vocab = data::text::CopyVocabulary::of(corpus);
  std::vector<float> scores(size_t(vocab.size()));
  int sep = 0;
  while (seq.item[size_t(sep)] != data::text::kSeparatorToken) ++sep;
  double reference = 0;
  for (int t = sep; t + 1 < seq.length(); ++t) {
    writer.model().item_scores(hidden.data() + size_t(t) * size_t(C), 1, scores.data());
    double top = -1e30;
    for (int32_t v = data::text::kEndToken; v < vocab.tokenizer_size; ++v)
      top = std::max(top, double(scores[size_t(v)]));
    double sum = 0;
    for (int32_t v = data::text::kEndToken; v < vocab.tokenizer_size; ++v)
      sum += std::exp(double(scores[size_t(v)]) - top);
    reference += double(scores[size_t(seq.item[size_t(t) + 1])]) - top - std::log(sum);
  }
  const std::vector<int32_t> title(
      corpus.title_tokens.begin() + corpus.title_offsets[size_t(pair)],
      corpus.title_tokens.begin() + corpus.title_offsets[size_t(pair) + 1]);
  const std::vector<int32_t> text(
      corpus.text_tokens.begin() + corpus.text_offsets[size_t(pair)],
      corpus.text_tokens.begin() + corpus.text_offsets[size_t(pair) + 1]);
  int64_t scored = 0;
  const double decoded = writer.log_likelihood(title, corpus.segment[size_t(pair)],
                                               corpus.aspect[size_t(pair)], text, &scored);
  EXPECT_EQ(scored, seq.length() - 1 - sep);
  EXPECT_EQ(scored, int64_t(text.size()) + 1);
  EXPECT_NEAR(decoded, reference, 1e-4 * std::abs(reference));

  // And the trainer's validation loss on the pair (full softmax, batched) is that loss plus the
  // little mass the full softmax gives the tokens a description never uses.
  trainer::TaskSpec task;
  task.kind = trainer::TaskKind::kCopy;
  const trainer::ValidationSet set(writer.sequences(), 1, task, 4, T, {pair});
  trainer::comm::LocalComm comm;
  const double mean_nll = set.loss(
      writer.sequences(),
      [&](const data::Batch& b, const trainer::LossOptions& o) {
        return writer.model().evaluate_loss(b, o);
      },
      comm);
  EXPECT_LE(-decoded / double(scored), mean_nll + 1e-5);
  EXPECT_NEAR(-decoded / double(scored), mean_nll, 0.1);
}

TEST_F(CopyModel, SamplingIsFixedBySeedAndRow) {
  CopyWriter writer(run_dir(), corpus_path());
  WritingOptions options;
  options.sampling.temperature = 1.0;
  options.sampling.top_p = 0.95;
  options.n_best = 3;
  options.seed = 11;
  CopyRequest request{"包鞋3", writer.segment_id("1", "--segment"),
                      writer.aspect_id("a", "--aspect")};
  const std::vector<CopyDraft> first = writer.write(request, 4, options);
  const std::vector<CopyDraft> again = writer.write(request, 4, options);
  ASSERT_EQ(first.size(), again.size());
  for (size_t k = 0; k < first.size(); ++k) {
    EXPECT_EQ(first[k].tokens, again[k].tokens);
    EXPECT_EQ(first[k].mean_log_prob, again[k].mean_log_prob);
    if (k > 0) {
      EXPECT_GE(first[k - 1].mean_log_prob, first[k].mean_log_prob);
    }
    EXPECT_EQ(writer.tokenizer().decode(first[k].tokens), first[k].text);
  }
  // Consensus order: the same drafts, the one closest to the others first.
  options.order = DraftOrder::kConsensus;
  const std::vector<CopyDraft> by_consensus = writer.write(request, 4, options);
  ASSERT_EQ(by_consensus.size(), first.size());
  for (size_t k = 0; k < by_consensus.size(); ++k) {
    EXPECT_GE(by_consensus[k].consensus, 0.0);
    EXPECT_LE(by_consensus[k].consensus, 1.0);
    if (k > 0) {
      EXPECT_GE(by_consensus[k - 1].consensus, by_consensus[k].consensus);
    }
    EXPECT_TRUE(std::any_of(first.begin(), first.end(), [&](const CopyDraft& d) {
      return d.tokens == by_consensus[k].tokens;
    }));
  }
  options.order = DraftOrder::kLikelihood;
  // Another seed (or another row of a batch) draws another stream.
  options.seed = 12;
  bool any_differs = false;
  for (int row = 0; row < 5 && !any_differs; ++row) {
    options.seed = 12 + uint64_t(row);
    any_differs = writer.write(request, 4, options).front().tokens != first.front().tokens;
  }
  EXPECT_TRUE(any_differs);
  // Greedy decoding needs no seed at all.
  options.sampling.greedy = true;
  options.n_best = 1;
  options.seed = 1;
  const auto greedy_a = writer.write(request, 0, options);
  options.seed = 99;
  EXPECT_EQ(writer.write(request, 7, options).front().tokens, greedy_a.front().tokens);
  // The length limit cuts a draft (and says so).
  options.max_tokens = 2;
  const CopyDraft cut = writer.write(request, 0, options).front();
  EXPECT_LE(cut.tokens.size(), 2u);
  if (cut.tokens.size() == 2) {
    EXPECT_FALSE(cut.finished);
  }
}

TEST(CopySimilarity, IsTheMeanOfSentenceBleuAndRougeL) {
  const std::vector<int32_t> a = {1, 2, 3, 4, 5, 6}, b = {1, 2, 3, 4, 7, 6};
  EXPECT_DOUBLE_EQ(copy_similarity(a, b),
                   0.5 * (eval::text::sentence_bleu4(a, b) + eval::text::rouge_l(a, b)));
  EXPECT_DOUBLE_EQ(copy_similarity(a, a), 1.0);
  EXPECT_EQ(copy_similarity(a, {9}), 0.0);
}

TEST_F(CopyModel, EvidenceAddsTheNearestTextsToTheConsensus) {
  CopyWriter writer(run_dir(), corpus_path());
  WritingOptions options;
  options.sampling.temperature = 1.5;
  options.n_best = 5;
  options.order = DraftOrder::kConsensus;
  const std::vector<int32_t> title = writer.tokenizer().encode("包鞋3");
  const int32_t segment = 1, aspect = 0;
  // The same seed streams draw the same drafts; only their scores change.
  const std::vector<CopyDraft> plain = writer.write_tokens(title, segment, aspect, 0, options);
  options.evidence = 2;
  const std::vector<CopyDraft> drafts = writer.write_tokens(title, segment, aspect, 0, options);
  ASSERT_EQ(drafts.size(), plain.size());
  const std::vector<std::vector<int32_t>> nearest =
      writer.retrieval().texts_for(title, segment, aspect, 2);
  ASSERT_EQ(nearest.size(), 2u);
  for (size_t k = 0; k < drafts.size(); ++k) {
    const auto same = std::find_if(plain.begin(), plain.end(), [&](const CopyDraft& d) {
      return d.tokens == drafts[k].tokens;
    });
    ASSERT_NE(same, plain.end());
    // Half the drafts-only score (the mean over the 4 other drafts), half the mean over the
    // 2 texts.
    const double expected =
        0.5 * same->consensus + 0.25 * (copy_similarity(drafts[k].tokens, nearest[0]) +
                                        copy_similarity(drafts[k].tokens, nearest[1]));
    EXPECT_NEAR(drafts[k].consensus, expected, 1e-12) << "draft " << k;
    if (k > 0) {
      EXPECT_GE(drafts[k - 1].consensus, drafts[k].consensus);
    }
  }
}

TEST_F(CopyModel, ConsensusSamplesAreAllCandidatesAndTheClosestReturn) {
  CopyWriter writer(run_dir(), corpus_path());
  WritingOptions options;
  options.sampling.temperature = 1.5;
  options.n_best = 6;
  const std::vector<int32_t> title = writer.tokenizer().encode("包鞋3");
  const int32_t segment = 1, aspect = 0;
  // All six samples (seed streams 0..5), none repeated at this temperature.
  const std::vector<CopyDraft> all = writer.write_tokens(title, segment, aspect, 2, options);
  ASSERT_EQ(all.size(), 6u);
  // Reference: each sample's mean similarity to the five others, the closest three first.
  std::vector<std::pair<double, std::vector<int32_t>>> closest;
  for (const CopyDraft& a : all) {
    double sum = 0;
    for (const CopyDraft& b : all)
      if (&a != &b) sum += copy_similarity(a.tokens, b.tokens);
    closest.push_back({sum / 5, a.tokens});
  }
  std::stable_sort(closest.begin(), closest.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  options.n_best = 3;
  options.order = DraftOrder::kConsensus;
  options.consensus_samples = 6;
  const std::vector<CopyDraft> ranked = writer.write_tokens(title, segment, aspect, 2, options);
  ASSERT_EQ(ranked.size(), 3u);
  for (size_t k = 0; k < ranked.size(); ++k) {
    EXPECT_EQ(ranked[k].tokens, closest[k].second) << "draft " << k;
    EXPECT_NEAR(ranked[k].consensus, closest[k].first, 1e-12) << "draft " << k;
  }
  options.consensus_samples = 2;
  EXPECT_EQ(user_error_of([&] { writer.write_tokens(title, segment, aspect, 2, options); }),
            "--consensus-samples: must be 0 or at least --n-best (3) with --order consensus, "
            "got 2");
  options.consensus_samples = 6;
  options.order = DraftOrder::kLikelihood;
  EXPECT_EQ(user_error_of([&] { writer.write_tokens(title, segment, aspect, 2, options); }),
            "--consensus-samples: must be 0 or at least --n-best (3) with --order consensus, "
            "got 6");
  options.consensus_samples = 0;
  options.evidence = 1;
  EXPECT_EQ(user_error_of([&] { writer.write_tokens(title, segment, aspect, 2, options); }),
            "--evidence: ranks drafts by consensus; give --order consensus with it");
}

TEST_F(CopyModel, EndBiasMovesWhereDraftsEndButNotTheirScores) {
  CopyWriter writer(run_dir(), corpus_path());
  WritingOptions options;
  options.n_best = 4;
  options.max_tokens = 6;
  const std::vector<int32_t> title = writer.tokenizer().encode("包鞋3");
  const int32_t segment = 1, aspect = 0;
  // A large bias up: every draft ends at once; its score is the model's own log-probability of
  // ending there, not the biased one.
  options.end_bias = 40;
  const std::vector<CopyDraft> ended = writer.write_tokens(title, segment, aspect, 0, options);
  ASSERT_EQ(ended.size(), 1u);  // four empty drafts, one after the repeats go
  EXPECT_TRUE(ended[0].tokens.empty());
  EXPECT_TRUE(ended[0].finished);
  EXPECT_NEAR(ended[0].mean_log_prob, writer.log_likelihood(title, segment, aspect, {}), 1e-5);
  EXPECT_LT(ended[0].mean_log_prob, 0.0);
  // A large bias down: no draft ends before the length limit.
  options.end_bias = -40;
  for (const CopyDraft& d : writer.write_tokens(title, segment, aspect, 0, options)) {
    EXPECT_FALSE(d.finished);
    EXPECT_GE(d.tokens.size(), 3u);  // 6 tokens, less a cut character's first bytes
  }
}

TEST_F(CopyModel, RetrievedCopyIsWhatDraftsAreDrawnFromAndScoredBy) {
  CopyWriter writer(run_dir(), corpus_path());
  const std::vector<int32_t> title = writer.tokenizer().encode("包鞋3");
  const int32_t segment = 1, aspect = 0;
  const RetrievedCopyOptions copy{0.9, 2};
  const std::vector<std::vector<int32_t>> nearest =
      writer.retrieval().texts_for(title, segment, aspect, 2);
  ASSERT_FALSE(nearest.empty());
  // The nearest training title's text is more likely with the copy than by the model alone;
  // weight 0 is the model alone.
  const double alone = writer.log_likelihood(title, segment, aspect, nearest[0]);
  EXPECT_GT(writer.log_likelihood(title, segment, aspect, nearest[0], nullptr, copy), alone);
  EXPECT_EQ(writer.log_likelihood(title, segment, aspect, nearest[0], nullptr, {0.0, 2}), alone);
  // Pure samples (temperature 1, no cut) score what log_likelihood gives them under the copy.
  WritingOptions options;
  options.sampling.temperature = 1.0;
  options.sampling.top_p = 1.0;
  options.sampling.no_repeat_ngram = 0;
  options.n_best = 6;
  options.retrieved_copy = copy;
  int checked = 0;
  for (const CopyDraft& d : writer.write_tokens(title, segment, aspect, 0, options)) {
    if (!d.finished) continue;
    int64_t scored = 0;
    const double whole = writer.log_likelihood(title, segment, aspect, d.tokens, &scored, copy);
    ASSERT_EQ(scored, int64_t(d.tokens.size()) + 1);
    EXPECT_NEAR(d.mean_log_prob * double(scored), whole, 1e-4 * std::abs(whole));
    ++checked;
  }
  EXPECT_GT(checked, 0);
  options.retrieved_copy = {1.0, 2};
  EXPECT_EQ(user_error_of([&] { writer.write_tokens(title, segment, aspect, 0, options); }),
            "--retrieved-copy: must be in [0, 1), got 1");
  options.retrieved_copy = {0.5, 0};
  EXPECT_EQ(user_error_of([&] { check_writing_options(options); }),
            "--retrieved-texts: must be >= 1, got 0");
}

TEST_F(CopyModel, DraftsWrittenInLanesAreWhatOneAtATimeDecodingWrites) {
  // 40 samples: with 32 lanes two rounds (32, then 8), drafts finishing at different steps
  // (the last running draft moving into each finished one's lane); with one lane, one draft
  // at a time. The same drafts in the same order (a rounding flip of a sampled token is
  // possible in principle, vanishingly rare on a model this small), and every finished
  // draft's score is what the one-lane decoder of log_likelihood gives its tokens.
  CopyWriter writer(run_dir(), corpus_path());
  const std::vector<int32_t> title = writer.tokenizer().encode("包鞋3");
  WritingOptions options;
  options.sampling.temperature = 1.0;
  options.sampling.top_p = 1.0;
  options.sampling.no_repeat_ngram = 0;
  options.n_best = 40;
  for (int max_tokens : {0, 4}) {  // 4: drafts cut at the limit in every lane
    options.max_tokens = max_tokens;
    options.draft_lanes = 32;
    const std::vector<CopyDraft> lanes = writer.write_tokens(title, 1, 0, 0, options);
    options.draft_lanes = 1;
    const std::vector<CopyDraft> one = writer.write_tokens(title, 1, 0, 0, options);
    ASSERT_EQ(lanes.size(), one.size()) << "max_tokens " << max_tokens;
    std::set<size_t> lengths;
    int finished = 0;
    for (size_t i = 0; i < lanes.size(); ++i) {
      const CopyDraft& d = lanes[i];
      EXPECT_EQ(d.tokens, one[i].tokens) << "draft " << i << ", max_tokens " << max_tokens;
      EXPECT_EQ(d.finished, one[i].finished);
      EXPECT_NEAR(d.mean_log_prob, one[i].mean_log_prob, 1e-5);
      lengths.insert(d.tokens.size());
      if (max_tokens > 0) {
        EXPECT_LE(d.tokens.size(), size_t(max_tokens));
      }
      if (!d.finished) continue;
      int64_t scored = 0;
      const double whole = writer.log_likelihood(title, 1, 0, d.tokens, &scored);
      ASSERT_EQ(scored, int64_t(d.tokens.size()) + 1);
      EXPECT_NEAR(d.mean_log_prob * double(scored), whole, 1e-4 * std::abs(whole));
      ++finished;
    }
    if (max_tokens == 0) {
      EXPECT_GT(lanes.size(), 32u);   // drafts of the second round among them
      EXPECT_GT(lengths.size(), 3u);  // lanes finished at different steps
      EXPECT_GT(finished, 0);
    } else {
      EXPECT_LT(finished, int(lanes.size()));  // some cut at the limit
    }
  }
}

TEST_F(CopyModel, UnknownTagsAndOtherModelsAreClearErrors) {
  CopyWriter writer(run_dir(), corpus_path());
  EXPECT_EQ(user_error_of([&] { writer.segment_id("9", "--segment"); }),
            "--segment: unknown segment '9' (the corpus has 0, 1, 2)");
  EXPECT_EQ(user_error_of([&] { writer.aspect_id("z", "--aspect"); }),
            "--aspect: unknown aspect 'z' (the corpus has a, b)");
}

}  // namespace
}  // namespace cf::marketing::copy
