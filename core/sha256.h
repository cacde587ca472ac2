// SHA-256 and HMAC-SHA-256 (FIPS 180-4 / RFC 2104): checkpoint checksums and keyed user hashes.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cf {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::array<uint8_t, 32> finish();  // the object must not be updated afterwards
 private:
  void compress(const uint8_t* block);
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string to_hex(const uint8_t* bytes, size_t size);
std::string sha256_hex(std::string_view data);
// Streams a file; throws UserError naming the file if it cannot be read.
std::string sha256_file_hex(const std::string& path);
std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view message);

}  // namespace cf
