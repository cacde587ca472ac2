#include "trainer/privacy/noise_key.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"

namespace cf::trainer::privacy {

namespace {

constexpr size_t kMinKeyBytes = 16;

std::string read_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot read the DP-SGD noise key file");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < kMinKeyBytes)
    throw UserError(path + ": the DP-SGD noise key file holds " + std::to_string(bytes.size()) +
                    " bytes; it needs at least " + std::to_string(kMinKeyBytes));
  return bytes;
}

std::string fresh_key_file(const std::string& path) {
  uint8_t random[32];
  size_t got = 0;
  while (got < sizeof random) {
    const ssize_t n = getrandom(random + got, sizeof random - got, 0);
    if (n < 0) throw UserError(path + ": the OS gave no random bytes for the DP-SGD noise key");
    got += size_t(n);
  }
  const std::string text = to_hex(random, sizeof random) + "\n";
  std::memset(random, 0, sizeof random);
  write_file_atomically(path, text);
  ::chmod(path.c_str(), S_IRUSR | S_IWUSR);  // the owner's alone
  return text;
}

}  // namespace

std::string run_noise_key_path(const std::string& out_dir) {
  return (std::filesystem::path(out_dir) / "privacy_noise.key").string();
}

uint64_t load_noise_key(const Config& config, int64_t resumed_step) {
  std::string bytes;
  if (!config.privacy.noise_key_file.empty()) {
    bytes = read_key_file(config.privacy.noise_key_file);
  } else {
    const std::string path = run_noise_key_path(config.run.out_dir);
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      bytes = read_key_file(path);
    } else if (resumed_step > 0) {
      throw UserError(path +
                      ": missing; the private run being resumed drew its sampling and "
                      "noise from it, so it cannot go on without it (--resume fresh "
                      "starts over)");
    } else {
      bytes = fresh_key_file(path);
    }
  }
  const Sha256Digest digest = hmac_sha256(bytes, "cartformer DP-SGD sampling and noise");
  std::fill(bytes.begin(), bytes.end(), '\0');
  uint64_t key = 0;
  std::memcpy(&key, digest.data(), sizeof key);
  return key;
}

}  // namespace cf::trainer::privacy
