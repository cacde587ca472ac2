#include "report/report_builder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "report/classifier_curves.h"
#include "report/data_profile.h"
#include "report/eval_source.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/model/model.h"

namespace cf::report {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxCurvePoints = 300;


Json interval_json(const Interval& interval) {
  return {{"estimate", json_number_or_null(interval.estimate)},
          {"lower", json_number_or_null(interval.lower)},
          {"upper", json_number_or_null(interval.upper)}};
}

// ---- next-item metrics per user -----------------------------------------------------------

std::vector<std::string> metric_names(const std::vector<int>& cutoffs) {
  std::vector<std::string> names;
  for (int k : cutoffs) names.push_back("hr@" + std::to_string(k));
  for (int k : cutoffs) names.push_back("ndcg@" + std::to_string(k));
  names.push_back("mrr");
  return names;
}

// per_user[m][u] for the metrics of metric_names(): hit, NDCG gain, reciprocal rank.
std::vector<std::vector<double>> ranking_values(const std::vector<int64_t>& ranks,
                                                const std::vector<int>& cutoffs) {
  std::vector<std::vector<double>> values(2 * cutoffs.size() + 1,
                                          std::vector<double>(ranks.size(), 0.0));
  for (size_t u = 0; u < ranks.size(); ++u) {
    const double rank = static_cast<double>(ranks[u]);
    for (size_t c = 0; c < cutoffs.size(); ++c) {
      if (ranks[u] <= cutoffs[c]) {
        values[c][u] = 1.0;
        values[cutoffs.size() + c][u] = 1.0 / std::log2(rank + 1.0);
      }
    }
    values.back()[u] = 1.0 / rank;
  }
  return values;
}

std::vector<int64_t> ranks_of(const eval::EvalOutput& e, size_t scorer,
                              const std::vector<size_t>& users) {
  std::vector<int64_t> ranks;
  ranks.reserve(users.size());
  for (size_t u : users) ranks.push_back(e.users[u].ranks[scorer]);
  return ranks;
}

std::vector<size_t> all_users(const eval::EvalOutput& e) {
  std::vector<size_t> users(e.users.size());
  for (size_t u = 0; u < users.size(); ++u) users[u] = u;
  return users;
}

// {metric: {estimate, lower, upper}} for one scorer on a subset of users.
Json scorer_metrics(const eval::EvalOutput& e, size_t scorer, const std::vector<size_t>& users,
                    const ReportOptions& options) {
  const std::vector<std::string> names = metric_names(options.cutoffs);
  const std::vector<Interval> intervals =
      bootstrap_means(ranking_values(ranks_of(e, scorer, users), options.cutoffs), options.bootstrap);
  Json out = Json::object();
  for (size_t m = 0; m < names.size(); ++m) out[names[m]] = interval_json(intervals[m]);
  return out;
}

// ---- breakdowns ---------------------------------------------------------------------------

struct Group {
  std::string label;
  std::vector<size_t> users;
};

std::vector<Group> groups_by_history_length(const eval::EvalOutput& e) {
  const int64_t bounds[] = {1, 5, 10, 20, 50, INT64_MAX};
  std::vector<Group> groups;
  for (size_t b = 0; b + 1 < std::size(bounds); ++b) {
    Group g;
    g.label = bounds[b + 1] == INT64_MAX ? std::to_string(bounds[b]) + "+"
                                         : std::to_string(bounds[b]) + "–" + std::to_string(bounds[b + 1] - 1);
    for (size_t u = 0; u < e.users.size(); ++u) {
      const int64_t h = e.users[u].history_length;
      if (h >= bounds[b] && h < bounds[b + 1]) g.users.push_back(u);
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

// The largest `max_groups` values of a token field become groups; the rest one "other" group.
template <class TokenOf>
std::vector<Group> groups_by_token(const eval::EvalOutput& e, const std::vector<std::string>& names,
                                   int max_groups, TokenOf token_of, const std::string& unknown) {
  std::map<int32_t, std::vector<size_t>> by_token;
  for (size_t u = 0; u < e.users.size(); ++u) by_token[token_of(e.users[u])].push_back(u);
  std::vector<std::pair<int32_t, std::vector<size_t>>> sorted(by_token.begin(), by_token.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& x, const auto& y) { return x.second.size() > y.second.size(); });
  std::vector<Group> groups;
  Group other{"other", {}};
  for (size_t i = 0; i < sorted.size(); ++i) {
    const int32_t token = sorted[i].first;
    if (static_cast<int>(i) < max_groups) {
      const bool named = token > 0 && token < static_cast<int32_t>(names.size());
      groups.push_back({named ? names[static_cast<size_t>(token)] : unknown, sorted[i].second});
    } else {
      other.users.insert(other.users.end(), sorted[i].second.begin(), sorted[i].second.end());
    }
  }
  if (!other.users.empty()) {
    std::sort(other.users.begin(), other.users.end());
    groups.push_back(std::move(other));
  }
  return groups;
}

Json breakdown_json(const std::string& by, const std::string& title, const std::vector<Group>& groups,
                    const eval::EvalOutput& e, const ReportOptions& options) {
  const int k = options.breakdown_cutoff;
  ReportOptions one_cutoff = options;
  one_cutoff.cutoffs = {k};
  const std::string hr = "hr@" + std::to_string(k), ndcg = "ndcg@" + std::to_string(k);
  Json rows = Json::array();
  for (const Group& g : groups) {
    if (g.users.empty()) continue;
    Json values = Json::object();
    for (size_t s = 0; s < e.scorers.size(); ++s) {
      Json m = scorer_metrics(e, s, g.users, one_cutoff);
      values[e.scorers[s]] = {{hr, m[hr]}, {ndcg, m[ndcg]}};
    }
    rows.push_back({{"label", g.label}, {"n", static_cast<int64_t>(g.users.size())}, {"values", values}});
  }
  return {{"by", by}, {"title", title}, {"metrics", {hr, ndcg}}, {"groups", rows}};
}

// ---- propensity ---------------------------------------------------------------------------

bool has_logits(const eval::EvalOutput& e) {
  for (const auto& u : e.users) {
    if (u.label >= 0 && std::isfinite(u.propensity_logit)) return true;
  }
  return false;
}

Json thinned_roc(const std::vector<RocPoint>& roc) {
  Json points = Json::array();
  const size_t step = std::max<size_t>(1, (roc.size() + kMaxCurvePoints - 1) / kMaxCurvePoints);
  for (size_t i = 0; i < roc.size(); ++i) {
    if (i % step == 0 || i + 1 == roc.size()) {
      points.push_back({{"fpr", roc[i].false_positive_rate}, {"tpr", roc[i].true_positive_rate}});
    }
  }
  return points;
}

// Scores of one classifier on the labelled users: AUC with an interval, log loss, ECE, curves.
Json classifier_json(const std::vector<double>& probabilities, const std::vector<int8_t>& labels,
                     const ReportOptions& options) {
  const int64_t n = static_cast<int64_t>(labels.size());
  std::vector<double> logits(probabilities.size());
  for (size_t i = 0; i < probabilities.size(); ++i) {
    const double p = std::clamp(probabilities[i], 1e-7, 1 - 1e-7);
    logits[i] = std::log(p / (1 - p));
  }
  const std::vector<Interval> auc = bootstrap_statistic(
      n,
      [&](const std::vector<int64_t>& sample) {
        std::vector<double> s;
        std::vector<int8_t> l;
        s.reserve(sample.size());
        l.reserve(sample.size());
        for (int64_t i : sample) {
          s.push_back(probabilities[static_cast<size_t>(i)]);
          l.push_back(labels[static_cast<size_t>(i)]);
        }
        return std::vector<double>{eval::roc_auc(s, l)};
      },
      options.bootstrap);
  const std::vector<ReliabilityBin> bins = reliability_bins(probabilities, labels, 10);
  Json reliability = Json::array();
  for (const auto& b : bins) {
    reliability.push_back({{"lower", b.lower}, {"upper", b.upper}, {"n", b.count},
                           {"mean_prediction", json_number_or_null(b.mean_prediction)},
                           {"positive_rate", json_number_or_null(b.positive_rate)}});
  }
  Json gain = Json::array();
  for (const auto& g : cumulative_gain(probabilities, labels, 50)) {
    gain.push_back({{"fraction_targeted", g.fraction_targeted},
                    {"fraction_of_positives", json_number_or_null(g.fraction_of_positives)},
                    {"lift", json_number_or_null(g.lift)}});
  }
  Json top = Json::array();
  for (const auto& t : top_fraction_metrics(probabilities, labels)) {
    top.push_back({{"fraction", t.fraction}, {"selected", t.selected}, {"positives", t.positives},
                   {"precision", json_number_or_null(t.precision)}, {"recall", json_number_or_null(t.recall)},
                   {"lift", json_number_or_null(t.lift)}});
  }
  int64_t positives = 0;
  for (int8_t l : labels) positives += l;
  return {{"n", n},
          {"positives", positives},
          {"auc", interval_json(auc[0])},
          {"log_loss", json_number_or_null(eval::log_loss_from_logits(logits, labels))},
          {"ece", json_number_or_null(calibration_error(bins))},
          {"roc", thinned_roc(roc_curve(probabilities, labels))},
          {"reliability", reliability},
          {"gain", gain},
          {"top", top}};
}

Json propensity_json(const eval::EvalOutput& e, const Json& profile, const data::CorpusReader& corpus,
                     const ReportOptions& options) {
  std::vector<double> model, baseline;
  std::vector<int8_t> labels;
  const std::vector<std::string> actions = corpus.action_names();
  const Json& rate_by_action = profile["next_purchase_rate_by_last_action"];
  for (const auto& u : e.users) {
    if (u.label < 0 || !std::isfinite(u.propensity_logit)) continue;
    model.push_back(eval::sigmoid(u.propensity_logit));
    labels.push_back(u.label);
    double rate = std::nan("");
    if (u.last_action > 0 && u.last_action < static_cast<int32_t>(actions.size())) {
      const Json& r = rate_by_action[actions[static_cast<size_t>(u.last_action)]];
      if (r.is_number()) rate = r.get<double>();
    }
    baseline.push_back(std::isfinite(rate) ? rate : 0.0);
  }
  return {{"source", e.dir},
          {"label", "the held-out target event is a purchase"},
          {"model", classifier_json(model, labels, options)},
          {"baseline_name", "last-action rate"},
          {"baseline_description",
           "share of training-part events following an event of the same action that are "
           "purchases (from the corpus), applied to the user's last action"},
          {"baseline", classifier_json(baseline, labels, options)}};
}

// ---- runs and models ----------------------------------------------------------------------

Json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  std::stringstream text;
  text << in.rdbuf();
  Json parsed = Json::parse(text.str(), nullptr, false);
  return parsed.is_discarded() ? Json(nullptr) : parsed;
}

Json training_curves(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "metrics.jsonl").string();
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot open (is " + run_dir + " a training run directory?)");
  Json step = Json::array(), loss = Json::array(), val_step = Json::array(), val_loss = Json::array(),
       lr = Json::array(), tokens_per_s = Json::array();
  std::string line, task;
  int64_t number = 0;
  double elapsed = 0, tokens = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step")) {
      throw UserError(path + ":" + std::to_string(number) + ": not a metrics record");
    }
    auto value = [&](const char* key) {
      return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
    };
    step.push_back(j["step"]);
    loss.push_back(json_number_or_null(value("loss")));
    lr.push_back(json_number_or_null(value("lr")));
    tokens_per_s.push_back(json_number_or_null(value("tokens_per_s")));
    if (std::isfinite(value("val_loss"))) {
      val_step.push_back(j["step"]);
      val_loss.push_back(value("val_loss"));
    }
    if (j.contains("task") && j["task"].is_string()) task = j["task"].get<std::string>();
    if (std::isfinite(value("elapsed_s"))) elapsed = value("elapsed_s");
    if (std::isfinite(value("tokens_seen"))) tokens = value("tokens_seen");
  }
  Json run_info = read_json_file((fs::path(run_dir) / "run.json").string());
  return {{"run", run_dir},
          {"task", task},
          {"step", step},
          {"loss", loss},
          {"lr", lr},
          {"tokens_per_s", tokens_per_s},
          {"val_step", val_step},
          {"val_loss", val_loss},
          {"elapsed_s", elapsed},
          {"tokens_seen", tokens},
          {"run_info", run_info}};
}

Json model_summary(const std::string& role, const eval::EvalOutput& e) {
  Json out = {{"role", role}, {"source", e.dir}};
  const Json& protocol = e.json["protocol"];
  if (!protocol.contains("checkpoint") || !protocol["checkpoint"].is_object()) {
    out["checkpoint"] = nullptr;
    return out;
  }
  const std::string dir = protocol["checkpoint"].value("dir", std::string());
  out["checkpoint"] = dir;
  out["step"] = protocol["checkpoint"].value("step", int64_t{-1});
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) {
    out["note"] = "checkpoint directory not found: model details unavailable";
    return out;
  }
  const trainer::LoadedCheckpoint ck = trainer::load_checkpoint(dir, false);
  const trainer::ModelConfig& m = ck.config.model;
  out["task"] = trainer::task_kind_name(ck.config.task.kind);
  out["model"] = {{"block", trainer::block_kind_name(m.block)},
                  {"n_layer", m.n_layer}, {"n_head", m.n_head}, {"d_model", m.d_model},
                  {"d_ff", m.d_ff},       {"max_len", m.max_len}, {"parameters", static_cast<int64_t>(ck.params.size())},
                  {"propensity_head", m.propensity_head}};
  out["training"] = {{"steps", ck.state.step},
                     {"tokens_seen", ck.state.tokens_seen},
                     {"elapsed_s", ck.state.elapsed_seconds},
                     {"global_batch", ck.state.global_batch}};
  if (ck.state.privacy.enabled) out["privacy"] = trainer::privacy_spent_json(ck.state.privacy);
  const std::string run = run_dir_of_checkpoint(dir);
  if (!run.empty()) out["run_info"] = read_json_file((fs::path(run) / "run.json").string());
  return out;
}

Json data_summary(const data::CorpusReader& corpus, const eval::EvalOutput& e) {
  Json provenance = Json::parse(corpus.provenance_json(), nullptr, false);
  if (provenance.is_discarded()) provenance = Json::object();
  const data::VocabSizes v = corpus.vocab_sizes();
  const Json& protocol = e.json["protocol"];
  return {{"corpus", corpus.path()},
          {"vocab_fingerprint", corpus.vocab_fingerprint()},
          {"source_format", provenance.value("source_format", std::string("?"))},
          {"source_files", provenance.contains("source_files") ? provenance["source_files"] : Json::array()},
          {"users", corpus.num_sequences()},
          {"items", v.items - 1},
          {"categories", v.categories - 1},
          {"activities", v.activities - 1},
          {"events", corpus.num_events()},
          {"rows_rejected", provenance.value("rows_rejected", int64_t{0})},
          {"split", protocol.value("split", std::string("test"))},
          {"split_description", protocol.value("target", std::string(""))},
          {"eval_users", static_cast<int64_t>(e.users.size())}};
}

const eval::EvalOutput& require(const eval::EvalOutput* e, const char* what) {
  CF_CHECK(e != nullptr, what);
  return *e;
}

}  // namespace

std::string run_dir_of_checkpoint(const std::string& checkpoint_dir) {
  const fs::path p = fs::path(checkpoint_dir).lexically_normal();
  const fs::path step = p.filename().empty() ? p.parent_path() : p;
  if (step.parent_path().filename() != "checkpoints") return "";
  return step.parent_path().parent_path().string();
}

Json build_report(const ReportInputs& inputs, const ReportOptions& options) {
  CF_CHECK(inputs.corpus != nullptr, "report needs a corpus");
  const data::CorpusReader& corpus = *inputs.corpus;
  const eval::EvalOutput& next = require(inputs.next_item, "report needs a next-item evaluation");
  if (next.users.empty()) throw UserError(next.dir + ": the evaluation has no users");

  Json report = Json::object();
  report["kind"] = "report";
  report["generated_by"] = "cartformer report";
  const Json profile = profile_corpus(corpus);

  // Summary.
  Json models = Json::array();
  models.push_back(model_summary("next item", next));
  if (inputs.propensity) models.push_back(model_summary("purchase propensity", *inputs.propensity));
  report["summary"] = {{"data", data_summary(corpus, next)}, {"models", models}};

  // Training curves: the given runs, else the runs the evaluated checkpoints came from.
  std::vector<std::string> runs = inputs.run_dirs;
  if (runs.empty()) {
    for (const eval::EvalOutput* e : {inputs.next_item, inputs.propensity}) {
      if (!e) continue;
      const Json& protocol = e->json["protocol"];
      if (!protocol.contains("checkpoint") || !protocol["checkpoint"].is_object()) continue;
      const std::string run = run_dir_of_checkpoint(protocol["checkpoint"].value("dir", std::string()));
      std::error_code ec;
      if (!run.empty() && fs::is_regular_file(fs::path(run) / "metrics.jsonl", ec) &&
          std::find(runs.begin(), runs.end(), run) == runs.end()) {
        runs.push_back(run);
      }
    }
  }
  Json training = Json::array();
  for (const auto& run : runs) training.push_back(training_curves(run));
  report["training"] = training;

  // Next-item quality.
  Json scorers = Json::object();
  const std::vector<size_t> everyone = all_users(next);
  for (size_t s = 0; s < next.scorers.size(); ++s) {
    scorers[next.scorers[s]] = scorer_metrics(next, s, everyone, options);
  }
  const std::vector<std::string> category_names = corpus.category_raw_ids();
  const std::vector<std::string> action_names = corpus.action_names();
  Json breakdowns = Json::array();
  breakdowns.push_back(breakdown_json("history_length", "by history length (events before the target)",
                                      groups_by_history_length(next), next, options));
  breakdowns.push_back(breakdown_json(
      "category", "by category of the target item",
      groups_by_token(next, category_names, options.max_categories,
                      [](const eval::UserOutcome& u) { return u.target_category; }, "(none)"),
      next, options));
  breakdowns.push_back(breakdown_json(
      "last_action", "by action of the last event before the target",
      groups_by_token(next, action_names, static_cast<int>(action_names.size()),
                      [](const eval::UserOutcome& u) { return u.last_action; }, "(unknown)"),
      next, options));
  report["next_item"] = {{"n_users", static_cast<int64_t>(next.users.size())},
                         {"cutoffs", options.cutoffs},
                         {"scorers", next.scorers},
                         {"protocol", next.json["protocol"].value("filtering", std::string(""))},
                         {"metrics", scorers},
                         {"breakdowns", breakdowns},
                         {"bootstrap", {{"resamples", options.bootstrap.resamples},
                                        {"level", options.bootstrap.level},
                                        {"seed", options.bootstrap.seed}}}};

  // Purchase propensity: the model given for it (--propensity) if it has the head, else the
  // next-item model's own head if it has one.
  const eval::EvalOutput* with_logits = inputs.propensity && has_logits(*inputs.propensity)
                                            ? inputs.propensity
                                        : has_logits(next) ? &next
                                                           : nullptr;
  report["propensity"] =
      with_logits ? propensity_json(*with_logits, profile, corpus, options) : Json(nullptr);
  report["data_profile"] = profile;
  return report;
}

Json build_comparison(const ComparisonInputs& inputs, const ReportOptions& options) {
  CF_CHECK(inputs.corpus != nullptr, "comparison needs a corpus");
  const eval::EvalOutput& a = require(inputs.a, "comparison needs A");
  const eval::EvalOutput& b = require(inputs.b, "comparison needs B");
  const std::string fa = eval_corpus_fingerprint(a.json), fb = eval_corpus_fingerprint(b.json);
  if (fa != fb) {
    throw UserError(a.dir + " and " + b.dir + ": evaluated on different corpora (vocabulary " +
                    fa.substr(0, 12) + " vs " + fb.substr(0, 12) + ")");
  }
  for (const eval::EvalOutput* e : {&a, &b}) {
    if (e->scorers.empty() || e->scorers.front() != "model") {
      throw UserError(e->dir + ": a baselines-only evaluation has no model to compare");
    }
  }
  bool same_users = a.users.size() == b.users.size();
  for (size_t u = 0; same_users && u < a.users.size(); ++u) {
    same_users = a.users[u].sequence == b.users[u].sequence &&
                 a.users[u].target_item == b.users[u].target_item;
  }
  if (!same_users) {
    throw UserError(a.dir + " and " + b.dir + ": evaluated different users (" +
                    std::to_string(a.users.size()) + " vs " + std::to_string(b.users.size()) +
                    "; same split and --max-users needed for a paired comparison)");
  }

  const std::vector<std::string> names = metric_names(options.cutoffs);
  const std::vector<size_t> everyone = all_users(a);
  const std::vector<PairedDifference> diffs =
      paired_bootstrap(ranking_values(ranks_of(a, 0, everyone), options.cutoffs),
                       ranking_values(ranks_of(b, 0, everyone), options.cutoffs), options.bootstrap);
  Json metrics = Json::array();
  auto difference_json = [](const std::string& name, const PairedDifference& d) {
    return Json{{"metric", name},
                {"a", json_number_or_null(d.a)},
                {"b", json_number_or_null(d.b)},
                {"difference", json_number_or_null(d.difference)},
                {"lower", json_number_or_null(d.lower)},
                {"upper", json_number_or_null(d.upper)},
                {"significant", d.significant}};
  };
  for (size_t m = 0; m < names.size(); ++m) metrics.push_back(difference_json(names[m], diffs[m]));

  // AUC of the propensity heads, when both have one, on the users both label.
  if (has_logits(a) && has_logits(b)) {
    std::vector<size_t> labelled;
    for (size_t u = 0; u < a.users.size(); ++u) {
      if (a.users[u].label >= 0 && std::isfinite(a.users[u].propensity_logit) &&
          std::isfinite(b.users[u].propensity_logit)) {
        labelled.push_back(u);
      }
    }
    auto auc_of = [&](const eval::EvalOutput& e) {
      return [&e, &labelled](const std::vector<int64_t>& sample) {
        std::vector<double> s;
        std::vector<int8_t> l;
        for (int64_t i : sample) {
          const eval::UserOutcome& u = e.users[labelled[static_cast<size_t>(i)]];
          s.push_back(u.propensity_logit);
          l.push_back(u.label);
        }
        return std::vector<double>{eval::roc_auc(s, l)};
      };
    };
    const std::vector<PairedDifference> auc = paired_bootstrap_statistic(
        static_cast<int64_t>(labelled.size()), auc_of(a), auc_of(b), options.bootstrap);
    metrics.push_back(difference_json("propensity auc", auc[0]));
  }

  Json baselines = Json::object();
  for (size_t s = 1; s < a.scorers.size(); ++s) {
    baselines[a.scorers[s]] = scorer_metrics(a, s, everyone, options);
  }
  Json report = Json::object();
  report["kind"] = "comparison";
  report["generated_by"] = "cartformer report --compare";
  report["corpus"] = {{"path", inputs.corpus->path()}, {"vocab_fingerprint", fa}};
  report["a"] = model_summary(inputs.label_a, a);
  report["b"] = model_summary(inputs.label_b, b);
  report["n_users"] = static_cast<int64_t>(a.users.size());
  report["metrics"] = metrics;
  report["baselines"] = baselines;
  report["bootstrap"] = {{"resamples", options.bootstrap.resamples},
                         {"level", options.bootstrap.level},
                         {"seed", options.bootstrap.seed},
                         {"kind", "paired: the same resampled users for A and B"}};
  return report;
}

}  // namespace cf::report
