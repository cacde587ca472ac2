#include "core/sha256.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdio>
#include <stdexcept>
#include <vector>

#include "core/error.h"

namespace cf {
namespace {

// libcrypto fails only when the process cannot hash at all (no memory, a provider configured
// away): not something the user's inputs caused, so a plain runtime_error with OpenSSL's reason.
[[noreturn]] void openssl_failed(const char* call) {
  char reason[256] = "no reason given";
  if (unsigned long code = ERR_get_error(); code != 0)
    ERR_error_string_n(code, reason, sizeof reason);
  ERR_clear_error();
  throw std::runtime_error(std::string("OpenSSL ") + call + " failed: " + reason);
}

void expect_success(int result, const char* call) {
  if (result != 1) openssl_failed(call);
}

struct FreeMacContext {
  void operator()(EVP_MAC_CTX* context) const { EVP_MAC_CTX_free(context); }
};
using MacContext = std::unique_ptr<EVP_MAC_CTX, FreeMacContext>;

}  // namespace

void Sha256::FreeContext::operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  if (!context_) openssl_failed("EVP_MD_CTX_new");
  expect_success(EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr), "EVP_DigestInit_ex");
}

void Sha256::update(const void* data, size_t size) {
  expect_success(EVP_DigestUpdate(context_.get(), data, size), "EVP_DigestUpdate");
}

Sha256Digest Sha256::finish() {
  Sha256Digest digest;
  unsigned int length = 0;
  expect_success(EVP_DigestFinal_ex(context_.get(), digest.data(), &length), "EVP_DigestFinal_ex");
  CF_CHECK(length == digest.size(), "SHA-256 digests are 32 bytes");
  return digest;
}

HmacSha256::HmacSha256(std::string_view key) {
  EVP_MAC* hmac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  if (hmac == nullptr) openssl_failed("EVP_MAC_fetch(HMAC)");
  keyed_ = EVP_MAC_CTX_new(hmac);
  EVP_MAC_free(hmac);  // the context holds its own reference
  if (keyed_ == nullptr) openssl_failed("EVP_MAC_CTX_new");
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  // A null key pointer would mean "keep the current key" (there is none yet), so the empty key
  // is passed as a non-null pointer of length zero.
  static const unsigned char kNoKeyBytes = 0;
  const auto* key_bytes =
      key.empty() ? &kNoKeyBytes : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(keyed_, key_bytes, key.size(), params) != 1) {
    EVP_MAC_CTX_free(keyed_);
    openssl_failed("EVP_MAC_init(HMAC-SHA256)");
  }
}

// EVP_MAC_CTX_free clears the key and the hashed pad states before freeing them, so nothing
// of the key outlives the object.
HmacSha256::~HmacSha256() { EVP_MAC_CTX_free(keyed_); }

Sha256Digest HmacSha256::operator()(std::string_view message) const {
  // Duplicating only reads the keyed context, which is what makes concurrent calls safe.
  MacContext context(EVP_MAC_CTX_dup(keyed_));
  if (!context) openssl_failed("EVP_MAC_CTX_dup");
  expect_success(
      EVP_MAC_update(context.get(), reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()),
      "EVP_MAC_update");
  Sha256Digest mac;
  size_t length = 0;
  expect_success(EVP_MAC_final(context.get(), mac.data(), &length, mac.size()), "EVP_MAC_final");
  CF_CHECK(length == mac.size(), "HMAC-SHA-256 values are 32 bytes");
  return mac;
}

std::string to_hex(const uint8_t* bytes, size_t size) {
  static const char* digits = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 hash;
  hash.update(data.data(), data.size());
  const Sha256Digest digest = hash.finish();
  return to_hex(digest.data(), digest.size());
}

std::string sha256_file_hex(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw UserError(path + ": cannot open for reading");
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0)
    hash.update(buffer.data(), n);
  if (std::ferror(file.get())) throw UserError(path + ": read error");
  const Sha256Digest digest = hash.finish();
  return to_hex(digest.data(), digest.size());
}

Sha256Digest hmac_sha256(std::string_view key, std::string_view message) {
  return HmacSha256(key)(message);
}

void wipe_secret(std::string& secret) {
  // Up to the capacity: bytes the string dropped earlier (a trailing newline, say) were part
  // of the same read. resize() makes them addressable without reallocating.
  secret.resize(secret.capacity());
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace cf
