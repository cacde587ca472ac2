#include "eval/eval_users.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/readers/csv_line.h"

namespace cf::eval {

namespace {

constexpr const char* kLeadingColumns[] = {"sequence", "history_length", "target_item",
                                           "target_category", "last_action"};
constexpr size_t kNumLeading = std::size(kLeadingColumns);

template <class T>
bool parse_integer(std::string_view text, T& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_logit(std::string_view text, double& out) {
  if (text == "nan") {
    out = std::nan("");
    return true;
  }
  std::string copy(text);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return !copy.empty() && end == copy.c_str() + copy.size() && std::isfinite(out);
}

}  // namespace

std::string eval_users_csv(const std::vector<std::string>& scorers,
                           const std::vector<UserOutcome>& users) {
  std::string out;
  for (const char* column : kLeadingColumns) out += std::string(column) + ",";
  for (const auto& scorer : scorers) out += "rank_" + scorer + ",";
  out += "propensity_logit,label\n";
  char logit[40];
  for (const auto& u : users) {
    CF_CHECK(u.ranks.size() == scorers.size(), "one rank per scorer");
    out += std::to_string(u.sequence) + "," + std::to_string(u.history_length) + "," +
           std::to_string(u.target_item) + "," + std::to_string(u.target_category) + "," +
           std::to_string(u.last_action) + ",";
    for (int64_t rank : u.ranks) out += std::to_string(rank) + ",";
    if (std::isfinite(u.propensity_logit)) {
      std::snprintf(logit, sizeof logit, "%.9g", u.propensity_logit);
    } else {
      std::snprintf(logit, sizeof logit, "nan");
    }
    out += std::string(logit) + "," + std::to_string(u.label) + "\n";
  }
  return out;
}

bool is_eval_output_dir(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(std::filesystem::path(dir) / kEvalJsonFile, ec);
}

EvalOutput read_eval_output(const std::string& dir) {
  EvalOutput out;
  out.dir = dir;
  const std::string json_path = (std::filesystem::path(dir) / kEvalJsonFile).string();
  const std::string users_path = (std::filesystem::path(dir) / kEvalUsersFile).string();
  out.json = Json::parse(read_text_file(json_path), nullptr, /*allow_exceptions=*/false);
  if (out.json.is_discarded() || !out.json.is_object() || !out.json.contains("protocol") ||
      !out.json.contains("baselines")) {
    throw UserError(json_path + ": not an eval.json written by cartformer eval");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(users_path, ec)) {
    throw UserError(users_path +
                    ": missing (per-user outcomes; rerun cartformer eval, which "
                    "writes it beside eval.json)");
  }
  const std::string text = read_text_file(users_path);
  std::istringstream lines(text);
  std::string line;
  int64_t number = 0;
  size_t columns = 0;
  auto bad = [&](const std::string& why) -> UserError {
    return UserError(users_path + ":" + std::to_string(number) + ": " + why);
  };
  // Written by eval_users_csv: numbers and scorer names, never quoted.
  data::FieldSplitter splitter(',', /*quoting=*/false);
  while (std::getline(lines, line)) {
    ++number;
    splitter.split(line);  // cannot fail without quoting
    const std::vector<std::string_view>& fields = splitter.fields();
    if (number == 1) {
      if (fields.size() < kNumLeading + 2) throw bad("header has too few columns");
      for (size_t i = 0; i < kNumLeading; ++i) {
        if (fields[i] != kLeadingColumns[i]) {
          throw bad("header column " + std::to_string(i + 1) + " is '" + std::string(fields[i]) +
                    "', expected '" + kLeadingColumns[i] + "'");
        }
      }
      for (size_t i = kNumLeading; i + 2 < fields.size(); ++i) {
        if (fields[i].substr(0, 5) != "rank_") throw bad("expected rank_<scorer> columns");
        out.scorers.emplace_back(fields[i].substr(5));
      }
      if (fields[fields.size() - 2] != "propensity_logit" || fields.back() != "label") {
        throw bad("header must end with propensity_logit,label");
      }
      columns = fields.size();
      continue;
    }
    if (line.empty()) continue;
    if (fields.size() != columns) {
      throw bad("has " + std::to_string(fields.size()) + " fields, expected " +
                std::to_string(columns));
    }
    UserOutcome u;
    int label = 0;
    bool ok = parse_integer(fields[0], u.sequence) && parse_integer(fields[1], u.history_length) &&
              parse_integer(fields[2], u.target_item) &&
              parse_integer(fields[3], u.target_category) &&
              parse_integer(fields[4], u.last_action) &&
              parse_logit(fields[columns - 2], u.propensity_logit) &&
              parse_integer(fields[columns - 1], label) && label >= -1 && label <= 1;
    for (size_t i = kNumLeading; ok && i + 2 < columns; ++i) {
      int64_t rank = 0;
      ok = parse_integer(fields[i], rank) && rank >= 1;
      u.ranks.push_back(rank);
    }
    if (!ok) throw bad("malformed row '" + line.substr(0, 120) + "'");
    u.label = static_cast<int8_t>(label);
    out.users.push_back(std::move(u));
  }
  if (number == 0) throw UserError(users_path + ": empty file");
  // The CSV and the JSON must describe the same evaluation.
  const Json& protocol = out.json["protocol"];
  if (protocol.contains("n_users") && protocol["n_users"].is_number_integer() &&
      protocol["n_users"].get<int64_t>() != static_cast<int64_t>(out.users.size())) {
    throw UserError(users_path + ": has " + std::to_string(out.users.size()) +
                    " users but eval.json reports " + protocol["n_users"].dump() +
                    " (files from different evaluations?)");
  }
  std::vector<std::string> json_scorers;
  for (const char* model_scorer : {"model", "model_without_prior"}) {
    if (out.json.contains(model_scorer) && out.json[model_scorer].is_object()) {
      json_scorers.push_back(model_scorer);
    }
  }
  if (out.json["baselines"].is_object()) {
    for (const auto& [name, metrics] : out.json["baselines"].items()) json_scorers.push_back(name);
  }
  std::vector<std::string> csv_scorers = out.scorers;
  std::sort(json_scorers.begin(), json_scorers.end());
  std::sort(csv_scorers.begin(), csv_scorers.end());
  const bool model_first =
      out.scorers.empty() || out.scorers.front() == "model" ||
      std::find(out.scorers.begin(), out.scorers.end(), "model") == out.scorers.end();
  if (json_scorers != csv_scorers || !model_first) {
    throw UserError(users_path +
                    ": its scorers disagree with eval.json (files from different "
                    "evaluations?)");
  }
  return out;
}

}  // namespace cf::eval
