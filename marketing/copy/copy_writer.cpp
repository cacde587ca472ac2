#include "marketing/copy/copy_writer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "core/config_fields.h"
#include "core/error.h"
#include "core/random.h"
#include "eval/text/text_metrics.h"

namespace cf::marketing::copy {

namespace {

trainer::LoadedCheckpoint load_copy_checkpoint(const std::string& checkpoint) {
  const std::string dir = trainer::resolve_checkpoint_dir(checkpoint);
  trainer::LoadedCheckpoint ckpt = trainer::load_checkpoint(dir, false);
  if (ckpt.config.task.kind != trainer::TaskKind::kCopy)
    throw UserError(dir + ": not a copy model (trained with task.kind: " +
                    trainer::task_kind_name(ckpt.config.task.kind) +
                    "); cartformer copy needs one trained with task.kind: copy on a text corpus");
  return ckpt;
}

// The text corpus a writer reads: the one given, else the checkpoint's own.
std::string text_corpus_of(const trainer::LoadedCheckpoint& ckpt, const std::string& given) {
  if (!given.empty()) return given;
  const std::string& own = ckpt.config.data.corpus;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(own, ec))
    throw UserError("--text-corpus: not given, and the checkpoint's data.corpus '" + own +
                    "' is not found from this directory");
  return own;
}

trainer::Model checked_model(const trainer::LoadedCheckpoint& ckpt, const std::string& corpus_path,
                             const data::CorpusReader& sequences) {
  trainer::require_same_vocab(ckpt, corpus_path, sequences.vocab_fingerprint(),
                              sequences.vocab_sizes());
  return trainer::model_from_checkpoint(ckpt, sequences);
}

}  // namespace

double copy_similarity(const std::vector<int32_t>& a, const std::vector<int32_t>& b,
                       double bleu_weight) {
  return bleu_weight * eval::text::sentence_bleu4(a, b) +
         (1 - bleu_weight) * eval::text::rouge_l(a, b);
}

namespace {

// Request r's draft k: its own stream, whatever else the batch holds.
uint64_t draft_seed(uint64_t seed, int64_t request, int k) {
  return splitmix64_mix(splitmix64_mix(seed ^ 0x636f7079ull) + uint64_t(request) * 1024u +
                        uint64_t(k));
}

}  // namespace

CopyWriter::CopyWriter(const std::string& checkpoint, const std::string& corpus_path)
    : CopyWriter(load_copy_checkpoint(checkpoint), corpus_path) {}

CopyWriter::CopyWriter(const trainer::LoadedCheckpoint& ckpt, const std::string& given_corpus)
    : checkpoint_dir_(ckpt.dir),
      step_(ckpt.state.step),
      corpus_path_(text_corpus_of(ckpt, given_corpus)),
      corpus_(data::text::read_text_corpus(corpus_path_)),
      tokenizer_(corpus_.tokenizer(corpus_path_)),
      vocab_(data::text::CopyVocabulary::of(corpus_)),
      sequences_(data::text::open_copy_sequences(corpus_, corpus_path_, ckpt.config.model.max_len)),
      model_(checked_model(ckpt, corpus_path_, *sequences_)),
      retrieval_(corpus_) {}

namespace {
int32_t name_id(const std::vector<std::string>& names, const std::string& name,
                const std::string& flag, const char* what) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return int32_t(i);
  std::string known;
  for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
  throw UserError(flag + ": unknown " + what + " '" + name + "' (the corpus has " + known + ")");
}
}  // namespace

int32_t CopyWriter::segment_id(const std::string& name, const std::string& flag) const {
  return name_id(corpus_.segments, name, flag, "segment");
}
int32_t CopyWriter::aspect_id(const std::string& name, const std::string& flag) const {
  return name_id(corpus_.aspects, name, flag, "aspect");
}

std::vector<int32_t> CopyWriter::prompt_for(const std::vector<int32_t>& title, int32_t segment,
                                            int32_t aspect) const {
  return data::text::copy_prompt(vocab_, segment, aspect, title.data(), int64_t(title.size()),
                                 max_len());
}

void CopyWriter::next_log_probs(const std::vector<float>& hidden, std::vector<float>& out) const {
  out.resize(size_t(vocab_.size()));
  model_.item_scores(hidden.data(), 1, out.data());
  const float minus_inf = -std::numeric_limits<float>::infinity();
  for (int32_t t : {data::text::kPadToken, data::text::kBeginToken, data::text::kSeparatorToken})
    out[size_t(t)] = minus_inf;
  std::fill(out.begin() + vocab_.tokenizer_size, out.end(), minus_inf);  // the tags
  float top = minus_inf;
  for (float v : out) top = std::max(top, v);
  double sum = 0;
  for (float v : out) sum += std::exp(double(v) - double(top));
  const float log_sum = float(double(top) + std::log(sum));
  for (float& v : out) v -= log_sum;
}

void check_writing_options(const WritingOptions& options) {
  if (options.n_best < 1)
    throw UserError("--n-best: must be >= 1, got " + std::to_string(options.n_best));
  if (options.max_tokens < 0)
    throw UserError("--max-tokens: must be >= 0, got " + std::to_string(options.max_tokens));
  const bool by_consensus = options.order == DraftOrder::kConsensus;
  if (options.evidence > 0 && !by_consensus)
    throw UserError("--evidence: ranks drafts by consensus; give --order consensus with it");
  if (options.consensus_samples != 0 &&
      (!by_consensus || options.consensus_samples < options.n_best))
    throw UserError("--consensus-samples: must be 0 or at least --n-best (" +
                    std::to_string(options.n_best) + ") with --order consensus, got " +
                    std::to_string(options.consensus_samples));
  if (!(options.consensus_bleu_weight >= 0 && options.consensus_bleu_weight <= 1))
    throw UserError("--consensus-bleu-weight: must be in [0, 1], got " +
                    config_fields::shortest_decimal(options.consensus_bleu_weight));
  const RetrievedCopyOptions& copy = options.retrieved_copy;
  if (!(copy.weight >= 0 && copy.weight < 1))
    throw UserError("--retrieved-copy: must be in [0, 1), got " +
                    config_fields::shortest_decimal(copy.weight));
  if (copy.texts < 1)
    throw UserError("--retrieved-texts: must be >= 1, got " + std::to_string(copy.texts));
}

std::vector<CopyDraft> CopyWriter::write(const CopyRequest& request, int64_t request_index,
                                         const WritingOptions& options) const {
  return write_tokens(tokenizer_.encode(request.title), request.segment, request.aspect,
                      request_index, options);
}

std::vector<CopyDraft> CopyWriter::write_tokens(const std::vector<int32_t>& title, int32_t segment,
                                                int32_t aspect, int64_t request_index,
                                                const WritingOptions& options) const {
  check_writing_options(options);
  const bool by_consensus = options.order == DraftOrder::kConsensus;
  const int samples = std::max(options.n_best, options.consensus_samples);
  const std::vector<int32_t> prompt = prompt_for(title, segment, aspect);
  const int limit = text_limit(title, segment, aspect, options.max_tokens);

  // The prompt is fed once; each draft goes back to its end (the cache is by position, so
  // truncating is exact) and starts from its last hidden state.
  std::vector<CopyDraft> drafts;
  std::vector<float> log_probs;
  RetrievedCopy copy = retrieved_copy_for(title, segment, aspect, options.retrieved_copy);
  const std::unique_ptr<trainer::Model::Decoder> decoder = model_.make_decoder();
  std::vector<float> prompt_hidden;
  for (int32_t t : prompt) prompt_hidden = decoder->append(t, 1, 1, 1, 1);
  const int prompt_length = decoder->length();
  for (int k = 0; k < samples; ++k) {
    TokenSampler sampler(options.sampling, draft_seed(options.seed, request_index, k));
    decoder->truncate(prompt_length);
    copy.restart();
    const std::vector<float>* hidden = &prompt_hidden;
    CopyDraft draft;
    Utf8Guard utf8;
    double sum = 0;
    int scored = 0;
    while (int(draft.tokens.size()) < limit) {  // at the limit the draft ends, cut
      next_log_probs(*hidden, log_probs);
      copy.mix_into(log_probs);
      // Byte tokens that would break the UTF-8 are never drawn (the probabilities stay the
      // model's; the sampler renormalises over what is left).
      const int32_t checked =
          utf8.inside_character() ? int32_t(log_probs.size()) : data::text::kFirstCharToken;
      for (int32_t t = data::text::kEndToken; t < checked; ++t)
        if (!utf8.allows(t)) log_probs[size_t(t)] = -std::numeric_limits<float>::infinity();
      const float model_end = log_probs[size_t(data::text::kEndToken)];
      log_probs[size_t(data::text::kEndToken)] += float(options.end_bias);
      const int32_t next = sampler.next(log_probs, draft.tokens);
      log_probs[size_t(data::text::kEndToken)] = model_end;
      if (next < 0) break;
      sum += double(log_probs[size_t(next)]);
      ++scored;
      if (next == data::text::kEndToken) {
        draft.finished = true;
        break;
      }
      draft.tokens.push_back(next);
      utf8.add(next);
      copy.advance(next);
      if (int(draft.tokens.size()) == limit) break;
      hidden = &decoder->append(next, 1, 1, 1, 1);
    }
    // Cut inside a character (at the length limit): its first bytes go too.
    draft.tokens.resize(draft.tokens.size() - size_t(utf8.partial_bytes()));
    draft.mean_log_prob = scored > 0 ? sum / scored : 0.0;
    draft.text = tokenizer_.decode(draft.tokens);
    drafts.push_back(std::move(draft));
  }
  // Consensus order: each sample's consensus is over every other sample (a repeated draft is
  // evidence too) and the retrieved texts; the n-best closest are returned. The likelihood
  // order returns its n-best samples.
  const double bleu_weight = options.consensus_bleu_weight;
  std::vector<eval::text::Tokens> retrieved;
  if (by_consensus && options.evidence > 0)
    retrieved = retrieval_.texts_for(title, segment, aspect, options.evidence);
  for (size_t a = 0; by_consensus && a < drafts.size(); ++a) {
    double to_drafts = 0, to_texts = 0;
    for (size_t b = 0; b < drafts.size(); ++b)
      if (b != a) to_drafts += copy_similarity(drafts[a].tokens, drafts[b].tokens, bleu_weight);
    for (const eval::text::Tokens& text : retrieved)
      to_texts += copy_similarity(drafts[a].tokens, text, bleu_weight);
    const size_t others = drafts.size() - 1;
    if (others > 0) to_drafts /= double(others);
    if (!retrieved.empty()) to_texts /= double(retrieved.size());
    // The drafts and the retrieved texts weigh half each (whichever there are).
    drafts[a].consensus =
        others > 0 && !retrieved.empty() ? 0.5 * (to_drafts + to_texts) : to_drafts + to_texts;
  }
  std::vector<CopyDraft> distinct;
  for (CopyDraft& d : drafts) {
    const bool repeat = std::any_of(distinct.begin(), distinct.end(),
                                    [&](const CopyDraft& e) { return e.tokens == d.tokens; });
    if (!repeat) distinct.push_back(std::move(d));
  }
  std::stable_sort(distinct.begin(), distinct.end(), [&](const CopyDraft& a, const CopyDraft& b) {
    return by_consensus ? a.consensus > b.consensus : a.mean_log_prob > b.mean_log_prob;
  });
  if (distinct.size() > size_t(options.n_best)) distinct.resize(size_t(options.n_best));
  return distinct;
}

RetrievedCopy CopyWriter::retrieved_copy_for(const std::vector<int32_t>& title, int32_t segment,
                                             int32_t aspect,
                                             const RetrievedCopyOptions& options) const {
  if (options.weight <= 0) return RetrievedCopy({}, 0);
  return RetrievedCopy(retrieval_.texts_for(title, segment, aspect, options.texts), options.weight);
}

int CopyWriter::text_limit(const std::vector<int32_t>& title, int32_t segment, int32_t aspect,
                           int max_tokens) const {
  const int room = max_len() - int(prompt_for(title, segment, aspect).size());
  return max_tokens > 0 ? std::min(max_tokens, room) : room;
}

double CopyWriter::log_likelihood(const std::vector<int32_t>& title, int32_t segment,
                                  int32_t aspect, const std::vector<int32_t>& text,
                                  int64_t* tokens_scored,
                                  const RetrievedCopyOptions& copy_options) const {
  // The layout training reads (the prompt, the text and </s>, cut to max_len); the prompt ends
  // with the <sep>.
  const std::vector<int32_t> sequence =
      data::text::copy_sequence(vocab_, segment, aspect, title.data(), int64_t(title.size()),
                                text.data(), int64_t(text.size()), max_len());
  const size_t prompt_length =
      size_t(std::find(sequence.begin(), sequence.end(), data::text::kSeparatorToken) -
             sequence.begin() + 1);
  RetrievedCopy copy = retrieved_copy_for(title, segment, aspect, copy_options);
  const std::unique_ptr<trainer::Model::Decoder> decoder = model_.make_decoder();
  std::vector<float> log_probs;
  double sum = 0;
  int64_t scored = 0;
  for (size_t p = 0; p + 1 < sequence.size(); ++p) {
    const std::vector<float>& hidden = decoder->append(sequence[p], 1, 1, 1, 1);
    if (p + 1 < prompt_length) continue;
    if (p + 1 > prompt_length) copy.advance(sequence[p]);  // a description token written
    next_log_probs(hidden, log_probs);
    copy.mix_into(log_probs);
    sum += double(log_probs[size_t(sequence[p + 1])]);
    ++scored;
  }
  if (tokens_scored) *tokens_scored = scored;
  return sum;
}

}  // namespace cf::marketing::copy
