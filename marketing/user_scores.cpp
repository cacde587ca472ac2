#include "marketing/user_scores.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/json.h"
#include "data/batch.h"
#include "eval/metrics.h"
#include "eval/recommender.h"
#include "trainer/model/model.h"

namespace cf::marketing {

namespace {

constexpr int64_t kMaxScoreFloats = int64_t{64} << 20;  // rows x items of the score buffer

// Whether the corpus has real timestamps (provenance time_source), which sessions need.
bool has_real_time(const data::CorpusReader& corpus) {
  const Json provenance = Json::parse(corpus.provenance_json(), nullptr, false);
  return provenance.is_discarded() || !provenance.is_object() ||
         provenance.value("time_source", std::string("timestamps")) != "order";
}

// Runs `consume(first, hidden, B, histories)` over every scored user in batches of rows, with
// each user's whole history as input (left-truncated to the model's context), after
// `adjust(seq)`; histories[b] is user first + b's (adjusted) history.
template <class Adjust, class Consume>
void for_each_batch(trainer::Model& model, const data::CorpusReader& corpus, int rows_per_batch,
                    const ScoringOptions& options, const ScoringProgress& progress,
                    Adjust adjust, Consume consume) {
  const int64_t total = users_to_score(corpus, options);
  const int max_len = model.config().max_len;
  data::Batch batch;
  std::vector<float> hidden;
  std::vector<data::Sequence> chunk;
  for (int64_t first = 0; first < total; first += rows_per_batch) {
    const int64_t count = std::min<int64_t>(rows_per_batch, total - first);
    corpus.read_sequences(first, count, chunk);
    int longest = 1;
    for (auto& seq : chunk) {
      adjust(seq);
      longest = std::max(longest, seq.length());
    }
    batch.resize(static_cast<int>(count), std::min(longest, max_len));
    for (int b = 0; b < static_cast<int>(count); ++b) {
      const data::Sequence& seq = chunk[static_cast<size_t>(b)];
      data::fill_batch_row(batch, b, seq, seq.length(), /*train_targets=*/false);
    }
    model.last_hidden(batch, hidden);
    consume(first, hidden, static_cast<int>(count), chunk);
    if (progress) progress(first + count, total);
  }
}

}  // namespace

std::vector<int32_t> item_categories(const data::CorpusReader& corpus) {
  const data::VocabSizes vocab = corpus.vocab_sizes();
  // Counts per (item, category) pair; categories are few, so a dense table per item is cheap
  // up to a point, and a map beyond it.
  std::vector<std::vector<std::pair<int32_t, int64_t>>> seen(static_cast<size_t>(vocab.items));
  std::vector<data::Sequence> chunk;
  for (int64_t first = 0; first < corpus.num_sequences(); first += 1024) {
    corpus.read_sequences(first, std::min<int64_t>(1024, corpus.num_sequences() - first), chunk);
    for (const auto& s : chunk) {
      for (int32_t e = 0; e < s.length(); ++e) {
        const int32_t item = s.item[static_cast<size_t>(e)], category = s.category[static_cast<size_t>(e)];
        if (item <= 0 || item >= vocab.items || category <= 0) continue;
        auto& counts = seen[static_cast<size_t>(item)];
        auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == category; });
        if (it == counts.end()) counts.emplace_back(category, 1); else ++it->second;
      }
    }
  }
  std::vector<int32_t> out(static_cast<size_t>(vocab.items), 0);
  for (size_t item = 0; item < seen.size(); ++item) {
    int64_t best = 0;
    for (const auto& [category, n] : seen[item]) {
      if (n > best || (n == best && category < out[item])) {
        best = n;
        out[item] = category;
      }
    }
  }
  return out;
}

int64_t users_to_score(const data::CorpusReader& corpus, const ScoringOptions& options) {
  return options.max_users > 0 ? std::min(options.max_users, corpus.num_sequences())
                               : corpus.num_sequences();
}

int32_t current_session_begin(const data::Sequence& seq, int64_t session_gap_seconds, bool real_time) {
  int32_t begin = seq.length() - 1;
  if (!real_time) return std::max(begin, 0);
  while (begin > 0 && seq.timestamp[static_cast<size_t>(begin)] -
                              seq.timestamp[static_cast<size_t>(begin - 1)] <=
                          session_gap_seconds) {
    --begin;
  }
  return std::max(begin, 0);
}

std::vector<double> next_item_mass(trainer::Model& model, const data::CorpusReader& corpus,
                                   const std::vector<uint8_t>& in_set,
                                   const ScoringOptions& options, const ScoringProgress& progress) {
  const int32_t items = model.vocab().items;
  CF_CHECK(static_cast<int32_t>(in_set.size()) == items, "item set must cover the item vocabulary");
  const int rows = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>(options.batch_rows, kMaxScoreFloats / items)));
  std::vector<double> mass(static_cast<size_t>(users_to_score(corpus, options)));
  std::vector<float> scores;
  std::vector<std::pair<int32_t, float>> prior_scratch;
  for_each_batch(model, corpus, rows, options, progress, [](data::Sequence&) {},
                 [&](int64_t first, const std::vector<float>& hidden, int B,
                     const std::vector<data::Sequence>& histories) {
                   scores.resize(static_cast<size_t>(B) * static_cast<size_t>(items));
                   model.item_scores(hidden.data(), B, scores.data());
                   for (int b = 0; b < B; ++b) {
                     float* row = scores.data() + static_cast<size_t>(b) * static_cast<size_t>(items);
                     const data::Sequence& h = histories[static_cast<size_t>(b)];
                     options.item_prior.apply(h.item.data(), h.length(), row, prior_scratch);
                     // Softmax over real items (token 0 is padding, never a next item).
                     const double log_z = eval::log_sum_exp_over_items(row, items);
                     double selected = 0;
                     for (int32_t i = 1; i < items; ++i) {
                       if (in_set[static_cast<size_t>(i)]) selected += std::exp(double(row[i]) - log_z);
                     }
                     mass[static_cast<size_t>(first + b)] = selected;
                   }
                 });
  return mass;
}

const char* purchase_head_name(PurchaseHead head) {
  return head == PurchaseHead::kPropensity ? "propensity" : "next-action";
}

PurchaseHead parse_purchase_head(const std::string& name) {
  if (name == "propensity") return PurchaseHead::kPropensity;
  if (name == "next-action") return PurchaseHead::kNextAction;
  throw UserError("--head: must be propensity or next-action (got '" + name + "')");
}

PurchaseHead choose_purchase_head(const trainer::Model& model,
                                  std::optional<PurchaseHead> requested,
                                  const std::string& checkpoint, const std::string& flag) {
  const bool propensity = model.config().propensity_head, action = model.config().action_head;
  if (requested == PurchaseHead::kPropensity || (!requested && propensity)) {
    if (!propensity) {
      throw UserError(flag + ": checkpoint " + checkpoint +
                      " has no propensity head (fine-tune one with task.kind: propensity, or use "
                      "--head next-action)");
    }
    return PurchaseHead::kPropensity;
  }
  if (!action) {
    throw UserError(flag + ": checkpoint " + checkpoint +
                    " has neither a propensity head nor a next-action head, which this needs "
                    "(fine-tune with task.kind: propensity)");
  }
  return PurchaseHead::kNextAction;
}

std::vector<double> purchase_probability(trainer::Model& model, const data::CorpusReader& corpus,
                                         PurchaseHead head, Exposure exposure,
                                         int32_t activity_token, const ScoringOptions& options,
                                         const ScoringProgress& progress) {
  CF_CHECK(head == PurchaseHead::kPropensity ? model.config().propensity_head
                                             : model.config().action_head,
           "the model lacks the requested purchase head");
  const std::vector<std::string> actions = corpus.action_names();
  const int32_t buy = static_cast<int32_t>(std::find(actions.begin(), actions.end(), "buy") - actions.begin());
  const int32_t num_actions = model.vocab().actions;
  CF_CHECK(head == PurchaseHead::kPropensity || (buy > 0 && buy < num_actions),
           "the corpus has no buy action");
  CF_CHECK(exposure != Exposure::kActivity ||
               (activity_token > 0 && activity_token < model.vocab().activities),
           "activity token out of range");
  const bool real_time = has_real_time(corpus);
  std::vector<double> out(static_cast<size_t>(users_to_score(corpus, options)));
  std::vector<float> logits;
  auto adjust = [&](data::Sequence& seq) {
    if (exposure == Exposure::kAsLogged || seq.length() == 0) return;
    const int32_t value = exposure == Exposure::kActivity ? activity_token : 0;
    const int32_t begin = current_session_begin(seq, options.session_gap_seconds, real_time);
    for (int32_t e = begin; e < seq.length(); ++e) seq.activity[static_cast<size_t>(e)] = value;
  };
  for_each_batch(model, corpus, options.batch_rows, options, progress, adjust,
                 [&](int64_t first, const std::vector<float>& hidden, int B,
                     const std::vector<data::Sequence>&) {
                   if (head == PurchaseHead::kPropensity) {
                     logits.resize(static_cast<size_t>(B));
                     model.propensity_logits(hidden.data(), B, logits.data());
                     for (int b = 0; b < B; ++b) {
                       out[static_cast<size_t>(first + b)] = eval::sigmoid(logits[static_cast<size_t>(b)]);
                     }
                     return;
                   }
                   logits.resize(static_cast<size_t>(B) * static_cast<size_t>(num_actions));
                   model.action_logits(hidden.data(), B, logits.data());
                   for (int b = 0; b < B; ++b) {
                     const float* row = logits.data() + static_cast<size_t>(b) * static_cast<size_t>(num_actions);
                     double top = row[1], sum = 0;
                     for (int32_t a = 2; a < num_actions; ++a) top = std::max(top, double(row[a]));
                     for (int32_t a = 1; a < num_actions; ++a) sum += std::exp(double(row[a]) - top);
                     out[static_cast<size_t>(first + b)] = std::exp(double(row[buy]) - top) / sum;
                   }
                 });
  return out;
}

}  // namespace cf::marketing
