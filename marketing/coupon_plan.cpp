#include "marketing/coupon_plan.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/json.h"
#include "marketing/ranked_allocation.h"
#include "marketing/vocabulary_lookup.h"
#include "report/data_profile.h"
#include "trainer/model/model.h"

namespace cf::marketing {

namespace {

std::string caveat_of(bool uplift_identified, const std::string& first_coupon) {
  if (uplift_identified) {
    return "uplift estimated from logs declared randomised (--exposure-randomized): an estimate "
           "of the causal effect only if coupon exposure really was random";
  }
  return "uplift is not identified: coupon exposure in these logs was not declared randomised, "
         "so a model of them confounds the coupon's effect with who was chosen to receive it. "
         "The first coupon listed (" +
         first_coupon +
         ") goes to the users most likely to buy (propensity ranking); the uplift, cost and net "
         "columns are the model's unvalidated estimates. Pass --exposure-randomized if exposure "
         "was a randomised experiment.";
}

// The request's value per purchase, else the corpus's average order value as the report's data
// profile defines it.
double value_per_purchase_for(const CouponPlanRequest& request, const data::CorpusReader& corpus) {
  if (request.value_per_purchase) return *request.value_per_purchase;
  const Json order_value = report::profile_corpus(corpus)["order_value"];
  if (!order_value.value("available", false)) {
    throw UserError("--value-per-purchase: required (" + corpus.path() +
                    " has no purchase prices to take the average order value from)");
  }
  return order_value["mean"].get<double>();
}

}  // namespace

CouponPlan plan_coupons(trainer::Model& model, const data::CorpusReader& corpus,
                        const CouponPlanRequest& request, const TargetingCallbacks& callbacks) {
  CF_CHECK(!request.coupons.empty(), "a coupon plan needs at least one coupon type");
  const std::vector<CouponType>& coupons = request.coupons;
  const std::vector<std::string> user_keys = corpus.user_keys();
  const PurchaseHead head =
      choose_purchase_head(model, request.head, request.checkpoint, "--coupon");
  const std::vector<std::string> activities = corpus.activity_raw_ids();
  std::vector<int32_t> coupon_tokens;
  for (const CouponType& coupon : coupons) {
    coupon_tokens.push_back(token_named(activities, coupon.name, "--coupon",
                                        "an activity (coupon or campaign)", corpus.path()));
  }
  AllocationOptions allocation;
  allocation.budget_kind = request.budget_kind;
  allocation.budget = request.budget;
  allocation.value_per_purchase = value_per_purchase_for(request, corpus);

  auto progress_of = [&](const std::string& stage) -> ScoringProgress {
    if (!callbacks.progress) return {};
    return [&, stage](int64_t done, int64_t total) { callbacks.progress(stage, done, total); };
  };
  const bool randomized = request.exposure_randomized;
  const std::vector<double> without =
      purchase_probability(model, corpus, head, Exposure::kNone, 0, request.scoring,
                           progress_of("scoring without coupon"));
  const size_t users = without.size();
  std::vector<CouponEffect> effects(users * coupons.size());
  // Without identified uplift only the first coupon is given (by propensity), so only it is scored.
  const size_t scored_coupons = randomized ? coupons.size() : 1;
  for (size_t c = 0; c < scored_coupons; ++c) {
    const std::vector<double> with =
        purchase_probability(model, corpus, head, Exposure::kActivity, coupon_tokens[c],
                             request.scoring, progress_of("scoring with " + coupons[c].name));
    for (size_t u = 0; u < users; ++u) {
      effects[u * coupons.size() + c] = {with[u] - without[u], with[u]};
    }
  }
  const std::string caveat = caveat_of(randomized, coupons[0].name);
  AllocationResult result;
  if (randomized) {
    result = allocate_coupons(static_cast<int64_t>(users), coupons, effects, allocation);
  } else {
    if (callbacks.notice) callbacks.notice("note: " + caveat);
    result = allocate_by_score(without, 0, coupons, &effects, allocation);
  }

  CouponPlan plan;
  for (const Assignment& a : result.assignments) {
    const size_t u = static_cast<size_t>(a.user), c = static_cast<size_t>(a.coupon);
    plan.rows.push_back({user_keys[u], coupons[c].name, a.uplift, a.expected_cost, a.net_value,
                         without[u], effects[u * coupons.size() + c].redemption_probability});
  }
  CouponPlanSummary& s = plan.summary;
  s.checkpoint = request.checkpoint;
  s.corpus = corpus.path();
  s.uplift_identified = randomized;
  s.caveat = caveat;
  s.candidates = static_cast<int64_t>(users);
  s.budget_kind = allocation.budget_kind;
  s.budget = allocation.budget;
  s.budget_used = result.budget_used;
  s.value_per_purchase = allocation.value_per_purchase;
  for (size_t c = 0; c < coupons.size(); ++c) {
    int64_t issued = 0;
    for (const Assignment& a : result.assignments) issued += static_cast<size_t>(a.coupon) == c;
    s.coupons.push_back({coupons[c], issued});
  }
  s.coupons_issued = static_cast<int64_t>(result.assignments.size());
  s.face_value_issued = result.face_value_issued;
  s.head = head;
  s.expected_extra_purchases = result.expected_incremental_purchases;
  s.expected_spend = result.expected_cost;
  s.expected_net_value = result.net_value;
  s.expected_return_on_spend =
      result.expected_cost > 0 ? allocation.value_per_purchase *
                                     result.expected_incremental_purchases / result.expected_cost
                               : std::nan("");
  return plan;
}

std::string coupon_plan_csv(const CouponPlan& plan) {
  std::string csv =
      "user_key,coupon,expected_uplift,expected_cost,net_value,purchase_prob_without,"
      "purchase_prob_with\n";
  for (const CouponPlanRow& row : plan.rows) {
    csv += row.user_key + "," + row.coupon + "," + fixed_or_blank(row.expected_uplift, 6) + "," +
           fixed_or_blank(row.expected_cost, 4) + "," + fixed_or_blank(row.net_value, 4) + "," +
           fixed_or_blank(row.purchase_prob_without, 6) + "," +
           fixed_or_blank(row.purchase_prob_with, 6) + "\n";
  }
  return csv;
}

std::string coupon_plan_summary_json(const CouponPlan& plan) {
  const CouponPlanSummary& s = plan.summary;
  Json coupons = Json::array();
  for (const IssuedCoupon& c : s.coupons) {
    coupons.push_back({{"name", c.type.name},
                       {"face_value", c.type.face_value},
                       {"cost_per_redemption", c.type.cost_per_redemption},
                       {"issued", c.issued}});
  }
  const Json estimates = {
      {"expected_extra_purchases", json_number_or_null(s.expected_extra_purchases)},
      {"expected_spend", json_number_or_null(s.expected_spend)},
      {"expected_net_value", json_number_or_null(s.expected_net_value)},
      {"expected_return_on_spend", json_number_or_null(s.expected_return_on_spend)}};
  Json summary = {
      {"checkpoint", s.checkpoint},
      {"corpus", s.corpus},
      {"method", s.uplift_identified ? "uplift" : "propensity ranking (uplift not identified)"},
      {"caveat", s.caveat},
      {"candidates", s.candidates},
      {"budget",
       {{"kind", s.budget_kind == BudgetKind::kCoupons ? "coupons" : "face value"},
        {"amount", s.budget},
        {"used", s.budget_used}}},
      {"value_per_purchase", s.value_per_purchase},
      {"coupons", coupons},
      {"coupons_issued", s.coupons_issued},
      {"face_value_issued", s.face_value_issued},
      {"purchase_head", purchase_head_name(s.head)},
      {"uplift_definition",
       "P(next event is a purchase | coupon live in the current session) - P(... | no "
       "activity)"}};
  // Expected effects are claimed only where they are identified; otherwise the model's numbers
  // are kept apart, under a name that says what they are.
  if (s.uplift_identified) {
    summary.update(estimates);
  } else {
    summary["model_estimates_unidentified"] = estimates;
  }
  return summary.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string coupon_summary_path(const std::string& csv_path) {
  const std::filesystem::path p(csv_path);
  return (p.parent_path() / (p.stem().string() + "_summary.json")).string();
}

}  // namespace cf::marketing
