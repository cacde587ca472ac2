// Recommender: top-K next items from a checkpointed model for given histories, with exclusion of
// seen or bought items and multi-step (greedy, KV-cached) generation; CSV / JSONL output.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "trainer/cooccurrence_prior.h"

namespace cf::trainer {
class Model;
}

namespace cf::eval {

// One history to recommend for. `history` holds token ids in every channel (purchase flags
// decide what --exclude-bought removes); `user` is echoed in the output (corpus user key, or
// the id given on the command line / in the CSV).
struct GenerationInput {
  std::string user;
  data::Sequence history;
};

struct Recommendation {
  std::string user;
  int step = 1;      // 1 = the next event; s > 1 after greedily appending the top item s-1 times
  int rank = 1;      // 1..k within (user, step)
  int32_t item = 0;  // token id (the writer prints the raw id)
  float score = 0;   // softmax probability over the whole item vocabulary, before exclusions
};

struct GenerateOptions {
  int k = 10;
  bool exclude_seen = false;    // drop every item of the history
  bool exclude_bought = false;  // drop items the history purchased (Sequence::purchase)
  int steps = 1;
  int max_batch_rows = 256;     // histories scored per model call (single-step path)
};

// What events appended during multi-step generation look like. The item's category comes from
// `item_category` (index = item token; 0 when unknown); the other channels use the corpus's most
// common action and most common time-gap bucket of a non-first event (see HistoryVocabulary);
// activity is none. A zero action / time_gap falls back to the last history event's.
struct AppendedEventChannels {
  std::vector<int32_t> item_category;
  int32_t action = 0;
  int32_t time_gap = 0;
};

// Scores come from the model's next-item logits at the last history position (plus the
// checkpoint's co-occurrence prior, when it has one), turned into a
// softmax over every item (so a score is the model's probability that this item comes next,
// comparable across users). Exclusions only remove candidates; they do not renormalise.
// Items generated at earlier steps are never recommended again for that user.
//
// steps == 1 scores histories in batches with Model::last_hidden (histories left-truncated to
// max_len). steps > 1 feeds each history into a Model::Decoder (KV cache), then appends the top
// item and reads the next hidden state in one position's work per step; the history is
// left-truncated to max_len - (steps - 1) events so every appended event still fits.
class Recommender {
 public:
  // `prior`: the checkpoint's co-occurrence prior (trainer::cooccurrence_prior_of), added to the
  // logits before the softmax; inactive by default.
  Recommender(trainer::Model& model, AppendedEventChannels appended = {},
              trainer::CooccurrencePrior prior = {});
  // Rows ordered by input, then step, then rank. Empty histories are a UserError naming the user;
  // steps > max_len is a UserError.
  std::vector<Recommendation> recommend(const std::vector<GenerationInput>& inputs,
                                        const GenerateOptions& options);

 private:
  void recommend_single_step(const std::vector<GenerationInput>& inputs,
                             const GenerateOptions& options, std::vector<Recommendation>& out);
  void recommend_multi_step(const GenerationInput& input, const GenerateOptions& options,
                            std::vector<Recommendation>& out);
  trainer::Model& model_;
  AppendedEventChannels appended_;
  trainer::CooccurrencePrior prior_;
};

// Top-k candidates (token ids) of one score row by descending score, ties by ascending token;
// token 0 and items with excluded[j] != 0 are skipped. NaN scores rank last.
std::vector<int32_t> top_k_items(const float* scores, int32_t num_items,
                                 const std::vector<uint8_t>& excluded, int k);

// log(sum_j exp(scores[j])) over tokens 1..num_items-1 (padding excluded), computed stably;
// the probability of item j is exp(scores[j] - that).
double log_sum_exp_over_items(const float* scores, int32_t num_items);

enum class RecommendationFormat { kCsv, kJsonl };
// "csv": header "user,rank,item,score,step" (RFC 4180 quoting where needed);
// "jsonl": one {"user","rank","item","score","step"} object per line, bytes that are not UTF-8
// written as U+FFFD. `item_raw_ids` maps tokens to raw ids (CorpusReader::item_raw_ids()).
std::string format_recommendations(const std::vector<Recommendation>& rows,
                                   const std::vector<std::string>& item_raw_ids,
                                   RecommendationFormat format);

}  // namespace cf::eval
