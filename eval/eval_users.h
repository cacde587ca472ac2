// eval_users.csv: the per-user outcomes of an evaluation (ranks per scorer, propensity logit,
// label), written beside eval.json so reports can bootstrap, break down and compare user by user.
#pragma once
#include <string>
#include <vector>

#include "core/json.h"
#include "eval/evaluator.h"

namespace cf::eval {

inline constexpr const char* kEvalJsonFile = "eval.json";
inline constexpr const char* kEvalMarkdownFile = "eval.md";
inline constexpr const char* kEvalUsersFile = "eval_users.csv";

// Header: sequence,history_length,target_item,target_category,last_action,rank_<scorer>...,
// propensity_logit,label. Logits are printed with 9 significant digits ("nan" when absent).
std::string eval_users_csv(const std::vector<std::string>& scorers,
                           const std::vector<UserOutcome>& users);

// An evaluation read back from its output folder.
struct EvalOutput {
  std::string dir;
  Json json;                         // eval.json
  std::vector<std::string> scorers;  // from the eval_users.csv header
  std::vector<UserOutcome> users;
};

// Reads <dir>/eval.json and <dir>/eval_users.csv. A missing file, a malformed row (named by
// file and line) or a header that disagrees with eval.json is a UserError.
EvalOutput read_eval_output(const std::string& dir);

// True when `dir` holds an eval.json (so it is an evaluation, not a checkpoint).
bool is_eval_output_dir(const std::string& dir);

}  // namespace cf::eval
