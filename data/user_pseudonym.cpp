#include "data/user_pseudonym.h"

#include "data/corpus_layout.h"

namespace cf::data {

std::string UserPseudonymizer::operator()(std::string_view raw_user) const {
  const Sha256Digest mac = hmac_(raw_user);
  return to_hex(mac.data(), layout::kUserKeyHexChars / 2);
}

std::string pseudonymize_user(std::string_view key, std::string_view raw_user) {
  return UserPseudonymizer(key)(raw_user);
}

}  // namespace cf::data
