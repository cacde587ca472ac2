#include "sweep/trial_result.h"

#include "core/error.h"

namespace cf::sweep {

const char* trial_status_name(TrialStatus status) {
  switch (status) {
    case TrialStatus::kPending:
      return "pending";
    case TrialStatus::kDone:
      return "done";
    case TrialStatus::kFailed:
      return "failed";
  }
  return "?";
}

bool higher_is_better(const std::string& metric) { return metric != "loss"; }

bool scores_better(const TrialResult& a, const TrialResult& b) {
  return higher_is_better(a.metric) ? a.value > b.value : a.value < b.value;
}

Json trial_result_to_json(const TrialResult& r) {
  Json j = {{"id", r.id}, {"status", trial_status_name(r.status)}, {"metric", r.metric}};
  if (r.status == TrialStatus::kDone) {
    j["value"] = r.value;
    j["best_step"] = r.best_step;
    j["best_checkpoint"] = r.best_checkpoint;
  }
  j["steps"] = r.steps;
  j["stopped_early"] = r.stopped_early;
  j["wall_seconds"] = r.wall_seconds;
  if (r.status == TrialStatus::kFailed) j["error"] = r.error;
  return j;
}

TrialResult trial_result_from_json(const Json& j, const std::string& origin) {
  TrialResult r;
  try {
    r.id = j.at("id").get<std::string>();
    const std::string status = j.at("status").get<std::string>();
    if (status == "done") {
      r.status = TrialStatus::kDone;
    } else if (status == "failed") {
      r.status = TrialStatus::kFailed;
    } else {
      throw UserError(origin + ": unknown trial status '" + status + "'");
    }
    r.metric = j.at("metric").get<std::string>();
    if (r.status == TrialStatus::kDone) {
      r.value = j.at("value").get<double>();
      r.best_step = j.at("best_step").get<int64_t>();
      r.best_checkpoint = j.at("best_checkpoint").get<std::string>();
    } else {
      r.error = j.at("error").get<std::string>();
    }
    r.steps = j.at("steps").get<int64_t>();
    r.stopped_early = j.at("stopped_early").get<bool>();
    r.wall_seconds = j.at("wall_seconds").get<double>();
  } catch (const Json::exception& e) {
    throw UserError(origin + ": not a trial result (" + e.what() + ")");
  }
  return r;
}

}  // namespace cf::sweep
