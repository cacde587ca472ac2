// User pseudonyms: the keyed hash that replaces every raw user id before anything is stored.
#pragma once
#include <string>
#include <string_view>

#include "core/sha256.h"

namespace cf::data {

// The stored pseudonym of a raw user id: HMAC-SHA256(key, raw id) truncated to its first 128
// bits, as 32 lowercase hex characters. Without the key the raw id cannot be recovered or
// confirmed by guessing; 128 bits keep accidental collisions out of reach for any user count.
// One object per key serves every thread of prep.
class UserPseudonymizer {
 public:
  explicit UserPseudonymizer(std::string_view key) : hmac_(key) {}
  std::string operator()(std::string_view raw_user) const;

 private:
  HmacSha256 hmac_;
};

// The same for one id (tests, one-off lookups).
std::string pseudonymize_user(std::string_view key, std::string_view raw_user);

}  // namespace cf::data
