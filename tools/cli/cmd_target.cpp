// cartformer target: who to target. Ranks users by the model's affinity for a category, a set
// of items or a campaign (to CSV), or allocates coupons under a budget by expected uplift.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "core/progress.h"
#include "data/corpus.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "marketing/coupon_allocation.h"
#include "marketing/ranked_allocation.h"
#include "marketing/user_scores.h"
#include "report/data_profile.h"
#include "trainer/checkpoint.h"
#include "trainer/model/model.h"

namespace cf::cli {

namespace {

// Token of `name` in a vocabulary, or a UserError listing (some of) what there is.
int32_t token_named(const std::vector<std::string>& vocab, const std::string& name,
                    const std::string& flag, const std::string& what, const std::string& corpus) {
  for (size_t t = 1; t < vocab.size(); ++t) {
    if (vocab[t] == name) return static_cast<int32_t>(t);
  }
  std::string known;
  for (size_t t = 1; t < vocab.size() && t <= 10; ++t) known += (t > 1 ? ", " : "") + vocab[t];
  if (vocab.size() > 11) known += ", ...";
  throw UserError(flag + " '" + name + "': not " + what + " of " + corpus + " (it has " +
                  std::to_string(vocab.size() - 1) + (vocab.size() > 1 ? ": " + known : "") + ")");
}

// The head that gives P(next event is a purchase): --head, else the propensity head when the
// checkpoint has one, else the next-action head. A checkpoint with neither is an error.
marketing::PurchaseHead choose_purchase_head(const trainer::Model& model, const std::string& requested,
                                             const std::string& checkpoint, const std::string& flag) {
  const bool propensity = model.config().propensity_head, action = model.config().action_head;
  if (requested == "propensity" || (requested.empty() && propensity)) {
    if (!propensity) {
      throw UserError(flag + ": checkpoint " + checkpoint +
                      " has no propensity head (fine-tune one with task.kind: propensity, or use "
                      "--head next-action)");
    }
    return marketing::PurchaseHead::kPropensity;
  }
  if (requested == "next-action" || requested.empty()) {
    if (!action) {
      throw UserError(flag + ": checkpoint " + checkpoint +
                      " has neither a propensity head nor a next-action head, which this needs "
                      "(fine-tune with task.kind: propensity)");
    }
    return marketing::PurchaseHead::kNextAction;
  }
  throw UserError("--head: must be propensity or next-action (got '" + requested + "')");
}

std::string format_number(double v, int decimals = 6) {
  if (!std::isfinite(v)) return "";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::vector<uint8_t> items_from_file(const std::string& path, const std::vector<std::string>& item_raw) {
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot open the item list");
  std::vector<std::pair<std::string, int32_t>> index;
  for (size_t t = 1; t < item_raw.size(); ++t) index.emplace_back(item_raw[t], static_cast<int32_t>(t));
  std::sort(index.begin(), index.end());
  std::vector<uint8_t> in_set(item_raw.size(), 0);
  std::string line;
  int64_t number = 0, found = 0, unknown = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto it = std::lower_bound(index.begin(), index.end(), std::make_pair(line, int32_t{0}));
    if (it != index.end() && it->first == line) {
      in_set[static_cast<size_t>(it->second)] = 1;
      ++found;
    } else {
      ++unknown;
    }
  }
  if (found == 0) {
    throw UserError(path + ": none of its " + std::to_string(unknown) +
                    " item ids is in the corpus vocabulary");
  }
  if (unknown > 0) {
    std::fprintf(stderr, "target: %s: %lld of its item ids are not in the corpus (ignored)\n",
                 path.c_str(), static_cast<long long>(unknown));
  }
  return in_set;
}

std::string summary_path_for(const std::string& csv_path) {
  std::filesystem::path p(csv_path);
  return (p.parent_path() / (p.stem().string() + "_summary.json")).string();
}

}  // namespace

int run_target(int argc, char** argv) {
  ArgParser args(
      "target",
      "Marketing decisions from a checkpoint, for every user of a corpus (whole history = now).\n"
      "Targeting: rank users by affinity and keep the top N or those above a threshold:\n"
      "  --category NAME   P(next item is in the category) under the next-item softmax\n"
      "  --items FILE      the same for a set of items (one raw item id per line, e.g. a brand)\n"
      "  --campaign NAME   P(next event is a purchase | the campaign live now) (propensity head)\n"
      "Coupons: --coupon NAME:FACE_VALUE[:COST] (repeatable; NAME is an activity of the corpus)\n"
      "with --budget-coupons N or --budget-value X: who gets which coupon to maximise expected\n"
      "incremental purchases x value minus expected cost. Uplift = P(purchase | coupon live in the\n"
      "activity channel) - P(purchase | none). Identified only when coupon exposure in the training\n"
      "logs was randomised: without --exposure-randomized the tool says so and ranks by purchase\n"
      "propensity instead.");
  args.option("checkpoint", "DIR", "checkpoint, or run directory (newest valid checkpoint)");
  args.option("corpus", "FILE", "corpus .h5 (same vocabulary as the checkpoint)");
  args.option("category", "NAME", "target users by affinity for this category (raw id)");
  args.option("items", "FILE", "target users by affinity for these items (raw ids, one per line)");
  args.option("campaign", "NAME", "target users by purchase propensity with this campaign live");
  args.option("top", "N", "keep the N highest-scored users");
  args.option("threshold", "X", "keep users scoring at least X");
  args.option("coupon", "SPEC", "coupon type NAME:FACE_VALUE[:COST_PER_REDEMPTION]", "", true);
  args.option("budget-coupons", "N", "budget as a number of coupons");
  args.option("budget-value", "X", "budget as total face value issued");
  args.option("value-per-purchase", "V",
              "value of one extra purchase (default: the corpus's average order value)");
  args.flag("exposure-randomized",
            "coupon exposure in the training logs was randomised: allocate by estimated uplift");
  args.option("head", "NAME", "P(purchase) from: propensity or next-action (default: propensity "
                              "when the checkpoint has that head, else next-action)");
  args.option("session-gap", "SECONDS", "events closer than this form the current session", "1800");
  args.option("max-users", "N", "score only the first N users (0 = all)", "0");
  args.option("out", "FILE", "output CSV (default: targets.csv, or coupons.csv with --coupon)");
  args.flag("quiet", "no progress lines");
  if (!args.parse(argc, argv)) return 0;

  const std::string corpus_path = args.require("corpus");
  const std::string checkpoint_arg = args.require("checkpoint");
  const std::vector<std::string> coupon_specs = args.get_all("coupon");
  const int modes = (args.has("category") ? 1 : 0) + (args.has("items") ? 1 : 0) +
                    (args.has("campaign") ? 1 : 0) + (coupon_specs.empty() ? 0 : 1);
  if (modes != 1) {
    throw UserError("give exactly one of --category, --items, --campaign or --coupon (got " +
                    std::to_string(modes) + ")");
  }
  marketing::ScoringOptions scoring;
  scoring.max_users = args.get_int("max-users", 0);
  scoring.session_gap_seconds = args.get_int("session-gap", 0);
  if (scoring.max_users < 0) throw UserError("--max-users: must be >= 0");
  if (scoring.session_gap_seconds < 0) throw UserError("--session-gap: must be >= 0");

  // Cheap argument checks first, before anything heavy is loaded.
  std::vector<marketing::CouponType> coupons;
  for (const auto& spec : coupon_specs) {
    coupons.push_back(marketing::parse_coupon_spec(spec));
    for (size_t c = 0; c + 1 < coupons.size(); ++c) {
      if (coupons[c].name == coupons.back().name) {
        throw UserError("--coupon '" + spec + "': coupon " + coupons.back().name + " is given twice");
      }
    }
  }
  marketing::AllocationOptions allocation;
  if (!coupons.empty()) {
    const bool by_count = args.has("budget-coupons"), by_value = args.has("budget-value");
    if (by_count == by_value) throw UserError("--coupon: give exactly one of --budget-coupons or --budget-value");
    allocation.budget_kind = by_count ? marketing::BudgetKind::kCoupons : marketing::BudgetKind::kFaceValue;
    allocation.budget = by_count ? args.get_double("budget-coupons", 0) : args.get_double("budget-value", 0);
    if (!(allocation.budget > 0) || !std::isfinite(allocation.budget)) {
      throw UserError(std::string(by_count ? "--budget-coupons" : "--budget-value") +
                      ": the budget must be > 0 (got " + args.get(by_count ? "budget-coupons" : "budget-value") + ")");
    }
    if (by_count && allocation.budget < 1) {
      throw UserError("--budget-coupons: the budget must be at least one coupon (got " + args.get("budget-coupons") + ")");
    }
  } else if (args.has("top") == args.has("threshold")) {
    throw UserError("give exactly one of --top N or --threshold X");
  }

  std::unique_ptr<data::CorpusReader> corpus = data::CorpusReader::open(corpus_path);
  const std::string checkpoint_dir = trainer::resolve_checkpoint_dir(checkpoint_arg);
  trainer::LoadedCheckpoint checkpoint = trainer::load_checkpoint(checkpoint_dir, false);
  trainer::require_same_vocab(checkpoint, corpus_path, corpus->vocab_fingerprint(), corpus->vocab_sizes());
  trainer::Model model = trainer::model_from_checkpoint(checkpoint);
  const std::vector<std::string> activities = corpus->activity_raw_ids();
  const std::vector<std::string> user_keys = corpus->user_keys();

  const bool quiet = args.get_flag("quiet");
  std::unique_ptr<ProgressMeter> meter;
  auto progress_for = [&](const std::string& what) {
    meter.reset();
    return [&, what](int64_t done, int64_t total) {
      if (quiet) return;
      if (!meter) meter = std::make_unique<ProgressMeter>("target: " + what, static_cast<double>(total), "users");
      if (done >= total) meter->finish(static_cast<double>(done)); else meter->update(static_cast<double>(done));
    };
  };

  if (coupons.empty()) {
    std::vector<double> score;
    std::string definition;
    if (args.has("campaign")) {
      const marketing::PurchaseHead head = choose_purchase_head(model, args.get("head"), checkpoint_dir, "--campaign");
      const int32_t token = token_named(activities, args.get("campaign"), "--campaign", "a campaign (activity)", corpus_path);
      score = marketing::purchase_probability(model, *corpus, head, marketing::Exposure::kActivity, token, scoring, progress_for("scoring"));
      definition = "P(next event is a purchase | campaign " + args.get("campaign") + " live now), " +
                   marketing::purchase_head_name(head) + " head";
    } else {
      std::vector<uint8_t> in_set;
      if (args.has("category")) {
        const int32_t token = token_named(corpus->category_raw_ids(), args.get("category"), "--category", "a category", corpus_path);
        const std::vector<int32_t> category_of = marketing::item_categories(*corpus);
        in_set.assign(category_of.size(), 0);
        for (size_t i = 0; i < category_of.size(); ++i) in_set[i] = category_of[i] == token ? 1 : 0;
        definition = "P(next item is in category " + args.get("category") + ")";
      } else {
        in_set = items_from_file(args.get("items"), corpus->item_raw_ids());
        definition = "P(next item is one of the items in " + args.get("items") + ")";
      }
      score = marketing::next_item_mass(model, *corpus, in_set, scoring, progress_for("scoring"));
    }
    // Highest first; a NaN score (a model that produced one) sorts last and is never kept.
    const std::vector<int64_t> order = marketing::users_by_score(score);
    const size_t scored = static_cast<size_t>(std::count_if(score.begin(), score.end(), [](double v) { return !std::isnan(v); }));
    size_t keep = order.size();
    if (args.has("top")) {
      const int64_t top = args.get_int("top", 1);
      if (top <= 0) throw UserError("--top: must be > 0 (got " + std::to_string(top) + ")");
      keep = std::min(scored, static_cast<size_t>(top));
    } else {
      const double threshold = args.get_double("threshold");
      if (!std::isfinite(threshold)) throw UserError("--threshold: must be a number");
      keep = 0;
      while (keep < scored && score[static_cast<size_t>(order[keep])] >= threshold) ++keep;
    }
    std::string csv = "rank,user_key,score\n";
    for (size_t r = 0; r < keep; ++r) {
      const int64_t u = order[r];
      csv += std::to_string(r + 1) + "," + user_keys[static_cast<size_t>(u)] + "," + format_number(score[static_cast<size_t>(u)], 8) + "\n";
    }
    const std::string out = args.has("out") ? args.get("out") : "targets.csv";
    write_file_atomically(out, csv);
    std::printf("target: score = %s\n", definition.c_str());
    std::printf("target: %zu of %zu users selected", keep, order.size());
    if (keep > 0) {
      std::printf(" (scores %s .. %s; all users: mean %s)", format_number(score[static_cast<size_t>(order[0])], 4).c_str(),
                  format_number(score[static_cast<size_t>(order[keep - 1])], 4).c_str(),
                  format_number(std::accumulate(score.begin(), score.end(), 0.0) / double(std::max<size_t>(1, score.size())), 4).c_str());
    }
    std::printf("\ntargets: %s\n", out.c_str());
    return 0;
  }

  // ---- coupon allocation ----------------------------------------------------------------
  const marketing::PurchaseHead head = choose_purchase_head(model, args.get("head"), checkpoint_dir, "--coupon");
  std::vector<int32_t> coupon_tokens;
  for (size_t c = 0; c < coupons.size(); ++c) {
    coupon_tokens.push_back(token_named(activities, coupons[c].name, "--coupon",
                                        "an activity (coupon or campaign)", corpus_path));
  }
  if (args.has("value-per-purchase")) {
    allocation.value_per_purchase = args.get_double("value-per-purchase", 0);
    if (!(allocation.value_per_purchase > 0) || !std::isfinite(allocation.value_per_purchase)) {
      throw UserError("--value-per-purchase: must be > 0 (got " + args.get("value-per-purchase") + ")");
    }
  } else {
    // The corpus's average order value, as the report's data profile defines it.
    const Json order_value = report::profile_corpus(*corpus)["order_value"];
    if (!order_value.value("available", false)) {
      throw UserError("--value-per-purchase: required (" + corpus_path +
                      " has no purchase prices to take the average order value from)");
    }
    allocation.value_per_purchase = order_value["mean"].get<double>();
  }

  const bool randomized = args.get_flag("exposure-randomized");
  const std::vector<double> without = marketing::purchase_probability(
      model, *corpus, head, marketing::Exposure::kNone, 0, scoring, progress_for("scoring without coupon"));
  const size_t users = without.size();
  std::vector<marketing::CouponEffect> effects(users * coupons.size());
  // Without identified uplift only the first coupon is given (by propensity), so only it is scored.
  const size_t scored_coupons = randomized ? coupons.size() : 1;
  for (size_t c = 0; c < scored_coupons; ++c) {
    const std::vector<double> with = marketing::purchase_probability(
        model, *corpus, head, marketing::Exposure::kActivity, coupon_tokens[c], scoring,
        progress_for("scoring with " + coupons[c].name));
    for (size_t u = 0; u < users; ++u) effects[u * coupons.size() + c] = {with[u] - without[u], with[u]};
  }
  const std::string caveat =
      randomized ? "uplift estimated from logs declared randomised (--exposure-randomized): an "
                   "estimate of the causal effect only if coupon exposure really was random"
                 : "uplift is not identified: coupon exposure in these logs was not declared "
                   "randomised, so a model of them confounds the coupon's effect with who was "
                   "chosen to receive it. The first coupon listed (" + coupons[0].name +
                       ") goes to the users most likely to buy (propensity ranking); the uplift, "
                       "cost and net columns are the model's unvalidated estimates. Pass "
                       "--exposure-randomized if exposure was a randomised experiment.";
  marketing::AllocationResult result;
  if (randomized) {
    result = marketing::allocate_coupons(static_cast<int64_t>(users), coupons, effects, allocation);
  } else {
    std::fprintf(stderr, "target: note: %s\n", caveat.c_str());
    result = marketing::allocate_by_score(without, 0, coupons, &effects, allocation);
  }

  std::string csv = "user_key,coupon,expected_uplift,expected_cost,net_value,purchase_prob_without,purchase_prob_with\n";
  for (const auto& a : result.assignments) {
    const size_t u = static_cast<size_t>(a.user);
    csv += user_keys[u] + "," + coupons[static_cast<size_t>(a.coupon)].name + "," + format_number(a.uplift) + "," +
           format_number(a.expected_cost, 4) + "," + format_number(a.net_value, 4) + "," + format_number(without[u]) + "," +
           format_number(effects[u * coupons.size() + static_cast<size_t>(a.coupon)].redemption_probability) + "\n";
  }
  const std::string out = args.has("out") ? args.get("out") : "coupons.csv";
  Json coupon_json = Json::array();
  for (size_t c = 0; c < coupons.size(); ++c) {
    int64_t issued = 0;
    for (const auto& a : result.assignments) issued += static_cast<size_t>(a.coupon) == c ? 1 : 0;
    coupon_json.push_back({{"name", coupons[c].name}, {"face_value", coupons[c].face_value},
                           {"cost_per_redemption", coupons[c].cost_per_redemption}, {"issued", issued}});
  }
  const double return_on_spend = result.expected_cost > 0 ? allocation.value_per_purchase * result.expected_incremental_purchases / result.expected_cost : std::nan("");
  const Json estimates = {{"expected_extra_purchases", json_number_or_null(result.expected_incremental_purchases)},
                          {"expected_spend", json_number_or_null(result.expected_cost)},
                          {"expected_net_value", json_number_or_null(result.net_value)},
                          {"expected_return_on_spend", json_number_or_null(return_on_spend)}};
  Json summary = {
      {"checkpoint", checkpoint_dir},
      {"corpus", corpus_path},
      {"method", randomized ? "uplift" : "propensity ranking (uplift not identified)"},
      {"caveat", caveat},
      {"candidates", static_cast<int64_t>(users)},
      {"budget", {{"kind", allocation.budget_kind == marketing::BudgetKind::kCoupons ? "coupons" : "face value"}, {"amount", allocation.budget}, {"used", result.budget_used}}},
      {"value_per_purchase", allocation.value_per_purchase},
      {"coupons", coupon_json},
      {"coupons_issued", static_cast<int64_t>(result.assignments.size())},
      {"face_value_issued", result.face_value_issued},
      {"purchase_head", marketing::purchase_head_name(head)},
      {"uplift_definition", "P(next event is a purchase | coupon live in the current session) - P(... | no activity)"}};
  // Expected effects are claimed only where they are identified; otherwise the model's numbers
  // are kept apart, under a name that says what they are.
  if (randomized) {
    summary.update(estimates);
  } else {
    summary["model_estimates_unidentified"] = estimates;
  }
  const std::string summary_path = summary_path_for(out);
  write_files_atomically({{out, csv}, {summary_path, summary.dump(2, ' ', false, Json::error_handler_t::replace) + "\n"}});
  if (randomized) {
    std::printf("coupons: uplift: %zu coupons to %zu candidates, face value %s; expected extra purchases %s, "
                "expected spend %s, return on spend %s\n",
                result.assignments.size(), users, format_number(result.face_value_issued, 2).c_str(),
                format_number(result.expected_incremental_purchases, 2).c_str(),
                format_number(result.expected_cost, 2).c_str(), format_number(return_on_spend, 2).c_str());
  } else {
    std::printf("coupons: propensity ranking (uplift not identified): %zu coupons of %s to %zu candidates, "
                "face value %s\n",
                result.assignments.size(), coupons[0].name.c_str(), users,
                format_number(result.face_value_issued, 2).c_str());
  }
  std::printf("coupons: %s\nsummary: %s\n", out.c_str(), summary_path.c_str());
  return 0;
}

}  // namespace cf::cli
