// HistoryVocabulary and history parsers: turn raw item ids given on the command line or in a
// CSV file into token sequences the model can score, using a corpus's vocabularies.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/corpus.h"
#include "eval/recommender.h"

namespace cf::eval {

// Raw id -> token maps plus what a hand-written history lacks (categories, time gaps), learned
// from the corpus events:
//   category of an item    = its category in the corpus (the last event that has it);
//   default action         = the most common action token in the corpus;
//   default non-first gap  = the most common time-gap bucket among non-first events
//                            (bucket 1, "first event / order only", for the first event).
class HistoryVocabulary {
 public:
  // Reads the vocabularies and, once, every event of the corpus (item, action, category,
  // time-gap channels) to learn the defaults above.
  static HistoryVocabulary from_corpus(const data::CorpusReader& corpus);
  // For tests: vocabularies given directly; categories/defaults as documented above.
  HistoryVocabulary(std::vector<std::string> item_raw_ids, std::vector<std::string> action_names,
                    std::vector<int32_t> item_category, int32_t default_action,
                    int32_t default_time_gap);

  // UserError "<where>: unknown item id '<raw>'" when absent.
  int32_t item_token(const std::string& raw, const std::string& where) const;
  // Case-insensitive; UserError "<where>: unknown action '<name>' (known: view, ...)".
  int32_t action_token(const std::string& name, const std::string& where) const;
  bool is_purchase_action(int32_t action) const;  // the canonical "buy" action

  const std::vector<std::string>& item_raw_ids() const { return item_raw_; }
  AppendedEventChannels appended_channels() const;

  // Builds a history from raw item ids (each with an action token, 0 = the default action).
  data::Sequence make_history(const std::vector<int32_t>& items,
                              const std::vector<int32_t>& actions) const;

 private:
  std::vector<std::string> item_raw_;
  std::vector<std::string> action_names_;
  std::unordered_map<std::string, int32_t> item_token_;
  std::vector<int32_t> item_category_;
  int32_t default_action_ = 1;
  int32_t default_time_gap_ = 1;
};

// "--history a,b,c": comma-separated raw item ids, oldest first. `where` names the source in
// errors (e.g. "--history"). Empty entries or an empty list are UserErrors.
GenerationInput history_from_list(const std::string& list, const std::string& user,
                                  const HistoryVocabulary& vocab, const std::string& where);

// A CSV file with a header naming the columns user,item[,action] (any order, extra columns
// ignored); one event per row in time order; rows of a user need not be adjacent. Histories come
// out in the order users first appear. Errors name "<path>:<line>".
std::vector<GenerationInput> histories_from_csv(const std::string& path,
                                                const HistoryVocabulary& vocab);

}  // namespace cf::eval
