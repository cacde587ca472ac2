#include "eval/evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "core/error.h"
#include "data/batch.h"
#include "eval/negative_sampler.h"
#include "trainer/checkpoint.h"
#include "trainer/cooccurrence_prior.h"
#include "trainer/model/model.h"

namespace cf::eval {

namespace {

const char* const kProtocols[] = {kFullFiltered, kFullUnfiltered, kSampledUniform,
                                  kSampledPopularity};
constexpr int kNumProtocols = 4;

// One evaluated user: the sequence, where its target is, and its shared negatives.
struct UserCase {
  data::Sequence sequence;
  int32_t visible = 0;  // input = events [0, visible); target = event `visible`
  int32_t target = 0;
  int8_t label = -1;  // held-out purchase flag of the target event (-1 unknown)
  double propensity_logit = std::numeric_limits<double>::quiet_NaN();
  std::vector<int32_t> uniform_negatives, popularity_negatives;
};

struct ProtocolRanks {
  int64_t rank[kNumProtocols] = {0, 0, 0, 0};
};

void rank_sampled_protocols(const float* scores, const UserCase& user, ProtocolRanks& out) {
  out.rank[2] = sampled_rank(scores, user.target, user.uniform_negatives);
  out.rank[3] = sampled_rank(scores, user.target, user.popularity_negatives);
}

void rank_all_protocols(const float* scores, const UserCase& user, int32_t num_items,
                        const uint8_t* history_marks, ProtocolRanks& out) {
  ranking::full_ranks_filtered_and_not(scores, num_items, user.target, history_marks, &out.rank[0],
                                       &out.rank[1]);
  rank_sampled_protocols(scores, user, out);
}

// A baseline's scores as its base row plus this user's changes (HistoryScorer::change): the
// full ranks come without a pass over the catalogue, and equal rank_all_protocols's.
struct BaseRanker {
  const HistoryScorer* scorer;
  ranking::SortedScores sorted_base;
  BaseRanker(const HistoryScorer* s, int32_t num_items)
      : scorer(s), sorted_base(s->base().data(), s->num_items()) {
    CF_CHECK(s->num_items() == num_items && s->base().size() == size_t(num_items),
             "baseline scores cover another vocabulary than the corpus");
  }

  // `row` holds the base at rest and is given back that way.
  void rank(const UserCase& user, int32_t num_items, const std::vector<int32_t>& history_items,
            std::vector<float>& row, std::vector<int32_t>& changed, ProtocolRanks& out) const {
    const std::vector<float>& base = scorer->base();
    scorer->change(user.sequence.item.data(), user.visible, row.data(), changed);
    ranking::full_ranks_over_base(row.data(), base.data(), sorted_base, num_items, user.target,
                                  changed, history_items, &out.rank[0], &out.rank[1]);
    rank_sampled_protocols(row.data(), user, out);
    for (int32_t j : changed) row[static_cast<size_t>(j)] = base[static_cast<size_t>(j)];
  }
};

// Sets the marks of the user's input items to `value`. With `marked`, also lists the distinct
// items whose mark went from 0 to `value` (cleared first): the history items, each once, when
// the marks started clear.
void set_marks(std::vector<uint8_t>& marks, const UserCase& user, uint8_t value,
               std::vector<int32_t>* marked = nullptr) {
  if (marked) marked->clear();
  const int32_t n = static_cast<int32_t>(marks.size());
  for (int32_t t = 0; t < user.visible; ++t) {
    const int32_t item = user.sequence.item[static_cast<size_t>(t)];
    if (item <= 0 || item >= n) continue;
    uint8_t& mark = marks[static_cast<size_t>(item)];
    if (marked && mark == 0 && value != 0) marked->push_back(item);
    mark = value;
  }
}

double number_at(const Json& object, const std::string& key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return object[key].get<double>();
}

std::string format_metric(double value) {
  if (!std::isfinite(value)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", value);
  return buf;
}

std::string format_ratio(double numerator, double denominator) {
  if (!std::isfinite(numerator) || !std::isfinite(denominator) || denominator <= 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", numerator / denominator);
  return buf;
}

}  // namespace

const char* split_name(data::Split split) {
  switch (split) {
    case data::Split::kTrain:
      return "train";
    case data::Split::kValidation:
      return "validation";
    case data::Split::kTest:
      return "test";
  }
  return "?";
}

void use_checkpoint(EvalOptions& options, const std::string& checkpoint_dir,
                    const trainer::LoadedCheckpoint& checkpoint, const data::CorpusReader& corpus) {
  options.checkpoint_dir = checkpoint_dir;
  options.checkpoint_step = checkpoint.state.step;
  trainer::RunTrainingSplit split = trainer::run_training_split(checkpoint.config, corpus);
  options.training_split = std::move(split.split);
  options.training_split_name = std::move(split.name);
  options.prior_weight = float(checkpoint.state.cooccurrence_prior_weight);
  if (checkpoint.state.privacy.enabled)
    options.privacy = trainer::privacy_spent_json(checkpoint.state.privacy);
}

Evaluator::Evaluator(const data::CorpusReader& corpus, EvalOptions options)
    : corpus_(corpus), options_(std::move(options)) {
  CF_CHECK(options_.split != data::Split::kTrain, "evaluation needs a held-out split");
  CF_CHECK(options_.max_batch_rows > 0 && options_.read_chunk > 0, "batch sizes must be > 0");
}

EvalReport Evaluator::run(trainer::Model* model, const EvalProgress& progress) {
  const data::VocabSizes vocab = corpus_.vocab_sizes();
  const int32_t num_items = vocab.items;
  const std::vector<int64_t>& item_counts = corpus_.item_counts();
  if (num_items < 2 || static_cast<int32_t>(item_counts.size()) != num_items) {
    throw UserError(corpus_.path() + ": item_counts has " + std::to_string(item_counts.size()) +
                    " entries but the item vocabulary has " + std::to_string(num_items));
  }
  if (model && model->vocab().items != num_items) {
    throw UserError(corpus_.path() + ": corpus has " + std::to_string(num_items) +
                    " item tokens but the model was built for " +
                    std::to_string(model->vocab().items));
  }
  const bool with_propensity = model && model->config().propensity_head;
  const int max_len = model ? model->config().max_len : 0;

  const int64_t num_sequences = corpus_.num_sequences();
  const std::vector<int64_t>& offsets = corpus_.offsets();
  auto length_of = [&](int64_t i) { return static_cast<int32_t>(offsets[i + 1] - offsets[i]); };
  int64_t eligible_total = 0, skipped_short = 0;
  // A validation target the model trained on (validation.holdout: validation_users) says
  // nothing about it: only the held-out users are scored on that split.
  auto scorable = [&](int64_t i) {
    return options_.split != data::Split::kValidation ||
           options_.training_split.holds_out_validation(i);
  };
  for (int64_t i = 0; i < num_sequences; ++i) {
    if (length_of(i) < 3) {
      ++skipped_short;
    } else if (scorable(i)) {
      ++eligible_total;
    }
  }
  const int64_t users_planned =
      options_.max_users > 0 ? std::min(options_.max_users, eligible_total) : eligible_total;

  // ---- pass 1: co-occurrence counts over the training part of every sequence -------------
  PopularityBaseline popularity(item_counts);
  CooccurrenceBaseline cooccurrence(item_counts, options_.cooccurrence);
  std::vector<data::Sequence> chunk;
  for (int64_t first = 0; first < num_sequences; first += options_.read_chunk) {
    const int64_t count = std::min<int64_t>(options_.read_chunk, num_sequences - first);
    corpus_.read_sequences(first, count, chunk);
    for (int64_t k = 0; k < count; ++k) {
      const data::Sequence& seq = chunk[size_t(k)];
      const int32_t train = options_.training_split.train_length(first + k, seq.length());
      cooccurrence.add_sequence(seq.item.data(), std::min(train, seq.length()));
    }
    if (progress) progress("cooccurrence", first + count, num_sequences);
  }
  cooccurrence.finalize();
  const HistoryScorer* baselines[] = {&popularity, &cooccurrence};
  constexpr int kNumBaselines = 2;
  const BaseRanker baseline_rankers[] = {BaseRanker(&popularity, num_items),
                                         BaseRanker(&cooccurrence, num_items)};

  // ---- pass 2: score users batch by batch -------------------------------------------------
  const NegativeSampler uniform_sampler(NegativeDistribution::kUniform, item_counts);
  const NegativeSampler popularity_sampler(NegativeDistribution::kPopularity, item_counts);
  // Model first when present, then the network alone when it serves with a prior.
  const bool with_prior = model && options_.prior_weight != 0.0f;
  const int model_scorers = model ? (with_prior ? 2 : 1) : 0;
  const int num_scorers = model_scorers + kNumBaselines;
  std::vector<std::vector<RankingAccumulator>> accumulators(
      static_cast<size_t>(num_scorers),
      std::vector<RankingAccumulator>(kNumProtocols, RankingAccumulator(options_.cutoffs)));
  std::vector<double> propensity_logits_all;
  std::vector<int8_t> propensity_labels_all;
  const std::vector<int8_t>* test_labels =
      options_.split == data::Split::kTest ? &corpus_.purchase_labels() : nullptr;

  const int batch_rows = ranking::score_batch_rows(options_.max_batch_rows, num_items);
  std::vector<float> model_scores, hidden, logits;
  std::vector<UserOutcome> outcomes;
  data::Batch batch;
  int64_t users_done = 0, targets_skipped = 0;

  auto score_batch = [&](std::vector<UserCase>& users) {
    const int B = static_cast<int>(users.size());
    // Negatives: a pure function of (seed, sequence index), shared by every scorer.
#pragma omp parallel
    {
      std::vector<uint8_t> marks(static_cast<size_t>(num_items), 0);
#pragma omp for schedule(dynamic, 4)
      for (int b = 0; b < B; ++b) {
        UserCase& user = users[static_cast<size_t>(b)];
        set_marks(marks, user, 1);
        marks[static_cast<size_t>(user.target)] = 1;
        const uint64_t stream = static_cast<uint64_t>(user.sequence.index);
        user.uniform_negatives =
            uniform_sampler.sample(options_.seed, stream, marks.data(), options_.num_negatives);
        user.popularity_negatives = popularity_sampler.sample(
            options_.seed ^ 0x5bd1e9955bd1e995ull, stream, marks.data(), options_.num_negatives);
        set_marks(marks, user, 0);
        marks[static_cast<size_t>(user.target)] = 0;
      }
    }

    if (model) {
      int longest = 1;
      for (const auto& user : users) longest = std::max(longest, user.visible);
      batch.resize(B, std::min(longest, max_len));
      for (int b = 0; b < B; ++b) {
        const UserCase& user = users[static_cast<size_t>(b)];
        data::fill_batch_row(batch, b, user.sequence, user.visible, /*train_targets=*/false);
      }
      model->last_hidden(batch, hidden);
      model_scores.resize(static_cast<size_t>(B) * static_cast<size_t>(num_items));
      model->item_scores(hidden.data(), B, model_scores.data());
      if (with_propensity) {
        logits.resize(static_cast<size_t>(B));
        model->propensity_logits(hidden.data(), B, logits.data());
        for (int b = 0; b < B; ++b) {
          users[static_cast<size_t>(b)].propensity_logit = logits[static_cast<size_t>(b)];
          const int8_t label = users[static_cast<size_t>(b)].label;
          if (label < 0) continue;
          propensity_logits_all.push_back(logits[static_cast<size_t>(b)]);
          propensity_labels_all.push_back(label);
        }
      }
    }

    std::vector<ProtocolRanks> ranks(static_cast<size_t>(B) * static_cast<size_t>(num_scorers));
#pragma omp parallel
    {
      std::vector<uint8_t> marks(static_cast<size_t>(num_items), 0);
      std::vector<std::pair<int32_t, float>> prior_scratch;
      std::vector<int32_t> history_items, changed;
      std::vector<std::vector<float>> baseline_rows;  // each baseline's base row, at rest
      for (const HistoryScorer* baseline : baselines) baseline_rows.push_back(baseline->base());
#pragma omp for schedule(dynamic, 4)
      for (int b = 0; b < B; ++b) {
        const UserCase& user = users[static_cast<size_t>(b)];
        ProtocolRanks* row = &ranks[static_cast<size_t>(b) * static_cast<size_t>(num_scorers)];
        set_marks(marks, user, 1, &history_items);
        if (model) {
          // This user's row of model_scores is not needed after: the prior is added in place,
          // once the network alone is ranked.
          float* model_row =
              model_scores.data() + static_cast<size_t>(b) * static_cast<size_t>(num_items);
          rank_all_protocols(model_row, user, num_items, marks.data(), row[model_scorers - 1]);
          if (with_prior) {
            cooccurrence.table().add_log_prior(user.sequence.item.data(), user.visible,
                                               options_.prior_weight, model_row, prior_scratch);
            rank_all_protocols(model_row, user, num_items, marks.data(), row[0]);
          }
        }
        for (int k = 0; k < kNumBaselines; ++k) {
          baseline_rankers[k].rank(user, num_items, history_items,
                                   baseline_rows[static_cast<size_t>(k)], changed,
                                   row[model_scorers + k]);
        }
        set_marks(marks, user, 0);
      }
    }
    // Accumulate in user order so the sums (and the JSON) do not depend on thread timing.
    for (int b = 0; b < B; ++b) {
      const UserCase& user = users[static_cast<size_t>(b)];
      UserOutcome outcome;
      outcome.sequence = user.sequence.index;
      outcome.history_length = user.visible;
      outcome.target_item = user.target;
      outcome.target_category = user.sequence.category[static_cast<size_t>(user.visible)];
      outcome.last_action = user.sequence.action[static_cast<size_t>(user.visible - 1)];
      outcome.propensity_logit = user.propensity_logit;
      outcome.label = user.label;
      for (int s = 0; s < num_scorers; ++s) {
        const ProtocolRanks& r = ranks[static_cast<size_t>(b) * static_cast<size_t>(num_scorers) +
                                       static_cast<size_t>(s)];
        for (int p = 0; p < kNumProtocols; ++p) accumulators[s][p].add(r.rank[p]);
        outcome.ranks.push_back(r.rank[0]);
      }
      outcomes.push_back(std::move(outcome));
    }
    users_done += B;
    users.clear();
    if (progress) progress("scoring", users_done, users_planned);
  };

  std::vector<UserCase> pending;
  int64_t users_taken = 0;
  for (int64_t first = 0; first < num_sequences && users_taken < users_planned;
       first += options_.read_chunk) {
    const int64_t count = std::min<int64_t>(options_.read_chunk, num_sequences - first);
    corpus_.read_sequences(first, count, chunk);
    for (auto& seq : chunk) {
      if (users_taken >= users_planned) break;
      const int32_t length = seq.length();
      if (length < 3 || !scorable(seq.index)) continue;
      const int32_t visible = data::visible_length(length, options_.split);
      CF_CHECK(visible >= 1 && visible < length, "visible_length out of range");
      const int32_t target = seq.item[static_cast<size_t>(visible)];
      if (target <= 0 || target >= num_items) {
        ++targets_skipped;
        continue;
      }
      UserCase user;
      user.visible = visible;
      user.target = target;
      if (test_labels && seq.index >= 0 && seq.index < static_cast<int64_t>(test_labels->size())) {
        user.label = (*test_labels)[static_cast<size_t>(seq.index)] ? 1 : 0;
      } else if (seq.purchase.size() == seq.item.size()) {
        user.label = seq.purchase[static_cast<size_t>(visible)] ? 1 : 0;
      }
      user.sequence = std::move(seq);
      pending.push_back(std::move(user));
      ++users_taken;
      if (static_cast<int>(pending.size()) == batch_rows) score_batch(pending);
    }
  }
  if (!pending.empty()) score_batch(pending);

  // ---- report -------------------------------------------------------------------------
  auto scorer_json = [&](int s) {
    Json out = accumulators[s][0].to_json();
    Json by_protocol = Json::object();
    for (int p = 1; p < kNumProtocols; ++p)
      by_protocol[kProtocols[p]] = accumulators[s][p].to_json();
    out["by_protocol"] = std::move(by_protocol);
    return out;
  };

  Json report = Json::object();
  if (model) {
    Json model_json = scorer_json(0);
    if (with_propensity) {
      model_json["propensity"] = binary_metrics_json(propensity_logits_all, propensity_labels_all);
    }
    if (with_prior) {
      model_json["cooccurrence_prior"] =
          Json{{"weight", options_.prior_weight},
               {"score",
                "model logit + weight * log(1 + S(j)), S(j) the co-occurrence baseline's "
                "score without its popularity back-off"}};
      report["model_without_prior"] = scorer_json(1);
    }
    report["model"] = std::move(model_json);
  } else {
    report["model"] = nullptr;
  }
  Json baselines_json = Json::object();
  for (int b = 0; b < kNumBaselines; ++b) {
    baselines_json[baselines[b]->name()] = scorer_json(model_scorers + b);
  }
  report["baselines"] = std::move(baselines_json);

  Json protocol = Json::object();
  protocol["main"] = kFullFiltered;
  protocol["split"] = split_name(options_.split);
  protocol["target"] = options_.split == data::Split::kTest
                           ? "last event of each sequence (leave-one-out)"
                           : "second-to-last event of each sequence (leave-one-out)";
  protocol["input"] = "every event before the target; the model sees the last max_len of them";
  protocol["filtering"] =
      "full_filtered and sampled_*: items of the user's input history are not candidates "
      "(the target always is); full_unfiltered: every item is a candidate";
  protocol["ties"] = "pessimistic: candidates scoring equal to the target rank above it";
  protocol["user_selection"] = options_.max_users > 0
                                   ? "first max_users eligible sequences in corpus order"
                                   : "every eligible sequence";
  protocol["training_split"] = options_.training_split_name;
  protocol["n_users"] = users_done;
  protocol["n_sequences"] = num_sequences;
  protocol["n_skipped_short"] = skipped_short;
  protocol["n_skipped_padding_target"] = targets_skipped;
  protocol["n_items"] = num_items - 1;
  protocol["cutoffs"] = options_.cutoffs;
  protocol["negatives"] =
      Json{{"count", options_.num_negatives},
           {"uniform", "distinct items drawn uniformly among non-history items"},
           {"popularity", "distinct non-history items drawn proportional to training item_counts"},
           {"seed", options_.seed}};
  protocol["seed"] = options_.seed;
  protocol["max_users"] = options_.max_users;
  protocol["corpus"] =
      Json{{"path", corpus_.path()}, {"vocab_fingerprint", corpus_.vocab_fingerprint()}};
  if (model) {
    protocol["checkpoint"] = Json{{"dir", options_.checkpoint_dir},
                                  {"step", options_.checkpoint_step},
                                  {"privacy", options_.privacy}};
    protocol["model_max_len"] = max_len;
    protocol["model_score"] =
        with_prior ? "next-item logits over the whole item vocabulary plus the co-occurrence "
                     "prior (model.cooccurrence_prior)"
                   : "next-item logits over the whole item vocabulary";
  } else {
    protocol["checkpoint"] = nullptr;
  }
  protocol["baselines"] = Json{{popularity.name(), popularity.describe()},
                               {cooccurrence.name(), cooccurrence.describe()}};
  if (with_propensity) {
    protocol["propensity"] = Json{{"label", "purchase flag of the target event"},
                                  {"input", "same as next-item: every event before the target"},
                                  {"calibration_bins", 10}};
  }
  report["protocol"] = std::move(protocol);

  EvalReport out;
  if (model) out.scorers.push_back("model");
  if (with_prior) out.scorers.push_back("model_without_prior");
  for (const HistoryScorer* baseline : baselines) out.scorers.push_back(baseline->name());
  out.users = std::move(outcomes);
  out.markdown = render_markdown_summary(report);
  out.json = std::move(report);
  return out;
}

std::string render_markdown_summary(const Json& report) {
  const Json& protocol = report.at("protocol");
  std::string md = "# Offline evaluation\n\n";
  md += "Split `" + protocol.value("split", std::string("?")) + "` (" +
        protocol.value("target", std::string("")) + "), " +
        std::to_string(protocol.value("n_users", int64_t{0})) + " users, " +
        std::to_string(protocol.value("n_items", int64_t{0})) +
        " items. Main protocol: full ranking with the user's history filtered out, "
        "pessimistic ties.\n\n";

  struct Row {
    std::string name;
    const Json* metrics;
  };
  std::vector<Row> rows;
  if (report.contains("model") && report["model"].is_object())
    rows.push_back({"model", &report["model"]});
  if (report.contains("model_without_prior") && report["model_without_prior"].is_object()) {
    rows.push_back({"model_without_prior", &report["model_without_prior"]});
  }
  for (const auto& [name, metrics] : report.at("baselines").items())
    rows.push_back({name, &metrics});
  const Json* popularity = report.at("baselines").contains("popularity")
                               ? &report.at("baselines").at("popularity")
                               : nullptr;
  const double popularity_hr10 = popularity ? number_at(*popularity, "hr@10") : NAN;

  md += "| scorer | HR@10 | NDCG@10 | MRR | HR@10 lift over popularity |\n";
  md += "|---|---:|---:|---:|---:|\n";
  for (const auto& row : rows) {
    const double hr = number_at(*row.metrics, "hr@10");
    md += "| " + row.name + " | " + format_metric(hr) + " | " +
          format_metric(number_at(*row.metrics, "ndcg@10")) + " | " +
          format_metric(number_at(*row.metrics, "mrr")) + " | " +
          format_ratio(hr, popularity_hr10) + " |\n";
  }

  if (report.contains("model") && report["model"].is_object() &&
      report["model"].contains("cooccurrence_prior")) {
    md += "\n`model` is the network's logits plus the co-occurrence prior (weight " +
          format_metric(number_at(report["model"]["cooccurrence_prior"], "weight")) +
          ", chosen on the validation users); `model_without_prior` is the network alone.\n";
  }

  md += "\nOther protocols, HR@10 / NDCG@10:\n\n| scorer |";
  const char* const others[] = {kFullUnfiltered, kSampledUniform, kSampledPopularity};
  for (const char* name : others) md += std::string(" ") + name + " |";
  md += "\n|---|";
  for (size_t i = 0; i < std::size(others); ++i) md += "---:|";
  md += "\n";
  for (const auto& row : rows) {
    md += "| " + row.name + " |";
    for (const char* name : others) {
      const Json empty = Json::object();
      const Json& by =
          row.metrics->contains("by_protocol") ? row.metrics->at("by_protocol") : empty;
      const Json& m = by.contains(name) ? by.at(name) : empty;
      md += " " + format_metric(number_at(m, "hr@10")) + " / " +
            format_metric(number_at(m, "ndcg@10")) + " |";
    }
    md += "\n";
  }

  if (report.contains("model") && report["model"].is_object() &&
      report["model"].contains("propensity")) {
    const Json& p = report["model"]["propensity"];
    md += "\nPurchase propensity (held-out label of the target event): AUC " +
          format_metric(number_at(p, "auc")) + ", log loss " +
          format_metric(number_at(p, "log_loss")) + ", ECE " + format_metric(number_at(p, "ece")) +
          ", positive rate " + format_metric(number_at(p, "positive_rate")) + ", n " +
          std::to_string(p.value("n", int64_t{0})) + ".\n";
  }
  return md;
}

}  // namespace cf::eval
