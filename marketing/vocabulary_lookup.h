// Vocabulary lookups for targeting: a raw id given on the command line to its token, and an
// item-list file to the set of item tokens it names.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cf::marketing {

// The token of raw id `name` in `vocab` (token 0 is padding and never matches). Otherwise a
// UserError "<flag> '<name>': not <what> of <corpus_path> (it has N: ...)" listing up to ten
// of the vocabulary's raw ids, so the user sees what the corpus calls its categories or
// activities.
int32_t token_named(const std::vector<std::string>& vocab, const std::string& name,
                    const std::string& flag, const std::string& what,
                    const std::string& corpus_path);

struct ItemList {
  std::vector<uint8_t> in_set;  // in_set[token] != 0 for every item listed; size = item vocabulary
  int64_t found = 0;            // lines naming an item of the vocabulary (repeats count each time)
  int64_t unknown = 0;          // lines naming none (ignored; the caller says how many)
};

// Reads a list of raw item ids, one per line; blank lines and lines starting with '#' are
// skipped and a trailing '\r' is dropped. `item_raw` is the corpus's item vocabulary (index =
// token). UserError naming the file when it cannot be opened or none of its ids is an item of
// the vocabulary.
ItemList read_item_list(const std::string& path, const std::vector<std::string>& item_raw);

}  // namespace cf::marketing
