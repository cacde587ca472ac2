// SHA-256 and HMAC-SHA-256 from OpenSSL's libcrypto (checkpoint checksums, the corpus
// vocabulary fingerprint, the keyed hash behind user pseudonyms), and wiping of key material.
#pragma once
#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace cf {

using Sha256Digest = std::array<uint8_t, 32>;

// Streaming SHA-256 (FIPS 180-4), for data that arrives in pieces (files, vocabularies).
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  Sha256Digest finish();  // the object must not be updated afterwards

 private:
  struct FreeContext {
    void operator()(EVP_MD_CTX* context) const;
  };
  std::unique_ptr<EVP_MD_CTX, FreeContext> context_;
};

// HMAC-SHA-256 (RFC 2104) under one key, for many messages: the key is absorbed once and every
// message is MACed on a duplicate of that keyed state, so one object serves all threads at
// once and costs no key setup per message. OpenSSL holds the only copy of the key this object
// keeps, and wipes it when the object is destroyed.
class HmacSha256 {
 public:
  explicit HmacSha256(std::string_view key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  Sha256Digest operator()(std::string_view message) const;

 private:
  EVP_MAC_CTX* keyed_;
};

std::string to_hex(const uint8_t* bytes, size_t size);
std::string sha256_hex(std::string_view data);
// Streams a file; throws UserError naming the file if it cannot be read.
std::string sha256_file_hex(const std::string& path);
// One message under one key (HmacSha256 for many messages under the same key).
Sha256Digest hmac_sha256(std::string_view key, std::string_view message);

// Overwrites every byte of a secret's storage, in a way the compiler may not optimise away,
// then empties it: for keys once they have been handed to HmacSha256.
void wipe_secret(std::string& secret);

}  // namespace cf
