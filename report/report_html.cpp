#include "report/report_html.h"

#include <cmath>
#include <cstdio>

#include "report/copy_section.h"
#include "report/html_page.h"
#include "report/report_format.h"
#include "report/svg_chart.h"

namespace cf::report {

namespace {

std::string percent(double v, int decimals = 1) {
  return std::isfinite(v) ? fixed(100 * v, decimals) + "%" : "n/a";
}
std::string count(double v) {
  if (!std::isfinite(v)) return "n/a";
  std::string digits = std::to_string(static_cast<long long>(std::llround(v)));
  std::string out;
  const size_t first = digits[0] == '-' ? 1 : 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > first && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}
std::string duration(double seconds) {
  if (!std::isfinite(seconds)) return "n/a";
  if (seconds < 120) return fixed(seconds, 1) + " s";
  if (seconds < 7200) return fixed(seconds / 60, 1) + " min";
  return fixed(seconds / 3600, 2) + " h";
}
// "0.0466 [0.0412, 0.0521]" from {estimate, lower, upper}.
std::string with_interval(const Json& interval, int decimals = 4) {
  return fixed(num(interval, "estimate"), decimals) + " [" + fixed(num(interval, "lower"), decimals) +
         ", " + fixed(num(interval, "upper"), decimals) + "]";
}
std::vector<double> numbers(const Json& array) {
  std::vector<double> out;
  if (array.is_array()) {
    for (const auto& v : array) out.push_back(num(v));
  }
  return out;
}
std::string level_text(const Json& bootstrap) {
  return fixed(100 * num(bootstrap, "level"), 0) + "% bootstrap interval over users (" +
         text(bootstrap, "resamples") + " resamples)";
}

// ---- sections -----------------------------------------------------------------------------

std::string model_line(const Json& m) {
  if (!m.contains("model")) return "";
  const Json& s = m["model"];
  // Reports written before model.block existed have no "block": their models are gpt.
  return text(s, "n_layer") + " " + text(s, "block", "gpt") + " blocks × d_model " + text(s, "d_model") + ", " + text(s, "n_head") +
         " heads, context " + text(s, "max_len") + ", " + count(num(s, "parameters")) + " parameters";
}

std::string hardware_line(const Json& run_info) {
  if (!run_info.is_object()) return "not recorded";
  const std::string device = text(run_info, "device");
  // The GPU's name is in the description ("device: cuda (auto: GPU 0 of 8: NVIDIA H200, ...)").
  std::string where = device == "cuda" ? text(run_info, "device_description") : "CPU: " + text(run_info, "host_cpu");
  return text(run_info, "world_size") + " rank(s) × " + text(run_info, "threads_per_rank") + " threads; " + where;
}

// "epsilon 2.91 at delta 1e-05 (DP-SGD, clip 1, noise 0.79, 2,000 steps)", or "none" for a
// model trained without privacy.
std::string privacy_line(const Json& m) {
  if (!m.contains("privacy") || !m["privacy"].is_object()) return "none";
  const Json& p = m["privacy"];
  char line[192];
  std::snprintf(line, sizeof line,
                "epsilon %.3g at delta %.2g (DP-SGD: clip %g, noise multiplier %.3g, sampling rate "
                "%.3g, %s steps)",
                num(p, "epsilon"), num(p, "delta"), num(p, "clip_norm"), num(p, "noise_multiplier"),
                num(p, "sampling_rate"), count(num(p, "steps")).c_str());
  std::string out = line;
  // A private fine-tune of a private checkpoint: its epsilon covers the earlier runs too.
  if (p.contains("earlier_phases") && p["earlier_phases"].is_array() &&
      !p["earlier_phases"].empty()) {
    double steps = 0;
    for (const Json& phase : p["earlier_phases"]) steps += num(phase, "steps");
    out += ", composed with " + std::to_string(p["earlier_phases"].size()) +
           " earlier private run(s) on the same users (" + count(steps) + " steps)";
  }
  return out;
}

void summary_section(HtmlPage& page, const Json& report) {
  const Json& data = report["summary"]["data"];
  page.begin_section("summary", "Run summary");
  std::string files;
  for (const auto& f : data["source_files"]) files += (files.empty() ? "" : ", ") + f.get<std::string>();
  page.key_values({{"corpus", text(data, "corpus")},
                   {"source", text(data, "source_format") + (files.empty() ? "" : ": " + files)},
                   {"users (sequences)", count(num(data, "users"))},
                   {"items", count(num(data, "items"))},
                   {"events", count(num(data, "events"))},
                   {"categories / activities", count(num(data, "categories")) + " / " + count(num(data, "activities"))},
                   {"rows rejected by prep", count(num(data, "rows_rejected"))},
                   {"evaluation split", text(data, "split") + ": " + text(data, "split_description", "")},
                   {"users evaluated", count(num(data, "eval_users"))}});
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : report["summary"]["models"]) {
    const Json& t = m.contains("training") ? m["training"] : Json::object();
    const Json& info = m.contains("run_info") ? m["run_info"] : Json(nullptr);
    rows.push_back({text(m, "role"), text(m, "checkpoint", text(m, "source")), text(m, "task", "?"),
                    text(m, "step", "?"), model_line(m), count(num(t, "tokens_seen")),
                    duration(num(t, "elapsed_s")), hardware_line(info), privacy_line(m)});
  }
  page.subheading("Models");
  page.table({"role", "checkpoint", "task", "step", "architecture", "tokens trained", "training time", "hardware",
              "privacy"},
             rows, "", false);
  page.end_section();
}

void training_section(HtmlPage& page, const Json& report) {
  page.begin_section("training", "Training curves");
  if (report["training"].empty()) {
    page.note("No training run was found for the evaluated checkpoints (pass --run DIR to chart one).");
    page.end_section();
    return;
  }
  for (const auto& run : report["training"]) {
    const std::string name = text(run, "run") + " (" + text(run, "task", "?") + ")";
    page.subheading(name);
    page.paragraph(count(num(run, "tokens_seen")) + " target tokens in " + duration(num(run, "elapsed_s")) +
                   "; " + hardware_line(run["run_info"]) + ".");
    page.grid_begin();
    LineChartSpec loss;
    loss.title = "loss";
    loss.x.label = "step";
    loss.y.label = "cross-entropy (nats)";
    loss.series.push_back({"train", numbers(run["step"]), numbers(run["loss"]), {}, {}, false, false, false});
    loss.series.push_back({"validation", numbers(run["val_step"]), numbers(run["val_loss"]), {}, {}, true, true, false});
    page.figure(line_chart_svg(loss), "Training loss (logged steps) and validation loss of " + name + ".");
    LineChartSpec lr;
    lr.title = "learning rate";
    lr.x.label = "step";
    lr.y.label = "learning rate";
    lr.series.push_back({"lr", numbers(run["step"]), numbers(run["lr"]), {}, {}, false, false, false});
    page.figure(line_chart_svg(lr), "Learning-rate schedule.");
    LineChartSpec speed;
    speed.title = "throughput";
    speed.x.label = "step";
    speed.y.label = "target tokens / s";
    speed.series.push_back({"tokens/s", numbers(run["step"]), numbers(run["tokens_per_s"]), {}, {}, false, false, false});
    page.figure(line_chart_svg(speed), "Training throughput over the logging interval.");
    page.grid_end();
  }
  page.end_section();
}

void next_item_section(HtmlPage& page, const Json& report) {
  const Json& n = report["next_item"];
  const std::vector<int> cutoffs = n["cutoffs"].get<std::vector<int>>();
  const std::vector<std::string> scorers = n["scorers"].get<std::vector<std::string>>();
  page.begin_section("next-item", "Next-item quality");
  page.paragraph("The held-out item is ranked among all items not in the user's history (" +
                 count(num(n, "n_users")) + " users; ties count against the model). Intervals: " +
                 level_text(n["bootstrap"]) + ".");
  // Two tables (hit rates; NDCG and MRR) so each stays readable with its intervals.
  for (const char* metric : {"hr", "ndcg"}) {
    std::vector<std::string> header = {"scorer"};
    for (int k : cutoffs) header.push_back((std::string(metric) == "hr" ? "HR@" : "NDCG@") + std::to_string(k));
    if (std::string(metric) == "ndcg") header.push_back("MRR");
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : scorers) {
      const Json& m = n["metrics"][s];
      std::vector<std::string> row = {s};
      for (int k : cutoffs) row.push_back(with_interval(m[std::string(metric) + "@" + std::to_string(k)]));
      if (std::string(metric) == "ndcg") row.push_back(with_interval(m["mrr"]));
      rows.push_back(row);
    }
    page.table(header, rows,
               (std::string(metric) == "hr" ? "HR@K" : "NDCG@K and MRR") + std::string(" with ") +
                   level_text(n["bootstrap"]) + ".");
  }

  page.grid_begin();
  for (const char* metric : {"hr", "ndcg"}) {
    LineChartSpec chart;
    chart.title = std::string(metric) == "hr" ? "hit rate at K" : "NDCG at K";
    chart.x.label = "K (log scale)";
    chart.x.log_scale = true;
    chart.y.label = std::string(metric) == "hr" ? "HR@K" : "NDCG@K";
    chart.y.min = 0;
    for (const auto& s : scorers) {
      Series series;
      series.name = s;
      series.points = true;
      for (int k : cutoffs) {
        const Json& m = n["metrics"][s][std::string(metric) + "@" + std::to_string(k)];
        series.x.push_back(k);
        series.y.push_back(num(m, "estimate"));
        series.lo.push_back(num(m, "lower"));
        series.hi.push_back(num(m, "upper"));
      }
      chart.series.push_back(series);
    }
    page.figure(line_chart_svg(chart), chart.title + " for the model and the baselines; bands: " +
                                           level_text(n["bootstrap"]) + ".");
  }
  page.grid_end();

  for (const auto& b : n["breakdowns"]) {
    const std::string metric = b["metrics"][0].get<std::string>();
    BarChartSpec chart;
    chart.title = metric + " " + text(b, "title");
    chart.value_label = metric;
    chart.series_names = scorers;
    chart.horizontal = text(b, "by") == "category";
    std::vector<std::vector<std::string>> table_rows;
    for (const auto& g : b["groups"]) {
      BarGroup group;
      group.label = text(g, "label") + " (n=" + count(num(g, "n")) + ")";
      std::vector<std::string> row = {text(g, "label"), count(num(g, "n"))};
      for (const auto& s : scorers) {
        const Json& v = g["values"][s][metric];
        group.values.push_back(num(v, "estimate"));
        group.lo.push_back(num(v, "lower"));
        group.hi.push_back(num(v, "upper"));
        row.push_back(with_interval(v));
      }
      chart.groups.push_back(group);
      table_rows.push_back(row);
    }
    page.figure(bar_chart_svg(chart), metric + " " + text(b, "title") + "; whiskers: " +
                                          level_text(n["bootstrap"]) + ".");
    std::vector<std::string> head = {"group", "users"};
    for (const auto& s : scorers) head.push_back(s);
    page.table(head, table_rows);
  }
  page.end_section();
}

void propensity_section(HtmlPage& page, const Json& report) {
  page.begin_section("propensity", "Purchase propensity");
  const Json& p = report["propensity"];
  if (p.is_null()) {
    page.note("No evaluated checkpoint has a propensity head: fine-tune with task.kind: propensity "
              "and pass it with --propensity.");
    page.end_section();
    return;
  }
  const Json& model = p["model"];
  const Json& base = p["baseline"];
  page.paragraph("Label: " + text(p, "label") + " (" + count(num(model, "n")) + " users, " +
                 count(num(model, "positives")) + " positive). Scores from " + text(p, "source") +
                 "; the baseline is the " + text(p, "baseline_name") + ": " + text(p, "baseline_description") + ".");
  page.table({"scorer", "AUC [95% interval]", "log loss", "ECE (10 bins)"},
             {{"model", with_interval(model["auc"]), fixed(num(model, "log_loss")), fixed(num(model, "ece"))},
              {text(p, "baseline_name"), with_interval(base["auc"]), fixed(num(base, "log_loss")), fixed(num(base, "ece"))}});

  auto curve = [](const Json& points, const char* x, const char* y, const std::string& name, bool dashed) {
    Series s;
    s.name = name;
    s.dashed = dashed;
    for (const auto& pt : points) {
      s.x.push_back(num(pt, x));
      s.y.push_back(num(pt, y));
    }
    return s;
  };
  page.grid_begin();
  LineChartSpec roc;
  roc.title = "ROC curve";
  roc.x = {"false positive rate", false, 0.0, 1.0, false};
  roc.y = {"true positive rate", false, 0.0, 1.0, false};
  roc.diagonal = true;
  roc.series.push_back(curve(model["roc"], "fpr", "tpr", "model (AUC " + fixed(num(model["auc"], "estimate"), 3) + ")", false));
  roc.series.push_back(curve(base["roc"], "fpr", "tpr", text(p, "baseline_name") + " (AUC " + fixed(num(base["auc"], "estimate"), 3) + ")", true));
  page.figure(line_chart_svg(roc), "ROC curve; the diagonal is a random score.");

  LineChartSpec reliability;
  reliability.title = "reliability diagram";
  reliability.x = {"mean predicted probability", false, 0.0, std::nullopt, false};
  reliability.y = {"observed purchase rate", false, 0.0, std::nullopt, false};
  reliability.diagonal = true;
  Series rel = curve(model["reliability"], "mean_prediction", "positive_rate",
                     "model (ECE " + fixed(num(model, "ece"), 3) + ")", false);
  rel.points = true;
  reliability.series.push_back(rel);
  page.figure(line_chart_svg(reliability),
              "Observed purchase rate against the mean prediction in 10 equal-width probability bins "
              "(empty bins omitted); on the diagonal a model is calibrated.");

  LineChartSpec gain;
  gain.title = "cumulative gain";
  gain.x = {"share of users targeted (by score)", false, 0.0, 1.0, true};
  gain.y = {"share of purchasers reached", false, 0.0, 1.0, true};
  gain.diagonal = true;
  gain.series.push_back(curve(model["gain"], "fraction_targeted", "fraction_of_positives", "model", false));
  gain.series.push_back(curve(base["gain"], "fraction_targeted", "fraction_of_positives", text(p, "baseline_name"), true));
  page.figure(line_chart_svg(gain), "Cumulative gain: targeting the top x% of users by score reaches y% of the purchasers; the diagonal is random targeting.");

  LineChartSpec lift;
  lift.title = "lift";
  lift.x = {"share of users targeted (by score)", false, 0.0, 1.0, true};
  lift.y = {"lift over random targeting", false, 0.0, std::nullopt, false};
  lift.series.push_back(curve(model["gain"], "fraction_targeted", "lift", "model", false));
  lift.series.push_back(curve(base["gain"], "fraction_targeted", "lift", text(p, "baseline_name"), true));
  page.figure(line_chart_svg(lift), "Lift: the purchase rate among the targeted users divided by the overall rate.");
  page.grid_end();

  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < model["top"].size(); ++i) {
    const Json& m = model["top"][i];
    const Json& b = base["top"][i];
    rows.push_back({"top " + percent(num(m, "fraction"), 0), count(num(m, "selected")), percent(num(m, "precision")),
                    percent(num(m, "recall")), fixed(num(m, "lift"), 2) + "×", percent(num(b, "precision")),
                    percent(num(b, "recall")), fixed(num(b, "lift"), 2) + "×"});
  }
  page.subheading("Precision and recall among the highest-scored users");
  page.table({"targeted", "users", "precision", "recall", "lift", "baseline precision", "baseline recall", "baseline lift"},
             rows, "Users with equal scores are taken in corpus order (the baseline has one score per last action, so its ties are large).");
  page.end_section();
}

void data_section(HtmlPage& page, const Json& report) {
  const Json& d = report["data_profile"];
  page.begin_section("data", "Data profile");
  const Json& r = d["rates"];
  std::vector<std::pair<std::string, std::string>> kv = {
      {"events / users / items", count(num(d, "events")) + " / " + count(num(d, "users")) + " / " + count(num(d, "items"))},
      {"view → cart (click-through proxy)", percent(num(r, "cart_per_view"), 2) + " of views"},
      {"cart → buy (conversion)", percent(num(r, "buy_per_cart"), 2) + " of carts"},
      {"view → buy", percent(num(r, "buy_per_view"), 2) + " of views"},
      {"users who cart, of those who view", percent(num(r, "users_carting_per_viewing"))},
      {"users who buy, of those who cart", percent(num(r, "users_buying_per_carting"))}};
  const Json& aov = d["order_value"];
  if (aov.value("available", false)) {
    kv.push_back({"average order value", fixed(num(aov, "mean"), 2) + " (median " + fixed(num(aov, "median"), 2) + ", " +
                                             count(num(aov, "priced_purchases")) + " priced purchases; " + text(aov, "definition") + ")"});
  } else {
    kv.push_back({"average order value", "not available: " + text(aov, "reason")});
  }
  const Json& rep = d["repurchase"];
  kv.push_back({"repurchase rate", percent(num(rep, "rate")) + " of " + count(num(rep, "buyers")) +
                                       " buyers bought more than once; " + percent(num(rep, "same_item_rate")) +
                                       " bought the same item again"});
  const Json& epu = d["events_per_user"];
  kv.push_back({"events per user", "mean " + fixed(num(epu, "mean"), 1) + ", median " + count(num(epu, "p50")) +
                                       ", p10 " + count(num(epu, "p10")) + ", p90 " + count(num(epu, "p90")) +
                                       ", p99 " + count(num(epu, "p99")) + ", max " + count(num(epu, "max"))});
  page.key_values(kv);

  page.grid_begin();
  BarChartSpec funnel;
  funnel.title = "funnel: users reaching each stage";
  funnel.value_label = "share of users";
  funnel.percent = true;
  funnel.series_names = {"users"};
  funnel.value_labels = true;
  std::string funnel_counts;
  for (const auto& stage : d["funnel"]) {
    funnel.groups.push_back({text(stage, "stage"), {num(stage, "users") / num(d, "users")}, {}, {}});
    funnel_counts += (funnel_counts.empty() ? "" : ", ") + text(stage, "stage") + " " +
                     count(num(stage, "events")) + " events by " + count(num(stage, "users")) + " users";
  }
  page.figure(bar_chart_svg(funnel), "Share of users with at least one view, cart and purchase (" + funnel_counts + ").");
  BarChartSpec histogram;
  histogram.title = "events per user";
  histogram.value_label = "users";
  histogram.series_names = {"users"};
  for (const auto& bin : epu["histogram"]) {
    const double lower = num(bin, "lower"), upper = num(bin, "upper");
    const std::string label = upper - lower <= 1 ? count(lower) : count(lower) + "–" + count(upper - 1);
    histogram.groups.push_back({label, {num(bin, "users")}, {}, {}});
  }
  page.figure(bar_chart_svg(histogram), "Users by number of events (power-of-two bins).");
  page.grid_end();
  page.end_section();
}

}  // namespace

std::string render_report_html(const Json& report) {
  const Json& data = report["summary"]["data"];
  HtmlPage page("Cartformer offline report",
                text(data, "corpus") + " · " + count(num(data, "eval_users")) + " users evaluated");
  summary_section(page, report);
  training_section(page, report);
  next_item_section(page, report);
  propensity_section(page, report);
  data_section(page, report);
  if (report.contains("copy")) copy_section(page, report["copy"]);
  return page.finish();
}

std::string render_comparison_html(const Json& report) {
  HtmlPage page("Cartformer model comparison",
                text(report["a"], "role") + " vs " + text(report["b"], "role") + " · " +
                    count(num(report, "n_users")) + " users");
  page.begin_section("models", "Models");
  std::vector<std::vector<std::string>> models;
  for (const char* side : {"a", "b"}) {
    const Json& m = report[side];
    const Json& t = m.contains("training") ? m["training"] : Json::object();
    models.push_back({text(m, "role"), text(m, "checkpoint", text(m, "source")), text(m, "task", "?"),
                      text(m, "step", "?"), model_line(m), count(num(t, "tokens_seen")), duration(num(t, "elapsed_s"))});
  }
  page.table({"model", "checkpoint", "task", "step", "architecture", "tokens trained", "training time"}, models, "", false);
  page.paragraph("Corpus " + text(report["corpus"], "path") + "; both evaluated on the same " +
                 count(num(report, "n_users")) + " users, so differences are paired.");
  page.end_section();

  page.begin_section("differences", "Differences");
  const std::string a = text(report["a"], "role"), b = text(report["b"], "role");
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<int>> highlight;
  BarChartSpec chart;
  chart.title = b + " − " + a;
  chart.value_label = "difference";
  chart.series_names = {b + " − " + a};
  chart.horizontal = true;
  int significant = 0;
  for (const auto& m : report["metrics"]) {
    const double d = num(m, "difference");
    const bool sig = m.value("significant", false);
    significant += sig ? 1 : 0;
    rows.push_back({text(m, "metric"), fixed(num(m, "a")), fixed(num(m, "b")), (d > 0 ? "+" : "") + fixed(d),
                    "[" + fixed(num(m, "lower")) + ", " + fixed(num(m, "upper")) + "]", sig ? "yes" : "no"});
    const int mark = sig ? (d > 0 ? 1 : -1) : 0;
    highlight.push_back({0, 0, 0, mark, mark, 0});
    chart.groups.push_back({text(m, "metric"), {d}, {num(m, "lower")}, {num(m, "upper")}});
  }
  page.paragraph(std::to_string(significant) + " of " + std::to_string(report["metrics"].size()) +
                 " differences are significant: their " + level_text(report["bootstrap"]) +
                 " (paired: the same resampled users for both models) excludes zero.");
  page.table({"metric", a, b, b + " − " + a, "interval", "significant"}, rows,
             "Green: " + b + " significantly better; red: significantly worse.", true, highlight);
  page.figure(bar_chart_svg(chart), "Difference of every metric with its paired bootstrap interval.");
  page.end_section();

  page.begin_section("baselines", "Baselines on the same users");
  std::vector<std::vector<std::string>> base_rows;
  for (const auto& [name, m] : report["baselines"].items()) {
    base_rows.push_back({name, with_interval(m["hr@10"]), with_interval(m["ndcg@10"]), with_interval(m["mrr"])});
  }
  page.table({"baseline", "HR@10", "NDCG@10", "MRR"}, base_rows, "For scale: the simple baselines on the same users.");
  page.end_section();
  return page.finish();
}

}  // namespace cf::report
