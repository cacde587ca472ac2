// ValidationRanking against a naive per-user recomputation (one model call per user,
// brute-force filtered ranks): the in-training metric must be eval's full_filtered protocol on
// the validation split. The corpus and model come from the eval tests' support header (data
// and model only; nothing of cf_eval is linked).
#include "trainer/validation_ranking.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "data/batch.h"
#include "trainer/cooccurrence_prior.h"
#include "unit/eval/eval_test_corpus.h"

namespace cf::trainer {
namespace {

using eval::testing::ScratchDir;

struct Naive {
  double hr10 = 0, ndcg10 = 0;
  int64_t n = 0;
};

// With `prior`: scores[j] += weight * log(1 + S(j)) where S(j) > 0, S recomputed here from the
// table's pair weights (not its sparse row merge).
Naive naive_metrics(Model& model, const data::CorpusReader& corpus, const std::vector<int64_t>& ids,
                    const ranking::CooccurrenceTable* prior = nullptr, float weight = 0) {
  Naive out;
  const int32_t items = corpus.vocab_sizes().items;
  data::Sequence seq;
  data::Batch batch;
  std::vector<float> hidden;
  std::vector<float> scores(static_cast<size_t>(items));
  for (int64_t id : ids) {
    corpus.read_sequence(id, seq);
    const int32_t visible = data::visible_length(seq.length(), data::Split::kValidation);
    const int32_t target = seq.item[size_t(visible)];
    batch.resize(1, std::min(visible, model.config().max_len));
    data::fill_batch_row(batch, 0, seq, visible, false);
    model.last_hidden(batch, hidden);
    model.item_scores(hidden.data(), 1, scores.data());
    if (prior && weight != 0) {
      const int recent = prior->params().recent_items;
      for (int32_t j = 1; j < items; ++j) {
        float s = 0;
        for (int32_t r = 1; r <= recent && r <= visible; ++r) {
          s += (1.0f / float(r)) * prior->weight(seq.item[size_t(visible - r)], j);
        }
        if (s > 0) scores[size_t(j)] += weight * std::log1p(s);
      }
    }
    const std::set<int32_t> history(seq.item.begin(), seq.item.begin() + visible);
    int64_t rank = 1;
    for (int32_t j = 1; j < items; ++j) {
      if (j == target || history.count(j)) continue;
      if (!(scores[size_t(j)] < scores[size_t(target)])) ++rank;  // ties rank above
    }
    ++out.n;
    out.hr10 += rank <= 10;
    out.ndcg10 += rank <= 10 ? 1.0 / std::log2(rank + 1.0) : 0.0;
  }
  out.hr10 /= double(out.n);
  out.ndcg10 /= double(out.n);
  return out;
}

class ValidationRankingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = dir_.file("corpus.h5");
    data::write_corpus(path, eval::testing::make_eval_corpus());
    corpus_ = data::CorpusReader::open(path);
  }
  std::vector<int64_t> eligible() const {
    std::vector<int64_t> ids;
    const auto& offsets = corpus_->offsets();
    for (int64_t i = 0; i + 1 < int64_t(offsets.size()); ++i) {
      if (offsets[size_t(i) + 1] - offsets[size_t(i)] >= 3) ids.push_back(i);
    }
    return ids;
  }
  ScratchDir dir_{"validation_ranking"};
  std::unique_ptr<data::CorpusReader> corpus_;
  comm::LocalComm comm_;
};

TEST_F(ValidationRankingTest, EveryUserMatchesTheNaiveFilteredRanking) {
  Model model = eval::testing::make_tiny_model(corpus_->vocab_sizes(), false);
  const ValidationRanking ranking(*corpus_, 0);
  const std::vector<int64_t> ids = eligible();
  ASSERT_EQ(ranking.size(), int64_t(ids.size()));
  const Naive expected = naive_metrics(model, *corpus_, ids);
  ASSERT_GT(expected.hr10, 0);  // the comparison means something
  ASSERT_LT(expected.hr10, 1);
  for (int rows : {256, 7, 1}) {  // batching never changes a rank
    const ValidationRanks got = ranking.score(model, *corpus_, comm_, nullptr, false, rows);
    EXPECT_EQ(got.users, expected.n) << rows;
    EXPECT_NEAR(got.hr_at_10, expected.hr10, 1e-12) << rows;
    EXPECT_NEAR(got.ndcg_at_10, expected.ndcg10, 1e-12) << rows;
  }
}

TEST_F(ValidationRankingTest, WithACooccurrencePriorTheBestWeightIsChosenAndEachMatchesNaive) {
  Model model = eval::testing::make_tiny_model(corpus_->vocab_sizes(), false);
  const ValidationRanking ranking(*corpus_, 0);
  const std::vector<int64_t> ids = eligible();
  const auto table = build_cooccurrence_table(*corpus_, data::TrainingSplit());
  ASSERT_GT(table->num_pairs(), 0);
  std::vector<Naive> per_weight;
  for (float w : kPriorWeights)
    per_weight.push_back(naive_metrics(model, *corpus_, ids, table.get(), w));
  for (bool by_hr : {false, true}) {
    size_t best = 0;
    for (size_t w = 1; w < per_weight.size(); ++w) {
      const double a = by_hr ? per_weight[w].hr10 : per_weight[w].ndcg10;
      const double b = by_hr ? per_weight[best].hr10 : per_weight[best].ndcg10;
      if (a > b + 1e-12) best = w;
    }
    // On this corpus the prior lifts NDCG@10 but leaves every HR@10 equal, so by HR the tie
    // rule keeps weight 0, and by NDCG a positive weight wins.
    if (by_hr) {
      ASSERT_EQ(best, 0u);
    } else {
      ASSERT_NE(best, 0u) << "the prior must change the ranking for this test to mean something";
    }
    for (int rows : {256, 5}) {
      const ValidationRanks got = ranking.score(model, *corpus_, comm_, table.get(), by_hr, rows);
      EXPECT_EQ(got.prior_weight, kPriorWeights[best]) << by_hr;
      EXPECT_NEAR(got.hr_at_10, per_weight[best].hr10, 1e-12);
      EXPECT_NEAR(got.ndcg_at_10, per_weight[best].ndcg10, 1e-12);
      EXPECT_NEAR(got.model_hr_at_10, per_weight[0].hr10, 1e-12);
      EXPECT_NEAR(got.model_ndcg_at_10, per_weight[0].ndcg10, 1e-12);
      EXPECT_EQ(got.users, per_weight[0].n);
    }
  }
}

TEST_F(ValidationRankingTest, ASampleIsEvenlySpreadAndFixed) {
  Model model = eval::testing::make_tiny_model(corpus_->vocab_sizes(), false);
  const std::vector<int64_t> ids = eligible();
  const int64_t n = 10;
  std::vector<int64_t> spread;
  for (int64_t k = 0; k < n; ++k) spread.push_back(ids[size_t(k * int64_t(ids.size()) / n)]);
  const ValidationRanking ranking(*corpus_, n);
  EXPECT_EQ(ranking.size(), n);
  const Naive expected = naive_metrics(model, *corpus_, spread);
  const ValidationRanks got = ranking.score(model, *corpus_, comm_);
  EXPECT_EQ(got.users, n);
  EXPECT_NEAR(got.ndcg_at_10, expected.ndcg10, 1e-12);
  EXPECT_NEAR(got.hr_at_10, expected.hr10, 1e-12);
  // More users than there are: all of them.
  EXPECT_EQ(ValidationRanking(*corpus_, 100000).size(), int64_t(ids.size()));
}

// The training side of validation.holdout: validation users keep their validation event out of
// training, every other user trains through it, nobody's test event is ever trained on.
TEST_F(ValidationRankingTest, TrainingSplitHoldsOutOnlyTheValidationUsers) {
  using data::TrainingSplit;
  const std::vector<int64_t> sample = data::validation_user_ids(*corpus_, 7);
  ASSERT_EQ(sample.size(), 7u);
  EXPECT_EQ(sample, ValidationRanking(*corpus_, 7).users());  // the users validation ranks
  const std::set<int64_t> held(sample.begin(), sample.end());
  const TrainingSplit classic;
  const TrainingSplit by_sample = TrainingSplit::holding_out_only(corpus_->num_sequences(), sample);
  const auto& offsets = corpus_->offsets();
  int trained_through = 0;
  for (int64_t i = 0; i + 1 < int64_t(offsets.size()); ++i) {
    const int32_t length = int32_t(offsets[size_t(i) + 1] - offsets[size_t(i)]);
    const int32_t without = length >= 3 ? length - 2 : length;
    EXPECT_EQ(classic.train_length(i, length), without) << i;
    EXPECT_TRUE(classic.holds_out_validation(i));
    EXPECT_EQ(by_sample.holds_out_validation(i), held.count(i) == 1) << i;
    const int32_t expected = length >= 3 && !held.count(i) ? length - 1 : without;
    EXPECT_EQ(by_sample.train_length(i, length), expected) << i;
    trained_through += expected == length - 1 && length >= 3;
  }
  EXPECT_GT(trained_through, 10);  // the case is exercised

  // Trainable = at least an input and a target; users with 3 events become trainable when they
  // train through their validation event.
  auto expected_ids = [&](const TrainingSplit& split) {
    std::vector<int64_t> ids;
    for (int64_t i = 0; i + 1 < int64_t(offsets.size()); ++i)
      if (split.train_length(i, int32_t(offsets[size_t(i) + 1] - offsets[size_t(i)])) >= 2)
        ids.push_back(i);
    return ids;
  };
  EXPECT_EQ(data::trainable_sequences(*corpus_, classic), expected_ids(classic));
  EXPECT_EQ(data::trainable_sequences(*corpus_, by_sample), expected_ids(by_sample));
  EXPECT_GT(data::trainable_sequences(*corpus_, by_sample).size(),
            data::trainable_sequences(*corpus_, classic).size());
}

}  // namespace
}  // namespace cf::trainer
