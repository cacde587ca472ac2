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

// One draft being written: its sampler, its retrieved-copy state, its UTF-8 guard, its tokens.
struct CopyWriter::DraftInProgress {
  DraftInProgress(int k, const SamplingOptions& sampling, uint64_t seed, const RetrievedCopy& c)
      : index(k), sampler(sampling, seed), copy(c) {}

  // Draws the next token from `log_probs` (the model's, normalised; this changes them): mixes
  // in the retrieved copy, keeps the UTF-8 whole, adds the end bias for the draw only. Sets
  // `done` when the draft ended (</s>, nothing left to draw, or `limit` tokens).
  void take_next(std::vector<float>& log_probs, double end_bias, int limit) {
    copy.mix_into(log_probs);
    // Byte tokens that would break the UTF-8 are never drawn (the probabilities stay the
    // model's; the sampler renormalises over what is left).
    const int32_t checked =
        utf8.inside_character() ? int32_t(log_probs.size()) : data::text::kFirstCharToken;
    for (int32_t t = data::text::kEndToken; t < checked; ++t)
      if (!utf8.allows(t)) log_probs[size_t(t)] = -std::numeric_limits<float>::infinity();
    const float model_end = log_probs[size_t(data::text::kEndToken)];
    log_probs[size_t(data::text::kEndToken)] += float(end_bias);
    const int32_t next = sampler.next(log_probs, draft.tokens);
    log_probs[size_t(data::text::kEndToken)] = model_end;
    if (next < 0) {
      done = true;
      return;
    }
    sum += double(log_probs[size_t(next)]);
    ++scored;
    if (next == data::text::kEndToken) {
      draft.finished = true;
      done = true;
      return;
    }
    draft.tokens.push_back(next);
    utf8.add(next);
    copy.advance(next);
    done = int(draft.tokens.size()) == limit;  // at the limit the draft ends, cut
  }

  CopyDraft finish(const data::text::CharTokenizer& tokenizer) {
    // Cut inside a character (at the length limit): its first bytes go too.
    draft.tokens.resize(draft.tokens.size() - size_t(utf8.partial_bytes()));
    draft.mean_log_prob = scored > 0 ? sum / scored : 0.0;
    draft.text = tokenizer.decode(draft.tokens);
    return std::move(draft);
  }

  int index;  // which of the request's samples (its seed stream)
  TokenSampler sampler;
  RetrievedCopy copy;
  Utf8Guard utf8;
  CopyDraft draft;
  double sum = 0;  // of the drawn tokens' log-probabilities
  int scored = 0;
  bool done = false;
};

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

void CopyWriter::next_log_probs(const float* hidden, int rows, std::vector<float>& out) const {
  const size_t V = size_t(vocab_.size());
  out.resize(size_t(rows) * V);
  model_.item_scores(hidden, rows, out.data());
  const float minus_inf = -std::numeric_limits<float>::infinity();
  for (int r = 0; r < rows; ++r) {
    float* row = out.data() + size_t(r) * V;
    for (int32_t t : {data::text::kPadToken, data::text::kBeginToken, data::text::kSeparatorToken})
      row[size_t(t)] = minus_inf;
    std::fill(row + vocab_.tokenizer_size, row + V, minus_inf);  // the tags
    float top = minus_inf;
    for (size_t i = 0; i < V; ++i) top = std::max(top, row[i]);
    double sum = 0;
    for (size_t i = 0; i < V; ++i) sum += std::exp(double(row[i]) - double(top));
    const float log_sum = float(double(top) + std::log(sum));
    for (size_t i = 0; i < V; ++i) row[i] -= log_sum;
  }
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
  if (options.draft_lanes < 1)
    throw UserError("--draft-lanes: must be >= 1, got " + std::to_string(options.draft_lanes));
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

  // The prompt is fed once, into lane 0, and copied to the other lanes; the drafts are written
  // draft_lanes at a time, one lane each, all stepping together (one matrix product per step
  // for all of them). The last running draft moves into a finished draft's lane, so the running
  // drafts always fill the first lanes.
  std::vector<CopyDraft> drafts(static_cast<size_t>(samples));
  // The nearest training titles' texts are looked up once for both their uses (the retrieved
  // copy, the consensus evidence): nearest first, so each use takes its first K.
  const int copied_texts = options.retrieved_copy.weight > 0 ? options.retrieved_copy.texts : 0;
  const int evidence_texts = by_consensus ? options.evidence : 0;
  std::vector<eval::text::Tokens> nearest;
  if (std::max(copied_texts, evidence_texts) > 0)
    nearest = retrieval_.texts_for(title, segment, aspect, std::max(copied_texts, evidence_texts));
  const auto first_texts = [&](int k) {
    return std::vector<eval::text::Tokens>(
        nearest.begin(), nearest.begin() + std::min<ptrdiff_t>(k, ptrdiff_t(nearest.size())));
  };
  const RetrievedCopy copy(first_texts(copied_texts),
                           copied_texts > 0 ? options.retrieved_copy.weight : 0);
  const int lanes = std::min(samples, options.draft_lanes);
  const std::unique_ptr<trainer::Model::Decoder> decoder = model_.make_decoder(lanes);
  std::vector<float> prompt_hidden;
  for (int32_t t : prompt) prompt_hidden = decoder->append(t, 1, 1, 1, 1);
  const int prompt_length = decoder->length();
  for (int lane = 1; lane < lanes; ++lane) decoder->copy_lane(0, lane);
  const size_t C = size_t(model_.config().d_model), V = size_t(vocab_.size());
  std::vector<float> hidden, log_probs, lane_log_probs;
  const std::vector<int32_t> ones(size_t(lanes), 1);
  std::vector<int32_t> tokens;
  for (int first = 0; first < samples; first += lanes) {
    decoder->truncate(prompt_length);
    std::vector<DraftInProgress> running;
    for (int k = first; k < std::min(samples, first + lanes); ++k)
      running.emplace_back(k, options.sampling, draft_seed(options.seed, request_index, k), copy);
    hidden.resize(running.size() * C);
    for (size_t lane = 0; lane < running.size(); ++lane)
      std::copy_n(prompt_hidden.data(), C, hidden.data() + lane * C);
    while (!running.empty()) {
      next_log_probs(hidden.data(), int(running.size()), log_probs);
      for (size_t lane = 0; lane < running.size(); ++lane) {
        lane_log_probs.assign(log_probs.begin() + ptrdiff_t(lane * V),
                              log_probs.begin() + ptrdiff_t((lane + 1) * V));
        running[lane].take_next(lane_log_probs, options.end_bias, limit);
      }
      for (size_t lane = 0; lane < running.size();) {
        if (!running[lane].done) {
          ++lane;
          continue;
        }
        drafts[size_t(running[lane].index)] = running[lane].finish(tokenizer_);
        const size_t last = running.size() - 1;
        if (lane != last) {
          decoder->copy_lane(int(last), int(lane));
          running[lane] = std::move(running[last]);
        }
        running.pop_back();
      }
      if (running.empty()) break;
      tokens.clear();
      for (const DraftInProgress& d : running) tokens.push_back(d.draft.tokens.back());
      const int n = int(running.size());
      const std::vector<float>& rows = decoder->append_lanes(n, tokens.data(), ones.data(),
                                                             ones.data(), ones.data(), ones.data());
      hidden.assign(rows.begin(), rows.begin() + ptrdiff_t(size_t(n) * C));
    }
  }
  // Consensus order: each sample's consensus is over every other sample (a repeated draft is
  // evidence too) and the retrieved texts; the n-best closest are returned. The likelihood
  // order returns its n-best samples.
  const double bleu_weight = options.consensus_bleu_weight;
  const std::vector<eval::text::Tokens> retrieved = first_texts(evidence_texts);
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
    next_log_probs(hidden.data(), 1, log_probs);
    copy.mix_into(log_probs);
    sum += double(log_probs[size_t(sequence[p + 1])]);
    ++scored;
  }
  if (tokens_scored) *tokens_scored = scored;
  return sum;
}

}  // namespace cf::marketing::copy
