#include "sweep/results_table.h"

#include <cstdio>

#include "core/config_fields.h"
#include "core/error.h"

namespace cf::sweep {
namespace {

// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A Markdown table cell: pipes escaped, line breaks flattened.
std::string md_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

void check_sizes(const TrialPlan& plan, const std::vector<TrialResult>& results) {
  CF_CHECK(results.size() == plan.trials.size(), "one result per trial of the plan");
}

}  // namespace

int best_trial_index(const std::vector<TrialResult>& results) {
  int best = -1;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].status != TrialStatus::kDone) continue;
    if (best < 0 || scores_better(results[i], results[size_t(best)])) best = int(i);
  }
  return best;
}

std::string results_csv(const TrialPlan& plan, const std::vector<TrialResult>& results,
                        const std::string& metric) {
  check_sizes(plan, results);
  const int best = best_trial_index(results);
  std::string out = "id";
  for (const SweepAxis& axis : plan.axes) out += "," + csv_field(axis.key);
  out += "," + csv_field(metric) + ",best_step,steps,stopped_early,wall_s,status,best\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const Trial& trial = plan.trials[i];
    const TrialResult& r = results[i];
    const bool done = r.status == TrialStatus::kDone;
    out += csv_field(trial.id);
    for (const std::string& value : trial.values) out += "," + csv_field(value);
    out += "," + (done ? config_fields::shortest_decimal(r.value) : std::string());
    out += "," + (done ? std::to_string(r.best_step) : std::string());
    out += "," + (r.status == TrialStatus::kPending ? std::string() : std::to_string(r.steps));
    out += "," + std::string(r.status == TrialStatus::kPending ? "" : r.stopped_early ? "1" : "0");
    out += "," + (r.status == TrialStatus::kPending ? std::string() : fixed(r.wall_seconds, 1));
    out += "," + std::string(trial_status_name(r.status));
    out += "," + std::string(int(i) == best ? "1" : "") + "\n";
  }
  return out;
}

std::string results_markdown(const TrialPlan& plan, const std::vector<TrialResult>& results,
                             const std::string& metric) {
  check_sizes(plan, results);
  const int best = best_trial_index(results);
  size_t done = 0, failed = 0;
  for (const TrialResult& r : results) {
    done += r.status == TrialStatus::kDone;
    failed += r.status == TrialStatus::kFailed;
  }
  std::string out = "# Sweep\n\n";
  out += std::to_string(done) + " of " + std::to_string(results.size()) + " trials done";
  if (failed > 0) out += ", " + std::to_string(failed) + " failed";
  out += "; validation " + metric + " (" + (higher_is_better(metric) ? "higher" : "lower") +
         " is better)";
  if (best >= 0) {
    out += "; best: " + plan.trials[size_t(best)].id + ", " + metric + " " +
           fixed(results[size_t(best)].value, 4);
  }
  out += ".\n\n| id |";
  for (const SweepAxis& axis : plan.axes) out += " " + md_cell(axis.key) + " |";
  out +=
      " " + md_cell(metric) + " | best step | steps | stopped early | wall s | status | |\n|---|";
  for (size_t a = 0; a < plan.axes.size(); ++a) out += "---|";
  out += "---:|---:|---:|---|---:|---|---|\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const Trial& trial = plan.trials[i];
    const TrialResult& r = results[i];
    const bool done = r.status == TrialStatus::kDone;
    const bool pending = r.status == TrialStatus::kPending;
    out += "| " + trial.id + " |";
    for (const std::string& value : trial.values) out += " " + md_cell(value) + " |";
    out += " " + (done ? fixed(r.value, 4) : std::string()) + " |";
    out += " " + (done ? std::to_string(r.best_step) : std::string()) + " |";
    out += " " + (pending ? std::string() : std::to_string(r.steps)) + " |";
    out += " " + std::string(pending ? "" : r.stopped_early ? "yes" : "no") + " |";
    out += " " + (pending ? std::string() : fixed(r.wall_seconds, 1)) + " |";
    out += " " + std::string(trial_status_name(r.status)) + " |";
    out += std::string(int(i) == best ? " **best** |" : " |") + "\n";
  }
  if (failed > 0) {
    out += "\nFailed trials (delete their trial.json and rerun the sweep to retry them):\n\n";
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].status != TrialStatus::kFailed) continue;
      out += "- " + plan.trials[i].id + " (" + md_cell(plan.describe(plan.trials[i])) +
             "): " + md_cell(results[i].error) + "\n";
    }
  }
  return out;
}

}  // namespace cf::sweep
