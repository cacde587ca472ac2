// User pseudonyms: the keyed hash that replaces every raw user id before anything is stored.
#pragma once
#include <string>
#include <string_view>

#include "core/sha256.h"

namespace cf::data {

// The stored pseudonym of a raw user id: HMAC-SHA256(key, raw id) truncated to its first 128
// bits, as 32 lowercase hex characters. Without the key the raw id cannot be recovered or
// confirmed by guessing; 128 bits keep accidental collisions out of reach for any user count.
std::string pseudonymize_user(std::string_view key, std::string_view raw_user);

// The same function, faster for many ids: the HMAC inner and outer pad blocks are hashed once
// (their SHA-256 states are copied per id), halving the compressions per id.
class UserPseudonymizer {
 public:
  explicit UserPseudonymizer(std::string_view key);
  std::string operator()(std::string_view raw_user) const;

 private:
  Sha256 inner_after_pad_, outer_after_pad_;
};

}  // namespace cf::data
