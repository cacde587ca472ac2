// End-to-end Evaluator runs on a small corpus written with the corpus writer, checked against a
// naive per-user recomputation (one model call per user, brute-force ranks and baselines).
#include "eval/evaluator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "data/batch.h"
#include "unit/eval/eval_test_corpus.h"
#include "trainer/model/model.h"

namespace cf::eval {
namespace {

using testing::ScratchDir;

struct NaiveMetrics {
  double hr1 = 0, hr10 = 0, ndcg10 = 0, mrr = 0;
  int64_t n = 0;
  void add(int64_t rank) {
    ++n;
    hr1 += rank <= 1;
    hr10 += rank <= 10;
    ndcg10 += rank <= 10 ? 1.0 / std::log2(rank + 1.0) : 0.0;
    mrr += 1.0 / static_cast<double>(rank);
  }
  void expect_matches(const Json& j, const std::string& what) const {
    ASSERT_TRUE(j.is_object()) << what;
    EXPECT_EQ(j.at("n").get<int64_t>(), n) << what;
    EXPECT_NEAR(j.at("hr@1").get<double>(), hr1 / n, 1e-12) << what;
    EXPECT_NEAR(j.at("hr@10").get<double>(), hr10 / n, 1e-12) << what;
    EXPECT_NEAR(j.at("ndcg@10").get<double>(), ndcg10 / n, 1e-12) << what;
    EXPECT_NEAR(j.at("mrr").get<double>(), mrr / n, 1e-12) << what;
  }
};

// Brute force: sort candidates, worst position among equal scores.
int64_t naive_rank(const std::vector<float>& scores, int32_t target,
                   const std::set<int32_t>& excluded) {
  int64_t rank = 1;
  for (int32_t j = 1; j < static_cast<int32_t>(scores.size()); ++j) {
    if (j == target || excluded.count(j)) continue;
    if (!(scores[j] < scores[target])) ++rank;
  }
  return rank;
}

// The model's next-item logits for `seq`'s last event from everything before it, one user per
// model call; `hidden` gets the last hidden state.
std::vector<float> one_user_logits(trainer::Model& model, const data::Sequence& seq,
                                   std::vector<float>& hidden) {
  data::Batch one;
  one.resize(1, model.config().max_len);
  data::fill_batch_row(one, 0, seq, seq.length() - 1, false);
  std::vector<float> scores(static_cast<size_t>(model.vocab().items));
  model.last_hidden(one, hidden);
  model.item_scores(hidden.data(), 1, scores.data());
  return scores;
}

class EvaluatorTest : public ::testing::Test {
 protected:
  void expect_brute_force_baselines(const data::TrainingSplit& split);
  void SetUp() override {
    contents_ = testing::make_eval_corpus();
    path_ = dir_.file("corpus.h5");
    data::write_corpus(path_, contents_);
    corpus_ = data::CorpusReader::open(path_);
  }

  std::vector<data::Sequence> all_sequences() const {
    std::vector<data::Sequence> out;
    corpus_->read_sequences(0, corpus_->num_sequences(), out);
    return out;
  }

  EvalOptions small_batches() const {
    EvalOptions o;
    o.max_batch_rows = 7;  // several model calls, last one partial
    o.read_chunk = 5;
    o.seed = 5;
    return o;
  }

  ScratchDir dir_{"evaluator"};
  data::CorpusContents contents_;
  std::string path_;
  std::unique_ptr<data::CorpusReader> corpus_;
};

TEST_F(EvaluatorTest, ModelMetricsMatchOneUserAtATimeRecomputation) {
  trainer::Model model = testing::make_tiny_model(corpus_->vocab_sizes());
  const EvalReport report = Evaluator(*corpus_, small_batches()).run(&model);
  const Json& m = report.json.at("model");

  NaiveMetrics filtered, unfiltered;
  std::vector<double> logits;
  std::vector<int8_t> labels;
  const int32_t V = corpus_->vocab_sizes().items;
  for (const auto& seq : all_sequences()) {
    const int32_t L = seq.length();
    if (L < 3) continue;
    std::vector<float> hidden;
    std::vector<float> scores = one_user_logits(model, seq, hidden);
    const std::set<int32_t> history(seq.item.begin(), seq.item.end() - 1);
    filtered.add(naive_rank(scores, seq.item[L - 1], history));
    unfiltered.add(naive_rank(scores, seq.item[L - 1], {}));
    float logit = 0;
    model.propensity_logits(hidden.data(), 1, &logit);
    logits.push_back(logit);
    labels.push_back(contents_.label_loo[static_cast<size_t>(seq.index)]);
  }
  ASSERT_GT(filtered.n, 20);
  filtered.expect_matches(m, "model full_filtered");
  unfiltered.expect_matches(m.at("by_protocol").at(kFullUnfiltered), "model full_unfiltered");

  // Propensity: brute-force pairwise AUC and the mean log loss.
  double wins = 0, pairs = 0, loss = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    loss += std::log1p(std::exp(-std::abs(logits[i]))) + std::max(logits[i], 0.0) -
            (labels[i] ? logits[i] : 0.0);
    for (size_t j = 0; j < logits.size(); ++j) {
      if (!labels[i] || labels[j]) continue;
      pairs += 1;
      wins += logits[i] > logits[j] ? 1.0 : logits[i] == logits[j] ? 0.5 : 0.0;
    }
  }
  const Json& p = m.at("propensity");
  ASSERT_GT(pairs, 0);
  EXPECT_NEAR(p.at("auc").get<double>(), wins / pairs, 1e-9);
  EXPECT_NEAR(p.at("log_loss").get<double>(), loss / logits.size(), 1e-6);
  EXPECT_EQ(p.at("n").get<int64_t>(), static_cast<int64_t>(logits.size()));
  EXPECT_TRUE(p.at("ece").is_number());

  const Json& protocol = report.json.at("protocol");
  EXPECT_EQ(protocol.at("n_users").get<int64_t>(), filtered.n);
  EXPECT_EQ(protocol.at("n_items").get<int64_t>(), V - 1);
  EXPECT_EQ(protocol.at("split").get<std::string>(), "test");
  EXPECT_EQ(protocol.at("corpus").at("vocab_fingerprint").get<std::string>(),
            corpus_->vocab_fingerprint());
}

// With a co-occurrence prior weight, "model" ranks logits + w * log(1 + S), S recomputed here
// from the co-occurrence pair weights of the training events, and "model_without_prior" is the
// network alone, as the run without a prior reports it.
TEST_F(EvaluatorTest, WithAPriorWeightTheModelIsScoredWithTheCooccurrencePrior) {
  trainer::Model model = testing::make_tiny_model(corpus_->vocab_sizes());
  EvalOptions with_prior = small_batches();
  with_prior.prior_weight = 4.0f;
  const EvalReport report = Evaluator(*corpus_, with_prior).run(&model);
  const EvalReport plain = Evaluator(*corpus_, small_batches()).run(&model);
  EXPECT_EQ(report.scorers,
            (std::vector<std::string>{"model", "model_without_prior", "popularity", "cooccurrence"}));
  EXPECT_EQ(report.json.at("model_without_prior").at("hr@10").get<double>(),
            plain.json.at("model").at("hr@10").get<double>());
  EXPECT_EQ(report.json.at("model_without_prior").at("ndcg@10").get<double>(),
            plain.json.at("model").at("ndcg@10").get<double>());
  EXPECT_FALSE(plain.json.contains("model_without_prior"));
  EXPECT_EQ(report.json.at("model").at("cooccurrence_prior").at("weight").get<double>(), 4.0);
  EXPECT_NE(report.markdown.find("model_without_prior"), std::string::npos);

  // Co-occurrence pairs of the training events (classic split: [0, L-2)), window 3.
  const int32_t V = corpus_->vocab_sizes().items;
  std::map<std::pair<int32_t, int32_t>, double> pairs;
  for (const auto& seq : all_sequences()) {
    const int32_t train = std::max(0, seq.length() - 2);
    for (int32_t p = 0; p < train; ++p) {
      for (int32_t d = 1; d <= 3 && p + d < train; ++d) pairs[{seq.item[p], seq.item[p + d]}] += 1.0 / d;
    }
  }
  NaiveMetrics filtered;
  for (const auto& seq : all_sequences()) {
    const int32_t L = seq.length();
    if (L < 3) continue;
    std::vector<float> hidden;
    std::vector<float> scores = one_user_logits(model, seq, hidden);
    for (int32_t j = 1; j < V; ++j) {
      float s = 0;
      for (int32_t r = 1; r <= 3 && r <= L - 1; ++r) {
        auto it = pairs.find({seq.item[size_t(L - 1 - r)], j});
        if (it != pairs.end()) s += (1.0f / float(r)) * float(it->second);
      }
      if (s > 0) scores[size_t(j)] += 4.0f * std::log1p(s);
    }
    filtered.add(naive_rank(scores, seq.item[L - 1], std::set<int32_t>(seq.item.begin(), seq.item.end() - 1)));
  }
  filtered.expect_matches(report.json.at("model"), "model with the prior");
  EXPECT_NE(report.json.at("model").at("ndcg@10").get<double>(),
            plain.json.at("model").at("ndcg@10").get<double>());  // the prior changed something
}

// The baselines count what the model trained on: with `split` holding out only some users'
// validation events, the others' count too.
void EvaluatorTest::expect_brute_force_baselines(const data::TrainingSplit& split) {
  EvalOptions options = small_batches();
  options.training_split = split;
  const EvalReport report = Evaluator(*corpus_, options).run(nullptr);
  EXPECT_TRUE(report.json.at("model").is_null());
  const auto sequences = all_sequences();
  const int32_t V = corpus_->vocab_sizes().items;

  // Co-occurrence by brute force with the documented formula (window 3, last 3 items).
  std::map<std::pair<int32_t, int32_t>, double> C;
  for (const auto& seq : sequences) {
    const int32_t train = split.train_length(seq.index, seq.length());
    for (int32_t p = 0; p < train; ++p) {
      for (int32_t d = 1; d <= 3 && p + d < train; ++d) C[{seq.item[p], seq.item[p + d]}] += 1.0 / d;
    }
  }
  const auto& counts = contents_.item_count;
  const double max_count = *std::max_element(counts.begin(), counts.end());

  NaiveMetrics pop_filtered, pop_unfiltered, co_filtered, co_unfiltered;
  for (const auto& seq : sequences) {
    const int32_t L = seq.length();
    if (L < 3) continue;
    const int32_t target = seq.item[L - 1];
    const std::set<int32_t> history(seq.item.begin(), seq.item.end() - 1);
    std::vector<float> pop(static_cast<size_t>(V)), co(static_cast<size_t>(V));
    for (int32_t j = 1; j < V; ++j) {
      pop[j] = static_cast<float>(counts[j]);
      double s = 1e-3 / 9.0 * counts[j] / (1.0 + max_count);
      for (int r = 1; r <= 3 && r <= L - 1; ++r) {
        auto it = C.find({seq.item[L - 1 - r], j});
        if (it != C.end()) s += it->second / r;
      }
      co[j] = static_cast<float>(s);
    }
    pop_filtered.add(naive_rank(pop, target, history));
    pop_unfiltered.add(naive_rank(pop, target, {}));
    co_filtered.add(naive_rank(co, target, history));
    co_unfiltered.add(naive_rank(co, target, {}));
  }
  const Json& b = report.json.at("baselines");
  pop_filtered.expect_matches(b.at("popularity"), "popularity");
  pop_unfiltered.expect_matches(b.at("popularity").at("by_protocol").at(kFullUnfiltered),
                                "popularity unfiltered");
  co_filtered.expect_matches(b.at("cooccurrence"), "cooccurrence");
  co_unfiltered.expect_matches(b.at("cooccurrence").at("by_protocol").at(kFullUnfiltered),
                               "cooccurrence unfiltered");
  // The walk structure of the corpus makes co-occurrence beat popularity.
  EXPECT_GT(b.at("cooccurrence").at("hr@10").get<double>(),
            b.at("popularity").at("hr@10").get<double>());
}

TEST_F(EvaluatorTest, BaselinesMatchBruteForcePopularityAndCooccurrence) {
  expect_brute_force_baselines(data::TrainingSplit());
}

TEST_F(EvaluatorTest, BaselinesCountTheEventsOfTheModelsTrainingSplit) {
  std::vector<int64_t> every_third;
  for (int64_t i = 0; i < corpus_->num_sequences(); i += 3) every_third.push_back(i);
  const data::TrainingSplit split =
      data::TrainingSplit::holding_out_only(corpus_->num_sequences(), every_third);
  expect_brute_force_baselines(split);
  EvalOptions classic = small_batches(), sampled = small_batches();
  sampled.training_split = split;
  EXPECT_NE(Evaluator(*corpus_, classic).run(nullptr).json.at("baselines").dump(),
            Evaluator(*corpus_, sampled).run(nullptr).json.at("baselines").dump());

  // On the validation split only users whose validation event training left out are scored.
  sampled.split = data::Split::kValidation;
  int64_t expected = 0;
  for (const auto& seq : all_sequences())
    expected += seq.length() >= 3 && seq.index % 3 == 0 ? 1 : 0;
  ASSERT_GT(expected, 0);
  EXPECT_EQ(Evaluator(*corpus_, sampled).run(nullptr).json.at("protocol").at("n_users").get<int64_t>(),
            expected);
}

TEST_F(EvaluatorTest, SampledProtocolsRankAtLeastAsHighAsFullFiltered) {
  // Negatives are a subset of the filtered candidates, so per user the sampled rank is <= the
  // full filtered rank: every averaged metric can only go up.
  trainer::Model model = testing::make_tiny_model(corpus_->vocab_sizes());
  EvalOptions o = small_batches();
  o.num_negatives = 10;
  const Json j = Evaluator(*corpus_, o).run(&model).json;
  std::vector<const Json*> scorers = {&j.at("model"), &j.at("baselines").at("popularity"),
                                      &j.at("baselines").at("cooccurrence")};
  for (const Json* s : scorers) {
    for (const char* protocol : {kSampledUniform, kSampledPopularity}) {
      const Json& sampled = s->at("by_protocol").at(protocol);
      for (const char* key : {"hr@1", "hr@5", "ndcg@10", "mrr"}) {
        EXPECT_GE(sampled.at(key).get<double>() + 1e-12, s->at(key).get<double>())
            << protocol << " " << key;
      }
      // 1 target + 10 negatives: every user is within the top 11.
      EXPECT_NEAR(sampled.at("hr@20").get<double>(), 1.0, 1e-12) << protocol;
    }
  }
}

// Every number of two reports, compared with a tolerance (the model's float sums may differ in
// the last bits between batch shapes); strings and integers must be equal.
void expect_json_near(const Json& a, const Json& b, const std::string& where = "") {
  ASSERT_EQ(a.type(), b.type()) << where;
  if (a.is_object()) {
    ASSERT_EQ(a.size(), b.size()) << where;
    for (const auto& [key, value] : a.items()) {
      ASSERT_TRUE(b.contains(key)) << where << "/" << key;
      expect_json_near(value, b.at(key), where + "/" + key);
    }
  } else if (a.is_number_float()) {
    EXPECT_NEAR(a.get<double>(), b.get<double>(), 1e-6) << where;
  } else {
    EXPECT_EQ(a, b) << where;
  }
}

TEST_F(EvaluatorTest, DeterministicAndBaselinesIndependentOfTheModel) {
  trainer::Model model = testing::make_tiny_model(corpus_->vocab_sizes());
  EvalOptions o = small_batches();
  o.num_negatives = 10;  // fewer than the candidates, so the draw matters
  const Json a = Evaluator(*corpus_, o).run(&model).json;
  EXPECT_EQ(a.dump(), Evaluator(*corpus_, o).run(&model).json.dump());  // same run, same bytes
  EvalOptions other_batching = o;
  other_batching.max_batch_rows = 256;
  other_batching.read_chunk = 1024;
  expect_json_near(a, Evaluator(*corpus_, other_batching).run(&model).json);
  const Json c = Evaluator(*corpus_, o).run(nullptr).json;
  EXPECT_EQ(a.at("baselines").dump(), c.at("baselines").dump());
  EvalOptions reseeded = o;
  reseeded.seed = 6;
  const Json d = Evaluator(*corpus_, reseeded).run(&model).json;
  EXPECT_EQ(a.at("model").at("hr@10"), d.at("model").at("hr@10"));  // full ranking: no sampling
  EXPECT_NE(a.at("model").at("by_protocol").at(kSampledUniform).dump(),
            d.at("model").at("by_protocol").at(kSampledUniform).dump());
  EXPECT_NE(a.at("baselines").at("popularity").at("by_protocol").at(kSampledPopularity).dump(),
            d.at("baselines").at("popularity").at("by_protocol").at(kSampledPopularity).dump());
}

TEST_F(EvaluatorTest, MaxUsersAndValidationSplit) {
  EvalOptions o = small_batches();
  o.max_users = 9;
  const Json j = Evaluator(*corpus_, o).run(nullptr).json;
  EXPECT_EQ(j.at("protocol").at("n_users").get<int64_t>(), 9);
  EXPECT_EQ(j.at("baselines").at("popularity").at("n").get<int64_t>(), 9);

  // Validation: target = second-to-last event, input = the events before it.
  o.max_users = 0;
  o.split = data::Split::kValidation;
  const Json v = Evaluator(*corpus_, o).run(nullptr).json;
  NaiveMetrics pop;
  const int32_t V = corpus_->vocab_sizes().items;
  std::vector<float> scores(static_cast<size_t>(V));
  for (int32_t jtok = 1; jtok < V; ++jtok) scores[jtok] = static_cast<float>(contents_.item_count[jtok]);
  for (const auto& seq : all_sequences()) {
    const int32_t L = seq.length();
    if (L < 3) continue;
    const std::set<int32_t> history(seq.item.begin(), seq.item.end() - 2);
    pop.add(naive_rank(scores, seq.item[L - 2], history));
  }
  pop.expect_matches(v.at("baselines").at("popularity"), "validation popularity");
  EXPECT_EQ(v.at("protocol").at("split").get<std::string>(), "validation");
}

TEST_F(EvaluatorTest, ModelWithAnotherItemVocabularyIsAUserError) {
  data::VocabSizes other = corpus_->vocab_sizes();
  other.items += 3;
  trainer::Model model = testing::make_tiny_model(other);
  try {
    Evaluator(*corpus_, small_batches()).run(&model);
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path_ + ": ", 0), 0u) << e.what();
  }
}

TEST_F(EvaluatorTest, ModelWithoutPropensityHeadHasNoPropensityBlock) {
  trainer::Model model = testing::make_tiny_model(corpus_->vocab_sizes(), false);
  const Json j = Evaluator(*corpus_, small_batches()).run(&model).json;
  EXPECT_FALSE(j.at("model").contains("propensity"));
}

TEST_F(EvaluatorTest, MarkdownSummaryListsEveryScorerAndTheLift) {
  trainer::Model model = testing::make_tiny_model(corpus_->vocab_sizes());
  const EvalReport report = Evaluator(*corpus_, small_batches()).run(&model);
  const std::string& md = report.markdown;
  EXPECT_NE(md.find("| model |"), std::string::npos) << md;
  EXPECT_NE(md.find("| popularity |"), std::string::npos);
  EXPECT_NE(md.find("| cooccurrence |"), std::string::npos);
  EXPECT_NE(md.find("1.00x"), std::string::npos);  // popularity over itself
  EXPECT_NE(md.find("Purchase propensity"), std::string::npos);
  EXPECT_EQ(md, render_markdown_summary(report.json));
}

}  // namespace
}  // namespace cf::eval
