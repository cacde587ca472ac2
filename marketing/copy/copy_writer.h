// CopyWriter: writes product copy with a trained copy model (task.kind copy, issue 16). It
// holds the model and its text corpus's tokenizer and tag vocabularies, feeds the prompt
// `segment aspect <s> title <sep>` through the model's key/value-cache decoder and samples the
// description token by token (TokenSampler), stopping at </s> or the length limit.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/text/copy_sequences.h"
#include "data/text/text_corpus.h"
#include "eval/text/text_baselines.h"
#include "marketing/copy/retrieved_copy.h"
#include "marketing/copy/token_sampler.h"
#include "trainer/checkpoint.h"
#include "trainer/model/model.h"

namespace cf::marketing::copy {

struct CopyRequest {
  std::string title;                // UTF-8
  int32_t segment = 0, aspect = 0;  // ids in the corpus's vocabularies (CopyWriter::segment_id)
};

struct CopyDraft {
  std::vector<int32_t> tokens;  // the description's tokens (no specials)
  std::string text;             // decoded
  // Per token (and the </s> when it ended), at temperature 1; under the retrieved-copy mixture
  // when WritingOptions::retrieved_copy is on.
  double mean_log_prob = 0;
  // Mean copy_similarity to the request's other drafts (repeats included): how much of what
  // the model tends to write for this title it holds; with WritingOptions::evidence, the mean of
  // that and of the mean similarity to the retrieved texts (what people wrote for the nearest
  // training titles). 0 with neither, and under the likelihood order (not computed).
  double consensus = 0;
  bool finished = false;  // ended with </s> (else cut at the length limit)
};

// How n-best drafts are ordered: by the model's mean log-probability, or by consensus
// (minimum-Bayes-risk choice under copy_similarity: the draft closest to the others, and to the
// human texts of the nearest training titles when WritingOptions::evidence > 0; it keeps the
// sampled variety across titles but drops a draft's odd detours).
enum class DraftOrder { kLikelihood, kConsensus };

// The similarity the consensus order uses: smoothed sentence BLEU-4 and ROUGE-L
// (eval/text/text_metrics.h), the two overlaps copy evaluation reports, weighed bleu_weight and
// 1 - bleu_weight (0.5: their mean). Symmetric in ROUGE-L, nearly so in BLEU (its brevity
// penalty is the candidate's).
double copy_similarity(const std::vector<int32_t>& a, const std::vector<int32_t>& b,
                       double bleu_weight = 0.5);

struct WritingOptions {
  SamplingOptions sampling;
  DraftOrder order = DraftOrder::kLikelihood;
  int n_best = 1;  // drafts sampled per request; returned best first (`order`)
  // Consensus order: the texts of this many nearest training titles (by title characters, as
  // the retrieval baseline finds them) weigh as much as the drafts in the consensus. They only
  // rank the model's drafts; a retrieved text is never returned.
  int evidence = 0;
  // Consensus order: this many samples are drawn (0: n_best), each measured against all the
  // others; the n_best closest are returned.
  int consensus_samples = 0;
  // Consensus order: BLEU-4's weight in copy_similarity (ROUGE-L has the rest), in [0, 1].
  double consensus_bleu_weight = 0.5;
  int max_tokens = 0;  // description tokens at most (0: as many as max_len leaves)
  // Added to the log-probability of </s> before each draw (negative: longer copy). The model
  // ends its samples a little sooner than people end their texts (mean 85 characters against
  // 88.7 in training and 91 on validation), which BLEU's brevity penalty charges. Only the draw
  // sees it: mean_log_prob leaves it out.
  double end_bias = 0;
  // Runs of characters taken over from the human texts of the nearest training titles
  // (marketing/copy/retrieved_copy.h); weight 0: the model alone. It changes the distribution
  // the drafts are drawn from and scored by (mean_log_prob).
  RetrievedCopyOptions retrieved_copy;
  uint64_t seed = 1;  // request r's draft k is drawn from a stream fixed by (seed, r, k)
  // Drafts decoded together (at most), one key/value-cache lane each
  // (trainer/model/model_decoder.h): each step's products read the weights once for all of them.
  // Memory per writing thread: lanes x max_len x d_model x 2 x n_layer floats. 1: one draft at
  // a time. The products' rounding depends on how many drafts run together (a vector product
  // for one, a matrix product for several), and a rounding difference can, rarely, flip a
  // sampled token and the rest of that draft: drafts are fixed by the options, seed and row,
  // this one included.
  int draft_lanes = 32;
};

// One UserError naming the flag for options that cannot go together or are out of range
// (n_best < 1, max_tokens < 0, evidence or consensus_samples without the consensus order,
// consensus_samples below n_best, consensus_bleu_weight outside [0, 1], a retrieved-copy weight
// outside [0, 1) or fewer than one retrieved text, draft_lanes < 1). CopyWriter::write checks them
// too; a caller may check first, before any work.
void check_writing_options(const WritingOptions& options);

class CopyWriter {
 public:
  // `checkpoint`: a copy model's checkpoint directory (UserError naming it for any other
  // model); `corpus_path`: its text corpus (the vocabulary is checked against the
  // checkpoint's), or "" for the checkpoint's own data.corpus (UserError naming --text-corpus
  // when that path is not found from here).
  CopyWriter(const std::string& checkpoint, const std::string& corpus_path);
  // The retrieval index refers to this writer's own corpus: a writer stays where it was made.
  CopyWriter(const CopyWriter&) = delete;
  CopyWriter& operator=(const CopyWriter&) = delete;

  const std::string& checkpoint_dir() const { return checkpoint_dir_; }
  int64_t step() const { return step_; }
  const data::text::TextCorpus& corpus() const { return corpus_; }
  // The corpus as the model reads it (one sequence per pair, cut to max_len).
  const data::CorpusReader& sequences() const { return *sequences_; }
  const data::text::CharTokenizer& tokenizer() const { return tokenizer_; }
  // The retrieval baseline over the corpus's training titles (WritingOptions::evidence).
  const eval::text::RetrievalBaseline& retrieval() const { return retrieval_; }
  trainer::Model& model() { return model_; }
  int32_t max_len() const { return model_.config().max_len; }
  // The id of a segment or aspect name; UserError naming `flag` and the known names otherwise.
  int32_t segment_id(const std::string& name, const std::string& flag) const;
  int32_t aspect_id(const std::string& name, const std::string& flag) const;

  // Drafts for request number `request` (its index in a batch: the seed stream depends on it,
  // never on the other requests, so a batch writes what single requests would).
  // Thread-safe: each call decodes with its own key/value cache, so a batch may be written by
  // several threads at once.
  std::vector<CopyDraft> write(const CopyRequest& request, int64_t request_index,
                               const WritingOptions& options) const;
  // The same for a title already tokenized.
  std::vector<CopyDraft> write_tokens(const std::vector<int32_t>& title, int32_t segment,
                                      int32_t aspect, int64_t request_index,
                                      const WritingOptions& options) const;
  // How many description tokens a draft for this prompt may have: what max_len leaves after
  // the prompt, or `max_tokens` when that is smaller (0: no limit of its own).
  int text_limit(const std::vector<int32_t>& title, int32_t segment, int32_t aspect,
                 int max_tokens) const;
  // Sum of the natural log-probabilities of `text` and its </s> after the prompt, through the
  // decoder (the full forward gives the same: tested), under `copy` when its weight is not 0
  // (what the drafts are drawn from). Cut to the model's max_len.
  double log_likelihood(const std::vector<int32_t>& title, int32_t segment, int32_t aspect,
                        const std::vector<int32_t>& text, int64_t* tokens_scored = nullptr,
                        const RetrievedCopyOptions& copy = {}) const;

 private:
  CopyWriter(const trainer::LoadedCheckpoint& checkpoint, const std::string& given_corpus);
  // `segment aspect <s> title <sep>`: what the model reads before writing.
  std::vector<int32_t> prompt_for(const std::vector<int32_t>& title, int32_t segment,
                                  int32_t aspect) const;
  // Log-softmax of the next-token scores after `hidden`, over the tokens a description may use
  // (characters, bytes and </s>; never padding, <s>, <sep> or a tag).
  // `rows` hidden states [rows, d_model] give rows x vocabulary values.
  void next_log_probs(const float* hidden, int rows, std::vector<float>& out) const;
  // The retrieved texts for a title under `options` (none when its weight is 0).
  RetrievedCopy retrieved_copy_for(const std::vector<int32_t>& title, int32_t segment,
                                   int32_t aspect, const RetrievedCopyOptions& options) const;

  struct DraftInProgress;

  std::string checkpoint_dir_;
  int64_t step_ = 0;
  std::string corpus_path_;  // the one given, else the checkpoint's data.corpus
  data::text::TextCorpus corpus_;
  data::text::CharTokenizer tokenizer_;
  data::text::CopyVocabulary vocab_;
  std::unique_ptr<data::CorpusReader> sequences_;
  trainer::Model model_;
  // The training titles, for WritingOptions::evidence and retrieved_copy.
  eval::text::RetrievalBaseline retrieval_;
};

}  // namespace cf::marketing::copy
