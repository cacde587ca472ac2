#include "data/user_pseudonym.h"

#include <cstdint>
#include <cstring>

#include "data/corpus_layout.h"

namespace cf::data {

std::string pseudonymize_user(std::string_view key, std::string_view raw_user) {
  auto mac = hmac_sha256(key, raw_user);
  return to_hex(mac.data(), layout::kUserKeyHexChars / 2);
}

UserPseudonymizer::UserPseudonymizer(std::string_view key) {
  // RFC 2104: keys longer than the block are hashed first; shorter ones are zero-padded.
  uint8_t block_key[64] = {0};
  if (key.size() > 64) {
    Sha256 key_hash;
    key_hash.update(key.data(), key.size());
    auto digest = key_hash.finish();
    std::memcpy(block_key, digest.data(), digest.size());
  } else {
    std::memcpy(block_key, key.data(), key.size());
  }
  uint8_t inner_pad[64], outer_pad[64];
  for (int i = 0; i < 64; ++i) {
    inner_pad[i] = block_key[i] ^ 0x36;
    outer_pad[i] = block_key[i] ^ 0x5c;
  }
  inner_after_pad_.update(inner_pad, 64);
  outer_after_pad_.update(outer_pad, 64);
}

std::string UserPseudonymizer::operator()(std::string_view raw_user) const {
  Sha256 inner = inner_after_pad_;
  inner.update(raw_user.data(), raw_user.size());
  auto inner_digest = inner.finish();
  Sha256 outer = outer_after_pad_;
  outer.update(inner_digest.data(), inner_digest.size());
  auto mac = outer.finish();
  return to_hex(mac.data(), layout::kUserKeyHexChars / 2);
}

}  // namespace cf::data
