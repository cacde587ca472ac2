#include "marketing/targeting.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "core/error.h"
#include "marketing/ranked_allocation.h"
#include "marketing/vocabulary_lookup.h"
#include "trainer/model/model.h"

namespace cf::marketing {

namespace {

// in_set[token] for the items whose category is `category` (size = item vocabulary).
std::vector<uint8_t> items_of_category(const data::CorpusReader& corpus, int32_t category) {
  const std::vector<int32_t> category_of = item_categories(corpus);
  std::vector<uint8_t> in_set(category_of.size(), 0);
  for (size_t i = 0; i < category_of.size(); ++i) in_set[i] = category_of[i] == category ? 1 : 0;
  return in_set;
}

}  // namespace

std::string fixed_or_blank(double value, int decimals) {
  if (!std::isfinite(value)) return "";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::vector<int64_t> select_targets(const std::vector<double>& score,
                                    const TargetSelection& selection) {
  std::vector<int64_t> order = users_by_score(score);
  const size_t scored = static_cast<size_t>(
      std::count_if(score.begin(), score.end(), [](double v) { return !std::isnan(v); }));
  size_t keep = 0;
  if (selection.rule == TargetSelection::Rule::kTop) {
    if (selection.top <= 0) {
      throw UserError("--top: must be > 0 (got " + std::to_string(selection.top) + ")");
    }
    keep = std::min(scored, static_cast<size_t>(selection.top));
  } else {
    if (!std::isfinite(selection.threshold)) throw UserError("--threshold: must be a number");
    // NaN scores sort last, so the kept users are a prefix of the scored ones.
    while (keep < scored && score[static_cast<size_t>(order[keep])] >= selection.threshold) ++keep;
  }
  order.resize(keep);
  return order;
}

TargetingList build_targeting_list(trainer::Model& model, const data::CorpusReader& corpus,
                                   const TargetingRequest& request,
                                   const TargetingCallbacks& callbacks) {
  const std::vector<std::string> user_keys = corpus.user_keys();
  ScoringProgress progress;
  if (callbacks.progress) {
    progress = [&](int64_t done, int64_t total) { callbacks.progress("scoring", done, total); };
  }
  TargetingList list;
  std::vector<double> score;
  if (request.kind == TargetKind::kCampaign) {
    const PurchaseHead head =
        choose_purchase_head(model, request.head, request.checkpoint, "--campaign");
    const int32_t token = token_named(corpus.activity_raw_ids(), request.target, "--campaign",
                                      "a campaign (activity)", corpus.path());
    score = purchase_probability(model, corpus, head, Exposure::kActivity, token, request.scoring,
                                 progress);
    list.score_definition = "P(next event is a purchase | campaign " + request.target +
                            " live now), " + purchase_head_name(head) + " head";
  } else {
    std::vector<uint8_t> in_set;
    if (request.kind == TargetKind::kCategory) {
      const int32_t token = token_named(corpus.category_raw_ids(), request.target, "--category",
                                        "a category", corpus.path());
      in_set = items_of_category(corpus, token);
      list.score_definition = "P(next item is in category " + request.target + ")";
    } else {
      ItemList items = read_item_list(request.target, corpus.item_raw_ids());
      if (items.unknown > 0 && callbacks.notice) {
        callbacks.notice(request.target + ": " + std::to_string(items.unknown) +
                         " of its item ids are not in the corpus (ignored)");
      }
      in_set = std::move(items.in_set);
      list.score_definition = "P(next item is one of the items in " + request.target + ")";
    }
    score = next_item_mass(model, corpus, in_set, request.scoring, progress);
  }
  list.users_scored = static_cast<int64_t>(score.size());
  list.mean_score = std::accumulate(score.begin(), score.end(), 0.0) /
                    static_cast<double>(std::max<size_t>(1, score.size()));
  for (const int64_t user : select_targets(score, request.selection)) {
    const size_t u = static_cast<size_t>(user);
    list.rows.push_back({user, user_keys[u], score[u]});
  }
  return list;
}

std::string targeting_csv(const TargetingList& list) {
  std::string csv = "rank,user_key,score\n";
  for (size_t r = 0; r < list.rows.size(); ++r) {
    const TargetRow& row = list.rows[r];
    csv += std::to_string(r + 1) + "," + row.user_key + "," + fixed_or_blank(row.score, 8) + "\n";
  }
  return csv;
}

}  // namespace cf::marketing
