#include "data/text/copy_sequences.h"

#include <algorithm>

#include "core/error.h"
#include "core/json.h"
#include "data/corpus_layout.h"

namespace cf::data::text {

CopyVocabulary CopyVocabulary::of(const TextCorpus& corpus) {
  CopyVocabulary vocab;
  vocab.tokenizer_size = int32_t(corpus.pieces.size());
  vocab.segments = int32_t(corpus.segments.size());
  vocab.aspects = int32_t(corpus.aspects.size());
  return vocab;
}

std::vector<int32_t> copy_prompt(const CopyVocabulary& vocab, int32_t segment, int32_t aspect,
                                 const int32_t* title, int64_t title_length, int32_t max_len) {
  CF_CHECK(segment >= 0 && segment < vocab.segments && aspect >= 0 && aspect < vocab.aspects,
           "segment or aspect out of range");
  const int64_t title_room = std::max<int64_t>(0, int64_t(max_len) - kMinTextRoom - 4);
  const int64_t kept = std::min(title_length, title_room);
  std::vector<int32_t> prompt;
  prompt.reserve(size_t(kept) + 4);
  prompt.push_back(vocab.segment_token(segment));
  prompt.push_back(vocab.aspect_token(aspect));
  prompt.push_back(kBeginToken);
  prompt.insert(prompt.end(), title, title + kept);
  prompt.push_back(kSeparatorToken);
  return prompt;
}

std::vector<int32_t> copy_sequence(const CopyVocabulary& vocab, int32_t segment, int32_t aspect,
                                   const int32_t* title, int64_t title_length, const int32_t* text,
                                   int64_t text_length, int32_t max_len) {
  std::vector<int32_t> tokens = copy_prompt(vocab, segment, aspect, title, title_length, max_len);
  tokens.insert(tokens.end(), text, text + text_length);
  tokens.push_back(kEndToken);
  if (int64_t(tokens.size()) > max_len) tokens.resize(size_t(max_len));
  return tokens;
}

namespace {

// Pair i as sequence i: one item token per position, the other channels constant (1).
class CopySequenceReader final : public CorpusReader {
 public:
  CopySequenceReader(TextCorpus corpus, const std::string& path, int32_t max_len)
      : path_(path), corpus_(std::move(corpus)), vocab_(CopyVocabulary::of(corpus_)) {
    if (max_len < kMinTextRoom + 5)
      throw UserError(path + ": model.max_len " + std::to_string(max_len) +
                      " leaves no room for copy (at least " + std::to_string(kMinTextRoom + 5) +
                      " positions: tags, <s>, <sep>, text)");
    const int64_t n = corpus_.num_pairs();
    offsets_.assign(size_t(n) + 1, 0);
    item_count_.assign(size_t(vocab_.size()), 0);
    for (int64_t i = 0; i < n; ++i) {
      std::vector<int32_t> tokens = sequence_of(i, max_len);
      offsets_[size_t(i) + 1] = offsets_[size_t(i)] + int64_t(tokens.size());
      if (corpus_.split[size_t(i)] == int8_t(TextSplit::kTrain))
        for (int32_t t : tokens) ++item_count_[size_t(t)];
      tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
    }
    splits_ = corpus_.split;
    zeros8_.assign(size_t(n), 0);
    zeros32_.assign(size_t(n), 0);
    vocab_sizes_.items = vocab_.size();
    vocab_sizes_.actions = vocab_sizes_.categories = vocab_sizes_.activities = 2;
    vocab_sizes_.time_gaps = kNumTimeGapBuckets;
    fingerprint_ = layout::vocab_fingerprint(item_raw_ids(), category_raw_ids(), activity_raw_ids(),
                                             action_names(), {}, {}, {});
  }

  const std::string& path() const override { return path_; }
  int64_t num_sequences() const override { return corpus_.num_pairs(); }
  int64_t num_events() const override { return offsets_.back(); }
  VocabSizes vocab_sizes() const override { return vocab_sizes_; }
  std::string vocab_fingerprint() const override { return fingerprint_; }
  const std::vector<int64_t>& offsets() const override { return offsets_; }
  void read_sequence(int64_t i, Sequence& out) const override {
    CF_CHECK(i >= 0 && i < num_sequences(), "text sequence out of range");
    const int64_t first = offsets_[size_t(i)], n = offsets_[size_t(i) + 1] - first;
    out.index = i;
    out.item.assign(tokens_.begin() + first, tokens_.begin() + first + n);
    out.action.assign(size_t(n), 1);
    out.category.assign(size_t(n), 1);
    out.time_gap.assign(size_t(n), 1);
    out.activity.assign(size_t(n), 1);
    out.timestamp.assign(size_t(n), 0);
    out.purchase.assign(size_t(n), 0);
  }
  void read_sequences(int64_t first, int64_t count, std::vector<Sequence>& out) const override {
    out.resize(size_t(count));
    for (int64_t k = 0; k < count; ++k) read_sequence(first + k, out[size_t(k)]);
  }
  const std::vector<int8_t>& purchase_labels() const override { return zeros8_; }
  const std::vector<int8_t>& time_split_purchase_labels() const override { return zeros8_; }
  std::vector<std::string> user_keys() const override {
    std::vector<std::string> keys;
    for (int64_t i = 0; i < num_sequences(); ++i) keys.push_back("pair:" + std::to_string(i));
    return keys;
  }
  const std::vector<int64_t>& item_counts() const override { return item_count_; }
  std::vector<std::string> item_raw_ids() const override {
    std::vector<std::string> ids = corpus_.pieces;
    for (const std::string& s : corpus_.segments) ids.push_back("segment:" + s);
    for (const std::string& a : corpus_.aspects) ids.push_back("aspect:" + a);
    return ids;
  }
  std::vector<std::string> category_raw_ids() const override { return {"<pad>", "text"}; }
  std::vector<std::string> action_names() const override { return {"<pad>", "text"}; }
  std::vector<std::string> activity_raw_ids() const override { return {"<pad>", "text"}; }
  int64_t time_split_cutoff() const override { return 0; }
  const std::vector<int32_t>& time_split_train_length() const override { return zeros32_; }
  std::string provenance_json() const override {
    return Json{{"corpus_kind", "text_pairs"},
                {"source_format", corpus_.source_format},
                {"source_files", corpus_.source_files},
                {"created_by", corpus_.created_by}}
        .dump();
  }
  const std::vector<int8_t>& sequence_splits() const override { return splits_; }

 private:
  std::vector<int32_t> sequence_of(int64_t i, int32_t max_len) const {
    const int64_t t0 = corpus_.title_offsets[size_t(i)], t1 = corpus_.title_offsets[size_t(i) + 1];
    const int64_t x0 = corpus_.text_offsets[size_t(i)], x1 = corpus_.text_offsets[size_t(i) + 1];
    return copy_sequence(vocab_, corpus_.segment[size_t(i)], corpus_.aspect[size_t(i)],
                         corpus_.title_tokens.data() + t0, t1 - t0, corpus_.text_tokens.data() + x0,
                         x1 - x0, max_len);
  }

  std::string path_;
  TextCorpus corpus_;
  CopyVocabulary vocab_;
  std::vector<int64_t> offsets_, item_count_;
  std::vector<int32_t> tokens_;
  std::vector<int8_t> splits_, zeros8_;
  std::vector<int32_t> zeros32_;
  VocabSizes vocab_sizes_;
  std::string fingerprint_;
};

}  // namespace

std::unique_ptr<CorpusReader> open_copy_sequences(const std::string& path, int32_t max_len) {
  return std::make_unique<CopySequenceReader>(read_text_corpus(path), path, max_len);
}

std::unique_ptr<CorpusReader> open_copy_sequences(TextCorpus corpus, const std::string& path,
                                                  int32_t max_len) {
  return std::make_unique<CopySequenceReader>(std::move(corpus), path, max_len);
}

}  // namespace cf::data::text
