#include "marketing/copy/copy_evaluation.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <memory>

#include "core/error.h"
#include "eval/text/text_baselines.h"
#include "eval/text/text_metrics.h"
#include "report/bootstrap.h"
#include "trainer/comm/communicator.h"
#include "trainer/task_rows.h"

namespace cf::marketing::copy {

namespace {

using data::text::TextSplit;
using eval::text::Tokens;

const char* split_name(TextSplit split) {
  switch (split) {
    case TextSplit::kTrain:
      return "train";
    case TextSplit::kValidation:
      return "validation";
    case TextSplit::kTest:
      return "test";
  }
  return "?";
}

std::vector<int64_t> pairs_of(const data::text::TextCorpus& corpus, TextSplit split) {
  std::vector<int64_t> pairs;
  for (int64_t i = 0; i < corpus.num_pairs(); ++i)
    if (corpus.split[size_t(i)] == int8_t(split)) pairs.push_back(i);
  return pairs;
}

// The model's perplexity of the human descriptions (and their </s>) of `pairs`: the trainer's
// own validation loss (trainer/task_rows.h) over them, batched, without dropout.
double model_perplexity(CopyWriter& writer, const std::vector<int64_t>& pairs) {
  trainer::TaskSpec task;
  task.kind = trainer::TaskKind::kCopy;
  constexpr int kMicroBatch = 32;
  const trainer::ValidationSet set(writer.sequences(), int(pairs.size()), task, kMicroBatch,
                                   writer.max_len(), pairs);
  trainer::comm::LocalComm comm;
  const double mean_nll = set.loss(
      writer.sequences(),
      [&](const data::Batch& batch, const trainer::LossOptions& loss) {
        return writer.model().evaluate_loss(batch, loss);
      },
      comm);
  return std::exp(mean_nll);
}

// The perplexity of the same texts under the distribution the drafts are drawn from when
// retrieved texts are mixed in (CopyWriter::log_likelihood, one pair per thread).
double retrieved_copy_perplexity(const CopyWriter& writer, const data::text::TextCorpus& corpus,
                                 const std::vector<int64_t>& pairs,
                                 const RetrievedCopyOptions& copy) {
  double nll = 0;
  int64_t tokens = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : nll, tokens)
  for (size_t k = 0; k < pairs.size(); ++k) {
    const int64_t i = pairs[k];
    int64_t scored = 0;
    nll -= writer.log_likelihood(eval::text::title_of(corpus, i), corpus.segment[size_t(i)],
                                 corpus.aspect[size_t(i)], eval::text::text_of(corpus, i), &scored,
                                 copy);
    tokens += scored;
  }
  return std::exp(nll / double(std::max<int64_t>(tokens, 1)));
}

double mean_length(const std::vector<Tokens>& texts) {
  double total = 0;
  for (const Tokens& t : texts) total += double(t.size());
  return texts.empty() ? 0.0 : total / double(texts.size());
}

// One system's per-pair BLEU-4 statistics and ROUGE-L against the human texts, computed once:
// the metrics table and the bootstrap resamples both sum them.
struct PairScores {
  std::vector<eval::text::BleuStatistics> bleu;
  std::vector<double> rouge;

  PairScores(const std::vector<Tokens>& texts, const std::vector<Tokens>& references)
      : bleu(references.size()), rouge(references.size()) {
    for (size_t k = 0; k < references.size(); ++k) {
      bleu[k] = eval::text::bleu_statistics(texts[k], references[k]);
      rouge[k] = eval::text::rouge_l(texts[k], references[k]);
    }
  }
  // {corpus BLEU-4, mean ROUGE-L} over `indices` (a resample; repeats count again).
  std::vector<double> over(const std::vector<int64_t>& indices) const {
    eval::text::BleuStatistics sum;
    double rouge_sum = 0;
    for (const int64_t i : indices) {
      sum += bleu[size_t(i)];
      rouge_sum += rouge[size_t(i)];
    }
    return {eval::text::bleu4_of(sum), indices.empty() ? 0.0 : rouge_sum / double(indices.size())};
  }
  std::vector<double> over_all() const {
    std::vector<int64_t> all(rouge.size());
    for (size_t k = 0; k < all.size(); ++k) all[k] = int64_t(k);
    return over(all);
  }
};

// Model minus baseline on BLEU-4 and ROUGE-L, with paired bootstrap intervals over the pairs
// (each resample draws pairs once and scores both systems on them).
Json paired_comparison(const PairScores& model, const PairScores& baseline,
                       const report::BootstrapOptions& options) {
  const std::vector<report::PairedDifference> d = report::paired_bootstrap_statistic(
      int64_t(model.rouge.size()),
      [&](const std::vector<int64_t>& indices) { return baseline.over(indices); },
      [&](const std::vector<int64_t>& indices) { return model.over(indices); }, options);
  const auto entry = [](const report::PairedDifference& p) {
    return Json{{"difference", p.difference},
                {"lower", p.lower},
                {"upper", p.upper},
                {"significant", p.significant}};
  };
  return Json{{"bleu4", entry(d[0])}, {"rouge_l", entry(d[1])}};
}

Json text_metrics(const std::vector<Tokens>& candidates, const PairScores& scores) {
  const std::vector<double> overlap = scores.over_all();
  return Json{{"bleu4", overlap[0]},
              {"rouge_l", overlap[1]},
              {"distinct_1", eval::text::distinct_n(candidates, 1)},
              {"distinct_2", eval::text::distinct_n(candidates, 2)},
              {"mean_length", mean_length(candidates)}};
}

}  // namespace

Json evaluate_copy(CopyWriter& writer, const CopyEvaluationOptions& options,
                   const std::function<void(int64_t, int64_t)>& progress) {
  const data::text::TextCorpus& corpus = writer.corpus();
  std::vector<int64_t> pairs = pairs_of(corpus, options.split);
  if (options.max_pairs > 0 && int64_t(pairs.size()) > options.max_pairs)
    pairs.resize(size_t(options.max_pairs));
  if (pairs.empty())
    throw UserError(writer.sequences().path() + ": no " + split_name(options.split) +
                    " pairs to evaluate");
  const std::vector<int64_t> validation = pairs_of(corpus, TextSplit::kValidation);
  // The text tokens (and </s>) the model scores of a pair: what max_len leaves after its prompt.
  const auto scored_tokens = [&](int64_t i) {
    return size_t(writer.text_limit(eval::text::title_of(corpus, i),
                                    corpus.segment[size_t(i)], corpus.aspect[size_t(i)], 0));
  };

  // The n-gram baseline's order: the lowest perplexity on the validation pairs.
  int best_order = 3;
  double best_validation = std::numeric_limits<double>::infinity();
  std::unique_ptr<eval::text::CharNgramLm> ngram;
  for (int order = 2; order <= 6; ++order) {
    auto lm = std::make_unique<eval::text::CharNgramLm>(order, writer.tokenizer().vocab_size());
    lm->train(corpus);
    const double ppl = validation.empty() ? 0.0 : lm->perplexity(corpus, validation, scored_tokens);
    if (!ngram || ppl < best_validation) {
      best_validation = ppl;
      best_order = order;
      ngram = std::move(lm);
    }
    if (validation.empty()) break;
  }
  const eval::text::RetrievalBaseline& retrieval = writer.retrieval();

  const size_t n = pairs.size();
  std::vector<Tokens> references(n), model_texts(n), retrieval_texts(n), ngram_texts(n);
  const WritingOptions& writing = options.writing;
  // Pairs spread over the threads (each pair has its own decoder and each draft its own seed
  // stream, so the outcome does not depend on the thread count).
  std::exception_ptr failure;
  std::atomic<int64_t> done{0};
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t k = 0; k < n; ++k) {
    try {
      const int64_t i = pairs[k];
      const int32_t segment = corpus.segment[size_t(i)], aspect = corpus.aspect[size_t(i)];
      const Tokens title = eval::text::title_of(corpus, i);
      references[k] = eval::text::text_of(corpus, i);
      const std::vector<CopyDraft> drafts =
          writer.write_tokens(title, segment, aspect, int64_t(k), writing);
      model_texts[k] = drafts.empty() ? Tokens{} : drafts.front().tokens;
      retrieval_texts[k] = retrieval.text_for(title, segment, aspect);
      // The n-gram model writes at most what the neural model may.
      ngram_texts[k] = ngram->generate_greedy(
          eval::text::prompt_of(corpus, i),
          writer.text_limit(title, segment, aspect, writing.max_tokens), options.ngram_no_repeat);
      const int64_t finished = ++done;
      if (progress) {
#pragma omp critical(cf_copy_evaluation_progress)
        progress(finished, int64_t(n));
      }
    } catch (...) {
#pragma omp critical(cf_copy_evaluation_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);

  const PairScores model_scores(model_texts, references),
      retrieval_scores(retrieval_texts, references), ngram_scores(ngram_texts, references);
  Json model = text_metrics(model_texts, model_scores);
  model["perplexity"] = model_perplexity(writer, pairs);
  if (writing.retrieved_copy.weight > 0)
    model["retrieved_copy_perplexity"] =
        retrieved_copy_perplexity(writer, corpus, pairs, writing.retrieved_copy);
  Json ngram_json = text_metrics(ngram_texts, ngram_scores);
  ngram_json["perplexity"] = ngram->perplexity(corpus, pairs, scored_tokens);
  ngram_json["order"] = best_order;
  ngram_json["validation_perplexity"] = best_validation;
  report::BootstrapOptions bootstrap;  // the report's defaults: 1000 resamples, 95%
  const Json comparisons = {
      {"retrieval", paired_comparison(model_scores, retrieval_scores, bootstrap)},
      {"ngram", paired_comparison(model_scores, ngram_scores, bootstrap)}};
  const Json human = {{"distinct_1", eval::text::distinct_n(references, 1)},
                      {"distinct_2", eval::text::distinct_n(references, 2)},
                      {"mean_length", mean_length(references)}};

  // Samples: the first pairs of each (segment, aspect), beside the human text.
  Json samples = Json::array();
  std::map<std::pair<int32_t, int32_t>, int> shown;
  const data::text::CharTokenizer& tokenizer = writer.tokenizer();
  for (size_t k = 0; k < pairs.size(); ++k) {
    const int64_t i = pairs[k];
    int& count = shown[{corpus.segment[size_t(i)], corpus.aspect[size_t(i)]}];
    if (count >= options.samples_per_group) continue;
    ++count;
    samples.push_back(Json{{"pair", i},
                           {"segment", corpus.segments[size_t(corpus.segment[size_t(i)])]},
                           {"aspect", corpus.aspects[size_t(corpus.aspect[size_t(i)])]},
                           {"title", tokenizer.decode(eval::text::title_of(corpus, i))},
                           {"human", tokenizer.decode(references[k])},
                           {"model", tokenizer.decode(model_texts[k])},
                           {"retrieval", tokenizer.decode(retrieval_texts[k])},
                           {"ngram", tokenizer.decode(ngram_texts[k])}});
  }

  const SamplingOptions& s = writing.sampling;
  return Json{
      {"kind", "copy_evaluation"},
      {"checkpoint", writer.checkpoint_dir()},
      {"step", writer.step()},
      {"corpus", writer.sequences().path()},
      {"split", split_name(options.split)},
      {"pairs", int64_t(pairs.size())},
      {"decoding",
       {{"greedy", s.greedy},
        {"temperature", s.temperature},
        {"top_k", s.top_k},
        {"top_p", s.top_p},
        {"no_repeat_ngram", s.no_repeat_ngram},
        {"n_best", writing.n_best},
        {"order", writing.order == DraftOrder::kConsensus ? "consensus" : "likelihood"},
        {"evidence", writing.evidence},
        {"consensus_samples", writing.consensus_samples},
        {"consensus_bleu_weight", writing.consensus_bleu_weight},
        {"max_tokens", writing.max_tokens},
        {"end_bias", writing.end_bias},
        {"retrieved_copy", writing.retrieved_copy.weight},
        {"retrieved_texts", writing.retrieved_copy.texts},
        {"draft_lanes", writing.draft_lanes},
        {"seed", writing.seed}}},
      {"systems",
       {{"model", model},
        {"retrieval", text_metrics(retrieval_texts, retrieval_scores)},
        {"ngram", ngram_json}}},
      {"comparisons", comparisons},
      {"bootstrap",
       {{"resamples", bootstrap.resamples}, {"level", bootstrap.level}, {"seed", bootstrap.seed}}},
      {"human", human},
      {"samples", samples}};
}

}  // namespace cf::marketing::copy
