// Scores every user of a corpus with a model, from the user's whole history ("now"): the
// next-item probability mass on a set of items (a category, a brand's items), and the purchase
// propensity with or without a coupon/campaign live in the activity channel.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "trainer/cooccurrence_prior.h"

namespace cf::trainer {
class Model;
}

namespace cf::marketing {

struct ScoringOptions {
  int64_t max_users = 0;    // 0 = every user; else the first N sequences in corpus order
  int batch_rows = 128;     // users per model call (fewer when the catalogue is huge)
  // Events within this many seconds of the next one form the user's current session: the
  // events a coupon "live now" is shown on (order-only corpora: the last event alone).
  int64_t session_gap_seconds = 1800;
  // The checkpoint's co-occurrence prior (trainer::cooccurrence_prior_of): next-item scores are
  // the softmax of logits plus it, as eval and generate score them. Inactive by default.
  trainer::CooccurrencePrior item_prior;
};

// Called as users are scored: (done, total).
using ScoringProgress = std::function<void(int64_t done, int64_t total)>;

// The category of every item token: the one most often seen with it (0 when none).
std::vector<int32_t> item_categories(const data::CorpusReader& corpus);

// Number of users scored: min(max_users, sequences) (or all).
int64_t users_to_score(const data::CorpusReader& corpus, const ScoringOptions& options);

// P(next item in the set) under the model's next-item softmax (with options.item_prior), per user; `in_set[token]` != 0
// marks the items of the set (size = item vocabulary).
std::vector<double> next_item_mass(trainer::Model& model, const data::CorpusReader& corpus,
                                   const std::vector<uint8_t>& in_set,
                                   const ScoringOptions& options,
                                   const ScoringProgress& progress = {});

// What the activity channel of the user's current session holds while scoring propensity.
enum class Exposure {
  kAsLogged,  // the log as it is
  kNone,      // cleared: no coupon or campaign live
  kActivity,  // set to one activity token: this coupon or campaign live now
};

// Which head gives P(the user's next event is a purchase).
enum class PurchaseHead {
  kPropensity,  // sigmoid of the fine-tuned propensity head
  kNextAction,  // the next-action softmax's probability of "buy" (trained at every position in
                // pretraining, so it has seen far more coupon exposures than a head fine-tuned
                // on one cut per sequence)
};
const char* purchase_head_name(PurchaseHead head);  // "propensity", "next-action"

// The head --head names ("propensity" or "next-action"); UserError naming --head otherwise.
PurchaseHead parse_purchase_head(const std::string& name);

// The head that gives P(purchase) for the job `flag` asked for: `requested`, else the
// propensity head when the model has one, else the next-action head. UserError naming the flag
// and `checkpoint` (the model's directory) when the model lacks the head chosen.
PurchaseHead choose_purchase_head(const trainer::Model& model,
                                  std::optional<PurchaseHead> requested,
                                  const std::string& checkpoint, const std::string& flag);

// P(the user's next event is a purchase), per user, from `head` (the caller checks the model
// has it and says so).
std::vector<double> purchase_probability(trainer::Model& model, const data::CorpusReader& corpus,
                                         PurchaseHead head, Exposure exposure,
                                         int32_t activity_token, const ScoringOptions& options,
                                         const ScoringProgress& progress = {});

// Index of the first event of the current session of `seq` (see session_gap_seconds).
int32_t current_session_begin(const data::Sequence& seq, int64_t session_gap_seconds,
                              bool real_time);

}  // namespace cf::marketing
