#include "eval/history_input.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "core/error.h"
#include "data/readers/csv_line.h"

namespace cf::eval {

namespace {

using data::FieldSplitter;

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t begin = 0, end = s.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(s[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1]))) --end;
  return s.substr(begin, end - begin);
}

// Splits one line of a hand-written history CSV: RFC 4180 quotes, blanks around fields (and
// around quotes) dropped, and each field trimmed of surrounding white space. `where` names the
// line in the error for malformed quotes.
std::vector<std::string> split_history_line(FieldSplitter& splitter, std::string_view line,
                                            const std::string& where) {
  if (!splitter.split(line)) {
    throw UserError(where + ": malformed quotes (an unterminated quoted field, or text after a " +
                    "closing quote)");
  }
  std::vector<std::string> fields;
  fields.reserve(splitter.size());
  for (std::string_view field : splitter.fields()) fields.push_back(trim(std::string(field)));
  return fields;
}

int32_t most_common(const std::vector<int64_t>& counts, int32_t fallback) {
  int32_t best = fallback;
  int64_t best_count = 0;
  for (size_t i = 1; i < counts.size(); ++i) {
    if (counts[i] > best_count) {
      best = static_cast<int32_t>(i);
      best_count = counts[i];
    }
  }
  return best;
}

}  // namespace

HistoryVocabulary::HistoryVocabulary(std::vector<std::string> item_raw_ids,
                                     std::vector<std::string> action_names,
                                     std::vector<int32_t> item_category, int32_t default_action,
                                     int32_t default_time_gap)
    : item_raw_(std::move(item_raw_ids)),
      action_names_(std::move(action_names)),
      item_category_(std::move(item_category)),
      default_action_(default_action),
      default_time_gap_(default_time_gap) {
  item_token_.reserve(item_raw_.size());
  for (size_t j = 1; j < item_raw_.size(); ++j) {
    item_token_.emplace(item_raw_[j], static_cast<int32_t>(j));
  }
  item_category_.resize(item_raw_.size(), 0);
}

HistoryVocabulary HistoryVocabulary::from_corpus(const data::CorpusReader& corpus) {
  const data::VocabSizes sizes = corpus.vocab_sizes();
  std::vector<int32_t> item_category(static_cast<size_t>(sizes.items), 0);
  std::vector<int64_t> action_counts(static_cast<size_t>(std::max(sizes.actions, 1)), 0);
  std::vector<int64_t> gap_counts(static_cast<size_t>(std::max(sizes.time_gaps, 1)), 0);
  std::vector<data::Sequence> chunk;
  const int64_t n = corpus.num_sequences();
  constexpr int64_t kChunk = 1024;
  for (int64_t first = 0; first < n; first += kChunk) {
    corpus.read_sequences(first, std::min(kChunk, n - first), chunk);
    for (const auto& seq : chunk) {
      for (int32_t t = 0; t < seq.length(); ++t) {
        const int32_t item = seq.item[t];
        if (item > 0 && item < sizes.items && seq.category[t] > 0) {
          item_category[static_cast<size_t>(item)] = seq.category[t];
        }
        const int32_t action = seq.action[t];
        if (action > 0 && action < static_cast<int32_t>(action_counts.size())) {
          ++action_counts[static_cast<size_t>(action)];
        }
        const int32_t gap = seq.time_gap[t];
        if (t > 0 && gap > 0 && gap < static_cast<int32_t>(gap_counts.size())) {
          ++gap_counts[static_cast<size_t>(gap)];
        }
      }
    }
  }
  return HistoryVocabulary(corpus.item_raw_ids(), corpus.action_names(), std::move(item_category),
                           most_common(action_counts, 1), most_common(gap_counts, 1));
}

int32_t HistoryVocabulary::item_token(const std::string& raw, const std::string& where) const {
  auto it = item_token_.find(raw);
  if (it == item_token_.end()) throw UserError(where + ": unknown item id '" + raw + "'");
  return it->second;
}

int32_t HistoryVocabulary::action_token(const std::string& name, const std::string& where) const {
  const std::string wanted = lowercase(name);
  std::string known;
  for (size_t a = 1; a < action_names_.size(); ++a) {
    if (lowercase(action_names_[a]) == wanted) return static_cast<int32_t>(a);
    known += (known.empty() ? "" : ", ") + action_names_[a];
  }
  throw UserError(where + ": unknown action '" + name + "' (known: " + known + ")");
}

bool HistoryVocabulary::is_purchase_action(int32_t action) const {
  return action > 0 && static_cast<size_t>(action) < action_names_.size() &&
         lowercase(action_names_[static_cast<size_t>(action)]) == "buy";
}

AppendedEventChannels HistoryVocabulary::appended_channels() const {
  AppendedEventChannels channels;
  channels.item_category = item_category_;
  channels.action = default_action_;
  channels.time_gap = default_time_gap_;
  return channels;
}

data::Sequence HistoryVocabulary::make_history(const std::vector<int32_t>& items,
                                               const std::vector<int32_t>& actions) const {
  data::Sequence seq;
  seq.index = -1;
  for (size_t t = 0; t < items.size(); ++t) {
    const int32_t item = items[t];
    const int32_t action = t < actions.size() && actions[t] > 0 ? actions[t] : default_action_;
    seq.item.push_back(item);
    seq.action.push_back(action);
    seq.category.push_back(item_category_[static_cast<size_t>(item)]);
    seq.time_gap.push_back(t == 0 ? 1 : default_time_gap_);
    seq.activity.push_back(0);
    seq.timestamp.push_back(static_cast<int64_t>(t));
    seq.purchase.push_back(is_purchase_action(action) ? 1 : 0);
  }
  return seq;
}

GenerationInput history_from_list(const std::string& list, const std::string& user,
                                  const HistoryVocabulary& vocab, const std::string& where) {
  std::vector<int32_t> items;
  FieldSplitter splitter(',', /*quoting=*/false);
  splitter.split(list);  // cannot fail without quoting
  for (std::string_view field : splitter.fields()) {
    const std::string raw = trim(std::string(field));
    if (raw.empty()) throw UserError(where + ": empty item id in '" + list + "'");
    items.push_back(vocab.item_token(raw, where));
  }
  GenerationInput input;
  input.user = user;
  input.history = vocab.make_history(items, {});
  return input;
}

std::vector<GenerationInput> histories_from_csv(const std::string& path,
                                                const HistoryVocabulary& vocab) {
  std::ifstream file(path);
  if (!file) throw UserError(path + ": cannot open for reading");
  std::string line;
  int64_t line_number = 0;
  int user_column = -1, item_column = -1, action_column = -1;
  size_t header_fields = 0;
  FieldSplitter splitter(',', /*quoting=*/true, FieldSplitter::Blanks::kTrimmed);
  while (std::getline(file, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::vector<std::string> header =
        split_history_line(splitter, line, path + ":" + std::to_string(line_number));
    header_fields = header.size();
    for (size_t c = 0; c < header.size(); ++c) {
      const std::string name = lowercase(header[c]);
      if (name == "user") user_column = static_cast<int>(c);
      if (name == "item") item_column = static_cast<int>(c);
      if (name == "action") action_column = static_cast<int>(c);
    }
    break;
  }
  if (header_fields == 0)
    throw UserError(path + ": empty file (expected a header user,item[,action])");
  if (user_column < 0 || item_column < 0) {
    throw UserError(path + ":" + std::to_string(line_number) +
                    ": header must name the columns user and item (optionally action)");
  }

  std::vector<std::string> users;
  std::unordered_map<std::string, size_t> user_slot;
  std::vector<std::vector<int32_t>> items, actions;
  while (std::getline(file, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::string where = path + ":" + std::to_string(line_number);
    const std::vector<std::string> fields = split_history_line(splitter, line, where);
    if (fields.size() != header_fields) {
      throw UserError(where + ": expected " + std::to_string(header_fields) + " fields, found " +
                      std::to_string(fields.size()));
    }
    const std::string& user = fields[static_cast<size_t>(user_column)];
    if (user.empty()) throw UserError(where + ": empty user");
    const int32_t item = vocab.item_token(fields[static_cast<size_t>(item_column)], where);
    int32_t action = 0;
    if (action_column >= 0 && !fields[static_cast<size_t>(action_column)].empty()) {
      action = vocab.action_token(fields[static_cast<size_t>(action_column)], where);
    }
    auto [it, inserted] = user_slot.emplace(user, users.size());
    if (inserted) {
      users.push_back(user);
      items.emplace_back();
      actions.emplace_back();
    }
    items[it->second].push_back(item);
    actions[it->second].push_back(action);
  }
  if (users.empty()) throw UserError(path + ": no history rows after the header");

  std::vector<GenerationInput> inputs(users.size());
  for (size_t u = 0; u < users.size(); ++u) {
    inputs[u].user = users[u];
    inputs[u].history = vocab.make_history(items[u], actions[u]);
  }
  return inputs;
}

}  // namespace cf::eval
