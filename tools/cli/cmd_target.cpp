// cartformer target: who to target. Ranks users by the model's affinity for a category, a set
// of items or a campaign (to CSV), or allocates coupons under a budget by expected uplift.
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/corpus.h"
#include "marketing/coupon_plan.h"
#include "marketing/targeting.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "trainer/checkpoint.h"
#include "trainer/cooccurrence_prior.h"
#include "trainer/model/model.h"

namespace cf::cli {

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
      "incremental purchases x value minus expected cost. Uplift = P(purchase | coupon live in "
      "the\n"
      "activity channel) - P(purchase | none). Identified only when coupon exposure in the "
      "training\n"
      "logs was randomised: without --exposure-randomized the tool says so and ranks by purchase\n"
      "propensity instead.");
  args.option("checkpoint", "DIR", "checkpoint, or run directory (its best checkpoint by validation metric, else the "
              "newest valid)");
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
  args.option("head", "NAME",
              "P(purchase) from: propensity or next-action (default: propensity "
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
  // Only the jobs that need P(purchase) read --head: elsewhere it is ignored.
  auto requested_head = [&]() -> std::optional<marketing::PurchaseHead> {
    if (args.get("head").empty()) return std::nullopt;
    return marketing::parse_purchase_head(args.get("head"));
  };

  // Every argument is checked before anything heavy is loaded.
  marketing::TargetingRequest targeting;
  marketing::CouponPlanRequest coupon_plan;
  if (coupon_specs.empty()) {
    if (args.has("top") == args.has("threshold")) {
      throw UserError("give exactly one of --top N or --threshold X");
    }
    if (args.has("category")) {
      targeting.kind = marketing::TargetKind::kCategory;
      targeting.target = args.get("category");
    } else if (args.has("items")) {
      targeting.kind = marketing::TargetKind::kItems;
      targeting.target = args.get("items");
    } else {
      targeting.kind = marketing::TargetKind::kCampaign;
      targeting.target = args.get("campaign");
      targeting.head = requested_head();
    }
    if (args.has("top")) {
      targeting.selection.rule = marketing::TargetSelection::Rule::kTop;
      targeting.selection.top = args.get_int("top", 1);
    } else {
      targeting.selection.rule = marketing::TargetSelection::Rule::kThreshold;
      targeting.selection.threshold = args.get_double("threshold");
    }
    targeting.scoring = scoring;
  } else {
    std::vector<marketing::CouponType>& coupons = coupon_plan.coupons;
    for (const auto& spec : coupon_specs) {
      coupons.push_back(marketing::parse_coupon_spec(spec));
      for (size_t c = 0; c + 1 < coupons.size(); ++c) {
        if (coupons[c].name == coupons.back().name) {
          throw UserError("--coupon '" + spec + "': coupon " + coupons.back().name +
                          " is given twice");
        }
      }
    }
    const bool by_count = args.has("budget-coupons"), by_value = args.has("budget-value");
    if (by_count == by_value) {
      throw UserError("--coupon: give exactly one of --budget-coupons or --budget-value");
    }
    const std::string budget_flag = by_count ? "budget-coupons" : "budget-value";
    coupon_plan.budget_kind =
        by_count ? marketing::BudgetKind::kCoupons : marketing::BudgetKind::kFaceValue;
    // No range in the parse: a negative budget gets the same line as a zero one.
    coupon_plan.budget = args.get_double(budget_flag);
    if (!(coupon_plan.budget > 0) || !std::isfinite(coupon_plan.budget)) {
      throw UserError("--" + budget_flag + ": the budget must be > 0 (got " +
                      args.get(budget_flag) + ")");
    }
    if (by_count && coupon_plan.budget < 1) {
      throw UserError("--budget-coupons: the budget must be at least one coupon (got " +
                      args.get("budget-coupons") + ")");
    }
    coupon_plan.head = requested_head();
    if (args.has("value-per-purchase")) {
      const double value = args.get_double("value-per-purchase");
      if (!(value > 0) || !std::isfinite(value)) {
        throw UserError("--value-per-purchase: must be > 0 (got " + args.get("value-per-purchase") +
                        ")");
      }
      coupon_plan.value_per_purchase = value;
    }
    coupon_plan.exposure_randomized = args.get_flag("exposure-randomized");
    coupon_plan.scoring = scoring;
  }

  std::unique_ptr<data::CorpusReader> corpus = data::CorpusReader::open(corpus_path);
  std::string chosen_because;
  const std::string checkpoint_dir = trainer::resolve_checkpoint_dir(checkpoint_arg, &chosen_because);
  std::fprintf(stderr, "target: checkpoint %s (%s)\n", checkpoint_dir.c_str(), chosen_because.c_str());
  trainer::LoadedCheckpoint checkpoint = trainer::load_checkpoint(checkpoint_dir, false);
  trainer::require_behaviour_model(checkpoint, "target");
  trainer::require_same_vocab(checkpoint, corpus_path, corpus->vocab_fingerprint(),
                              corpus->vocab_sizes());
  trainer::Model model = trainer::model_from_checkpoint(checkpoint, *corpus);
  targeting.scoring.item_prior = trainer::cooccurrence_prior_of(checkpoint, *corpus);

  const bool quiet = args.get_flag("quiet");
  std::unique_ptr<ProgressMeter> meter;
  std::string meter_stage;
  marketing::TargetingCallbacks callbacks;
  callbacks.progress = [&](const std::string& stage, int64_t done, int64_t total) {
    if (quiet) return;
    if (!meter || stage != meter_stage) {  // each scoring pass gets its own line
      meter =
          std::make_unique<ProgressMeter>("target: " + stage, static_cast<double>(total), "users");
      meter_stage = stage;
    }
    if (done >= total) {
      meter->finish(static_cast<double>(done));
    } else {
      meter->update(static_cast<double>(done));
    }
  };
  callbacks.notice = [](const std::string& message) {
    std::fprintf(stderr, "target: %s\n", message.c_str());
  };

  if (coupon_specs.empty()) {
    targeting.checkpoint = checkpoint_dir;
    const marketing::TargetingList list =
        marketing::build_targeting_list(model, *corpus, targeting, callbacks);
    const std::string out = args.has("out") ? args.get("out") : "targets.csv";
    write_file_atomically(out, marketing::targeting_csv(list));
    std::printf("target: score = %s\n", list.score_definition.c_str());
    std::printf("target: %zu of %lld users selected", list.rows.size(),
                static_cast<long long>(list.users_scored));
    if (!list.rows.empty()) {
      std::printf(" (scores %s .. %s; all users: mean %s)",
                  marketing::fixed_or_blank(list.rows.front().score, 4).c_str(),
                  marketing::fixed_or_blank(list.rows.back().score, 4).c_str(),
                  marketing::fixed_or_blank(list.mean_score, 4).c_str());
    }
    std::printf("\ntargets: %s\n", out.c_str());
    return 0;
  }

  coupon_plan.checkpoint = checkpoint_dir;
  const marketing::CouponPlan plan =
      marketing::plan_coupons(model, *corpus, coupon_plan, callbacks);
  const std::string out = args.has("out") ? args.get("out") : "coupons.csv";
  const std::string summary_path = marketing::coupon_summary_path(out);
  write_files_atomically({{out, marketing::coupon_plan_csv(plan)},
                          {summary_path, marketing::coupon_plan_summary_json(plan)}});
  const marketing::CouponPlanSummary& s = plan.summary;
  if (s.uplift_identified) {
    std::printf(
        "coupons: uplift: %lld coupons to %lld candidates, face value %s; expected extra "
        "purchases %s, expected spend %s, return on spend %s\n",
        static_cast<long long>(s.coupons_issued), static_cast<long long>(s.candidates),
        marketing::fixed_or_blank(s.face_value_issued, 2).c_str(),
        marketing::fixed_or_blank(s.expected_extra_purchases, 2).c_str(),
        marketing::fixed_or_blank(s.expected_spend, 2).c_str(),
        marketing::fixed_or_blank(s.expected_return_on_spend, 2).c_str());
  } else {
    std::printf(
        "coupons: propensity ranking (uplift not identified): %lld coupons of %s to %lld "
        "candidates, face value %s\n",
        static_cast<long long>(s.coupons_issued), s.coupons[0].type.name.c_str(),
        static_cast<long long>(s.candidates),
        marketing::fixed_or_blank(s.face_value_issued, 2).c_str());
  }
  std::printf("coupons: %s\nsummary: %s\n", out.c_str(), summary_path.c_str());
  return 0;
}

}  // namespace cf::cli
