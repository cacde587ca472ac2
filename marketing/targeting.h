// Targeting lists: every user of a corpus scored by a model's affinity for a category, a set of
// items or a campaign, the top N or those above a threshold kept, and the CSV they are sent as.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "marketing/user_scores.h"

namespace cf::trainer {
class Model;
}

namespace cf::marketing {

// How a targeting or coupon job reports while it runs; the caller decides what to show, the
// library prints nothing. Either may be empty.
struct TargetingCallbacks {
  // Users scored so far in the current stage ("scoring", "scoring with a1", ...); a stage's
  // last call has done == total, and the next call with another stage starts a new one.
  std::function<void(const std::string& stage, int64_t done, int64_t total)> progress;
  // A line the user should read that is not an error (item ids that were ignored, the caveat
  // of an allocation whose uplift is not identified).
  std::function<void(const std::string& message)> notice;
};

enum class TargetKind {
  kCategory,  // P(next item is in the category), next-item softmax
  kItems,     // P(next item is one of the items of a list file), next-item softmax
  kCampaign,  // P(next event is a purchase | the campaign live now), a purchase head
};

struct TargetSelection {
  enum class Rule { kTop, kThreshold };
  Rule rule = Rule::kTop;
  int64_t top = 0;       // kTop: keep the `top` highest-scored users; > 0
  double threshold = 0;  // kThreshold: keep the users scoring at least this; finite
};

struct TargetingRequest {
  TargetKind kind = TargetKind::kCategory;
  // The category or campaign (a raw id of the corpus vocabulary), or the item-list file
  // (read_item_list).
  std::string target;
  TargetSelection selection;
  // Campaigns only: the purchase head; none = choose_purchase_head's default.
  std::optional<PurchaseHead> head;
  ScoringOptions scoring;
  std::string checkpoint;  // the directory the model was loaded from, named in errors
};

struct TargetRow {
  int64_t user;  // sequence index in the corpus
  std::string user_key;
  double score;
};

struct TargetingList {
  std::string score_definition;  // what the score is, e.g. "P(next item is in category c2)"
  int64_t users_scored = 0;
  double mean_score = 0;        // over every scored user (NaN if any score is NaN)
  std::vector<TargetRow> rows;  // the users kept, best first (rank = position + 1)
};

// Scores every user (or the first scoring.max_users) and keeps the selection. UserErrors (one
// line, naming the flag the request came from): an unknown category or campaign (naming the
// corpus), an item list that cannot be read or names no item of the corpus, a checkpoint
// without the purchase head a campaign needs, a selection out of range. Item ids of the list
// that are not in the corpus are ignored and counted in a notice.
TargetingList build_targeting_list(trainer::Model& model, const data::CorpusReader& corpus,
                                   const TargetingRequest& request,
                                   const TargetingCallbacks& callbacks = {});

// The users a selection keeps, best first (users_by_score: ties to the lower user index): the
// `top` highest scores, or every score >= threshold. A NaN score (from a model that produced
// one) is never kept. UserError for top <= 0 or a threshold that is not finite.
std::vector<int64_t> select_targets(const std::vector<double>& score,
                                    const TargetSelection& selection);

// "rank,user_key,score" with the score to 8 decimals, one row per user kept.
std::string targeting_csv(const TargetingList& list);

// `value` with `decimals` digits after the point, or "" for NaN and infinities: an empty CSV
// cell rather than a number no one can use.
std::string fixed_or_blank(double value, int decimals);

}  // namespace cf::marketing
