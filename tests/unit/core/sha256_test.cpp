// SHA-256 and HMAC-SHA-256 against the published vectors (FIPS 180-4 examples, RFC 4231).
#include "core/sha256.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace {

std::string hex(const cf::Sha256Digest& digest) { return cf::to_hex(digest.data(), digest.size()); }

// FIPS 180-4 example vectors.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(cf::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(cf::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(cf::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(cf::sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                           "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(cf::sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamingInUnevenPiecesEqualsOneShot) {
  const std::string million_a(1000000, 'a');
  cf::Sha256 hash;
  size_t offset = 0;
  for (size_t piece = 1; offset < million_a.size(); piece = piece * 3 % 1000 + 1) {
    const size_t take = std::min(piece, million_a.size() - offset);
    hash.update(million_a.data() + offset, take);
    offset += take;
  }
  EXPECT_EQ(hex(hash.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  cf::Sha256 nothing;
  EXPECT_EQ(hex(nothing.finish()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, FileChecksumMatchesAndAMissingFileIsNamed) {
  namespace fs = std::filesystem;
  const fs::path path = fs::temp_directory_path() / ("cf_sha256_" + std::to_string(::getpid()));
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(3 << 20, 'a');  // spans several read buffers
  }
  EXPECT_EQ(cf::sha256_file_hex(path.string()), cf::sha256_hex(std::string(3 << 20, 'a')));
  fs::remove(path);
  try {
    cf::sha256_file_hex(path.string());
    FAIL() << "expected a UserError";
  } catch (const cf::UserError& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": cannot open for reading");
  }
}

// RFC 4231 test cases 1-7 (case 5 is truncated to 128 bits by the RFC itself; cases 6 and 7
// have a key longer than the 64-byte block, which HMAC hashes first).
TEST(Sha256, HmacRfc4231) {
  std::string key4;
  for (char c = 1; c <= 25; ++c) key4 += c;
  EXPECT_EQ(hex(cf::hmac_sha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hex(cf::hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(cf::hmac_sha256(std::string(20, '\xaa'), std::string(50, '\xdd'))),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  EXPECT_EQ(hex(cf::hmac_sha256(key4, std::string(50, '\xcd'))),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  EXPECT_EQ(hex(cf::hmac_sha256(std::string(20, '\x0c'), "Test With Truncation")).substr(0, 32),
            "a3b6167473100ee06e0c796c2955552b");
  EXPECT_EQ(hex(cf::hmac_sha256(std::string(131, '\xaa'),
                                "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hex(cf::hmac_sha256(std::string(131, '\xaa'),
                                "This is a test using a larger than block-size key and a larger "
                                "than block-size data. The key needs to be hashed before being "
                                "used by the HMAC algorithm.")),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(Sha256, HmacOfTheEmptyKeyAndMessage) {
  EXPECT_EQ(hex(cf::hmac_sha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// One keyed object, many messages: each MAC is independent of the ones before it.
TEST(Sha256, KeyedHmacReusedForManyMessagesEqualsOneShot) {
  const cf::HmacSha256 rfc_case_2("Jefe");
  EXPECT_EQ(hex(rfc_case_2("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(rfc_case_2("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const cf::HmacSha256 long_key(std::string(131, '\xaa'));
  EXPECT_EQ(hex(long_key("Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hex(rfc_case_2("")), hex(cf::hmac_sha256("Jefe", "")));
}

// Prep hashes from every OpenMP thread through one object.
TEST(Sha256, KeyedHmacGivesTheSameMacsFromConcurrentThreads) {
  const std::string key = "concurrent-threads-key-0123456789";
  const cf::HmacSha256 hmac(key);
  constexpr int kThreads = 4, kMessages = 2000;
  std::vector<std::vector<std::string>> macs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int m = 0; m < kMessages; ++m) macs[t].push_back(hex(hmac("user" + std::to_string(m))));
    });
  }
  for (auto& thread : threads) thread.join();
  for (int m = 0; m < kMessages; m += 97) {
    const std::string expected = hex(cf::hmac_sha256(key, "user" + std::to_string(m)));
    for (int t = 0; t < kThreads; ++t) ASSERT_EQ(macs[t][m], expected) << t << " " << m;
  }
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(macs[t], macs[0]);
}

TEST(WipeSecret, ZeroesTheWholeBufferIncludingDroppedBytesAndEmptiesTheString) {
  std::string key = "a-user-hash-key-of-some-length\n";
  key.pop_back();  // the newline a key file ends with, dropped but still in the buffer
  const char* storage = key.data();
  const size_t capacity = key.capacity();
  cf::wipe_secret(key);
  EXPECT_TRUE(key.empty());
  EXPECT_EQ(key.data(), storage);  // wiped in place, not moved elsewhere
  for (size_t i = 0; i < capacity; ++i) ASSERT_EQ(storage[i], '\0') << i;
}

}  // namespace
