// Maps the behaviour words found in raw logs onto the canonical actions of data/raw_event.h.
#pragma once
#include <string>
#include <string_view>

namespace cf::data {

// The canonical name ("view", "fav", "cart", "buy") for a raw behaviour word, or nullptr when
// the word is not known. Matching ignores ASCII case. Synonyms:
//   view: view, pv, click, detail        fav: fav, favorite, favourite, like, wishlist
//   cart: cart, add_to_cart, addtocart   buy: buy, purchase, order, transaction, checkout
const std::string* canonical_action_for(std::string_view behaviour);

}  // namespace cf::data
