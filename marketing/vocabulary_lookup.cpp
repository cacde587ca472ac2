#include "marketing/vocabulary_lookup.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "core/error.h"

namespace cf::marketing {

int32_t token_named(const std::vector<std::string>& vocab, const std::string& name,
                    const std::string& flag, const std::string& what,
                    const std::string& corpus_path) {
  for (size_t t = 1; t < vocab.size(); ++t) {
    if (vocab[t] == name) return static_cast<int32_t>(t);
  }
  std::string known;
  for (size_t t = 1; t < vocab.size() && t <= 10; ++t) known += (t > 1 ? ", " : "") + vocab[t];
  if (vocab.size() > 11) known += ", ...";
  throw UserError(flag + " '" + name + "': not " + what + " of " + corpus_path + " (it has " +
                  std::to_string(vocab.size() - 1) + (vocab.size() > 1 ? ": " + known : "") + ")");
}

ItemList read_item_list(const std::string& path, const std::vector<std::string>& item_raw) {
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot open the item list");
  // Sorted (raw id, token) pairs: a brand's list may be long and the catalogue large.
  std::vector<std::pair<std::string, int32_t>> index;
  for (size_t t = 1; t < item_raw.size(); ++t) {
    index.emplace_back(item_raw[t], static_cast<int32_t>(t));
  }
  std::sort(index.begin(), index.end());
  ItemList list;
  list.in_set.assign(item_raw.size(), 0);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto it = std::lower_bound(index.begin(), index.end(), std::make_pair(line, int32_t{0}));
    if (it != index.end() && it->first == line) {
      list.in_set[static_cast<size_t>(it->second)] = 1;
      ++list.found;
    } else {
      ++list.unknown;
    }
  }
  if (list.found == 0) {
    throw UserError(path + ": none of its " + std::to_string(list.unknown) +
                    " item ids is in the corpus vocabulary");
  }
  return list;
}

}  // namespace cf::marketing
