#include "data/readers/action_names.h"

#include <array>
#include <utility>

#include "data/raw_event.h"

namespace cf::data {

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}

}  // namespace

const std::string* canonical_action_for(std::string_view behaviour) {
  // Indices into canonical_actions(): 1 view, 2 fav, 3 cart, 4 buy.
  static constexpr std::array<std::pair<std::string_view, int>, 17> kSynonyms = {{
      {"view", 1},
      {"pv", 1},
      {"click", 1},
      {"detail", 1},
      {"fav", 2},
      {"favorite", 2},
      {"favourite", 2},
      {"like", 2},
      {"wishlist", 2},
      {"cart", 3},
      {"add_to_cart", 3},
      {"addtocart", 3},
      {"buy", 4},
      {"purchase", 4},
      {"order", 4},
      {"transaction", 4},
      {"checkout", 4},
  }};
  for (const auto& [word, index] : kSynonyms) {
    if (equals_ignoring_case(behaviour, word)) return &canonical_actions()[index];
  }
  return nullptr;
}

}  // namespace cf::data
