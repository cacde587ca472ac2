// bench_uplift: does uplift-based coupon allocation pay off where the true effect is known?
// On a synthetic log with randomised coupon exposure it pretrains a model (next event, with the
// next-action head) and fine-tunes a propensity head from it, then allocates one coupon type to
// a fixed number of users by
//   uplift      P(purchase | coupon live) - P(purchase | none) (as cartformer target does), from
//               either head
//   propensity  P(purchase | none): the users most likely to buy, from either head
//   random      uniformly drawn users (mean of 50 draws)
//   oracle      the true uplift (the best any policy could do)
// and scores each allocation with the generator's ground truth. Prints a Markdown table; the
// verdict compares the propensity head's uplift policy (what `cartformer target` uses on a
// fine-tuned checkpoint) with the better propensity-only policy and random.
//
// The truth follows the generator (docs/synthetic-data.md): a coupon live at a cart raises
// P(buy | cart) from buy_prob to min(cap, buy_prob * (1 + (factor - 1) * s * deal_affinity)),
// s the user's coupon sensitivity and deal_affinity that of the carted item's category, and a
// buy is decided right after its cart. The model predicts the user's next event, so the true
// incremental purchases of giving user u the coupon now are
//   [u's last event is a cart] * (min(cap, buy_prob_u * (1 + (f - 1) s_u a_c)) - buy_prob_u).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "core/random.h"
#include "data/corpus.h"
#include "data/prep.h"
#include "data/synth/synth.h"
#include "data/user_pseudonym.h"
#include "tools/cli/args.h"
#include "marketing/coupon_allocation.h"
#include "marketing/ranked_allocation.h"
#include "marketing/user_scores.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/model/model.h"
#include "trainer/train_loop.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct UserTruth {
  double coupon_sensitivity = 1, buy_prob = 0;
};

std::unordered_map<std::string, UserTruth> read_user_truth(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw cf::UserError(path + ": cannot open");
  std::unordered_map<std::string, UserTruth> out;
  std::string line;
  std::getline(in, line);  // user_id,experiment,activity_id,coupon_sensitivity,cart_prob,buy_prob
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string field; std::getline(ss, field, ',');) f.push_back(field);
    if (f.size() != 6) throw cf::UserError(path + ": malformed row '" + line + "'");
    out[f[0]] = {std::stod(f[3]), std::stod(f[5])};
  }
  return out;
}

double truth_of(const cf::marketing::AllocationResult& r, const std::vector<double>& truth) {
  double total = 0;
  for (const auto& a : r.assignments) total += truth[static_cast<size_t>(a.user)];
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    cf::cli::ArgParser args("bench_uplift",
                            "Coupon allocation by estimated uplift vs propensity vs random on a synthetic log "
                            "with a known coupon effect.");
    args.option("users", "N", "synthetic users", "10000");
    args.option("seed", "S", "synthetic log seed", "11");
    args.option("activities", "N", "coupons/campaigns in the log (each exposed user gets one)", "1");
    args.option("exposure", "X", "share of users exposed (a coin flip per user)", "0.8");
    args.option("coupon", "ID", "the activity allocated (a1 is a coupon)", "a1");
    args.option("budget-share", "X", "coupons as a share of the users", "0.02");
    args.option("pretrain-steps", "N", "pretraining steps", "2000");
    args.option("propensity-steps", "N", "propensity fine-tuning steps", "1500");
    args.option("propensity-batch", "N", "propensity micro-batch", "256");
    args.option("configs", "DIR", "the repository's configs folder", "configs");
    args.option("work", "DIR", "scratch folder (replaced)", "runs/bench_uplift");
    if (!args.parse(argc - 1, argv + 1)) return 0;
    const std::string work = args.get("work"), configs = args.get("configs");
    fs::remove_all(work);
    fs::create_directories(work);
    const auto t0 = Clock::now();

    cf::synth::SynthOptions synth;
    synth.users = args.get_int("users");
    synth.seed = static_cast<uint64_t>(args.get_int("seed"));
    synth.randomized_fraction = 1.0;  // exposure is a coin flip for everyone: uplift identified
    synth.exposure_fraction = args.get_double("exposure");
    synth.campaigns = static_cast<int32_t>(args.get_int("activities"));
    const std::string logs = work + "/logs";
    const cf::synth::SynthSummary summary = cf::synth::generate_synthetic_logs(synth, logs);

    cf::data::PrepOptions prep;
    cf::data::RawSourceSpec source;
    source.format = cf::data::RawFormat::kTrio;
    source.path = logs;
    prep.sources = {source};
    prep.output_path = work + "/corpus.h5";
    prep.user_key = cf::data::kDemoUserKey;  // known, so the ground truth can be joined
    prep.user_key_source = "demo-key";
    cf::data::run_prep(prep);
    const double data_s = seconds_since(t0);

    auto train = [&](const std::string& config, std::vector<std::string> overrides) {
      overrides.push_back("data.corpus=" + prep.output_path);
      cf::trainer::Config c = cf::trainer::load_config(configs + "/" + config, overrides);
      cf::trainer::TrainHooks hooks;
      return cf::trainer::run_training(c, "", hooks, nullptr);
    };
    const auto t1 = Clock::now();
    const cf::trainer::TrainOutcome pretrain_run = train("demo/pretrain.yaml", {"run.out_dir=" + work + "/pretrain",
                                 "train.steps=" + args.get("pretrain-steps")});
    const cf::trainer::TrainOutcome propensity_run = train(
        "demo/finetune_propensity.yaml",
        {"run.out_dir=" + work + "/propensity", "task.init_from=" + work + "/pretrain",
         "train.steps=" + args.get("propensity-steps"),
         "train.micro_batch=" + args.get("propensity-batch")});
    const double train_s = seconds_since(t1);

    // Scores from both models, as `cartformer target` computes them: the pretrained checkpoint's
    // next-action head and the fine-tuned propensity head, each with and without the coupon.
    std::unique_ptr<cf::data::CorpusReader> corpus = cf::data::CorpusReader::open(prep.output_path);
    const std::vector<std::string> activities = corpus->activity_raw_ids();
    const auto token_it = std::find(activities.begin(), activities.end(), args.get("coupon"));
    if (token_it == activities.end() || token_it == activities.begin()) {
      throw cf::UserError("--coupon " + args.get("coupon") + ": not an activity of the log");
    }
    const int32_t token = static_cast<int32_t>(token_it - activities.begin());
    struct HeadScores {
      std::vector<double> without, with;
    };
    auto score = [&](const std::string& checkpoint, cf::marketing::PurchaseHead head) {
      cf::trainer::LoadedCheckpoint ck = cf::trainer::load_checkpoint(checkpoint, false);
      cf::trainer::Model model = cf::trainer::model_from_checkpoint(ck, *corpus);
      cf::marketing::ScoringOptions scoring;
      return HeadScores{cf::marketing::purchase_probability(model, *corpus, head, cf::marketing::Exposure::kNone, 0, scoring),
                        cf::marketing::purchase_probability(model, *corpus, head, cf::marketing::Exposure::kActivity, token, scoring)};
    };
    const HeadScores action = score(pretrain_run.final_checkpoint, cf::marketing::PurchaseHead::kNextAction);
    const HeadScores propensity_head = score(propensity_run.final_checkpoint, cf::marketing::PurchaseHead::kPropensity);
    const size_t n = action.without.size();

    // Ground truth per corpus user.
    std::ifstream truth_json_file(logs + "/" + cf::synth::kSynthGroundTruthFile);
    const cf::Json truth_json = cf::Json::parse(truth_json_file);
    const cf::Json& effect = truth_json["coupon_effect"];
    double factor = 0;
    for (const auto& a : effect["activities"]) {
      if (a["activity_id"] == args.get("coupon")) factor = a["factor"].get<double>();
    }
    const double cap = effect["buy_prob_cap"].get<double>();
    const cf::Json& model_truth = truth_json["behaviour_model"];
    const std::vector<std::string> deal = model_truth["deal_categories"].get<std::vector<std::string>>();
    const double deal_affinity = model_truth["deal_affinity"]["deal_categories"].get<double>();
    const double other_affinity = model_truth["deal_affinity"]["other_categories"].get<double>();
    const std::vector<std::string> categories = corpus->category_raw_ids();
    const auto users = read_user_truth(logs + "/" + cf::synth::kSynthUserTruthFile);
    std::unordered_map<std::string, UserTruth> by_key;
    const cf::data::UserPseudonymizer pseudonym(cf::data::kDemoUserKey);
    for (const auto& [raw, t] : users) by_key[pseudonym(raw)] = t;
    const std::vector<std::string> keys = corpus->user_keys();
    const std::vector<std::string> actions = corpus->action_names();
    std::vector<double> truth(n, 0.0);
    int64_t cart_last = 0;
    cf::data::Sequence seq;
    for (size_t u = 0; u < n; ++u) {
      corpus->read_sequence(static_cast<int64_t>(u), seq);
      const auto found = by_key.find(keys[u]);
      if (found == by_key.end()) throw cf::UserError("user " + keys[u] + " missing from the ground truth");
      if (actions[static_cast<size_t>(seq.action.back())] != "cart") continue;
      ++cart_last;
      const UserTruth& t = found->second;
      const std::string& category = categories[static_cast<size_t>(seq.category.back())];
      const double affinity =
          std::find(deal.begin(), deal.end(), category) != deal.end() ? deal_affinity : other_affinity;
      truth[u] = std::min(cap, t.buy_prob * (1 + (factor - 1) * t.coupon_sensitivity * affinity)) - t.buy_prob;
    }

    // Allocations at the same budget.
    using namespace cf::marketing;
    const std::vector<CouponType> coupons = {{args.get("coupon"), 1.0, 0.0}};
    auto effects_of = [&](const HeadScores& h) {
      std::vector<CouponEffect> effects(n);
      for (size_t u = 0; u < n; ++u) effects[u] = {h.with[u] - h.without[u], h.with[u]};
      return effects;
    };
    const std::vector<CouponEffect> action_effects = effects_of(action), propensity_effects = effects_of(propensity_head);
    AllocationOptions options;
    options.budget = std::max(1.0, std::round(args.get_double("budget-share") * double(n)));
    // Cost 0 and value 1: the allocation maximises expected incremental purchases.
    const AllocationResult uplift_action = allocate_coupons(static_cast<int64_t>(n), coupons, action_effects, options);
    const AllocationResult uplift_propensity = allocate_coupons(static_cast<int64_t>(n), coupons, propensity_effects, options);
    const AllocationResult by_propensity = allocate_by_score(propensity_head.without, 0, coupons, &propensity_effects, options);
    const AllocationResult by_action = allocate_by_score(action.without, 0, coupons, &action_effects, options);
    const AllocationResult oracle = allocate_by_score(truth, 0, coupons, &action_effects, options);
    constexpr int kRandomDraws = 50;
    double random_truth = 0, random_expected = 0;
    for (int d = 0; d < kRandomDraws; ++d) {
      cf::Xoshiro256 rng(cf::splitmix64_mix(777 + static_cast<uint64_t>(d)));
      std::vector<double> noise(n);
      for (auto& x : noise) x = double(rng.next() >> 11) * 0x1.0p-53;
      const AllocationResult r = allocate_by_score(noise, 0, coupons, &action_effects, options);
      random_truth += truth_of(r, truth) / kRandomDraws;
      random_expected += r.expected_incremental_purchases / kRandomDraws;
    }

    std::printf("\n## bench_uplift (%d threads)\n\n", omp_get_max_threads());
    std::printf("Synthetic log: %lld users, %lld events, seed %s, coupon %s (factor %.3f), exposure randomised "
                "(share %s); %lld users (%.1f%%) have a cart as their last event. Data %.0f s, "
                "training %.0f s (pretrain %s steps, propensity %s steps x %s rows).\n\n",
                static_cast<long long>(summary.users), static_cast<long long>(summary.events), args.get("seed").c_str(),
                args.get("coupon").c_str(), factor, args.get("exposure").c_str(), static_cast<long long>(cart_last),
                100.0 * double(cart_last) / double(n), data_s, train_s, args.get("pretrain-steps").c_str(),
                args.get("propensity-steps").c_str(), args.get("propensity-batch").c_str());
    std::printf("| policy (budget %.0f coupons) | coupons | true extra purchases | per coupon | vs random | model's estimate |\n",
                options.budget);
    std::printf("|---|---:|---:|---:|---:|---:|\n");
    auto row = [&](const char* name, const AllocationResult& r, double true_total, double estimate) {
      const double issued = double(r.assignments.size());
      std::printf("| %s | %.0f | %.2f | %.4f | %.2fx | %.2f |\n", name, issued, true_total,
                  issued > 0 ? true_total / issued : 0.0, random_truth > 0 ? true_total / random_truth : 0.0, estimate);
    };
    const double t_uplift_action = truth_of(uplift_action, truth), t_uplift_propensity = truth_of(uplift_propensity, truth);
    const double t_by_propensity = truth_of(by_propensity, truth), t_by_action = truth_of(by_action, truth);
    row("uplift, next-action head (pretrained)", uplift_action, t_uplift_action, uplift_action.expected_incremental_purchases);
    row("uplift, propensity head (fine-tuned)", uplift_propensity, t_uplift_propensity, uplift_propensity.expected_incremental_purchases);
    row("propensity only, propensity head", by_propensity, t_by_propensity, by_propensity.expected_incremental_purchases);
    row("propensity only, next-action head", by_action, t_by_action, by_action.expected_incremental_purchases);
    AllocationResult random_like;
    random_like.assignments.resize(static_cast<size_t>(options.budget));
    row("random (mean of 50 draws)", random_like, random_truth, random_expected);
    row("oracle (true uplift)", oracle, truth_of(oracle, truth), oracle.expected_incremental_purchases);
    // The verdict is on what `cartformer target` does by default with the fine-tuned checkpoint:
    // uplift from its propensity head.
    const double best_propensity = std::max(t_by_propensity, t_by_action);
    std::printf("\nuplift (propensity head) / best propensity-only: %.2fx; / random: %.2fx -> %s\n",
                best_propensity > 0 ? t_uplift_propensity / best_propensity : 0.0,
                random_truth > 0 ? t_uplift_propensity / random_truth : 0.0,
                t_uplift_propensity > best_propensity && t_uplift_propensity > random_truth
                    ? "uplift beats both"
                    : "uplift does NOT beat both");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_uplift: error: %s\n", e.what());
    return 1;
  }
}
