// The secret a private run's user sampling and noise are keyed by. Keyed by run.seed alone,
// both would be reproducible by anyone holding a checkpoint (the seed is in its config), and
// an adversary who knows every other user could subtract the noise exactly. The secret lives
// only in a key file: the run's own (<run.out_dir>/privacy_noise.key, 32 random bytes from the
// OS, created on the first step, read again on resume) or one the user names
// (privacy.noise_key_file: the same noise for runs that must match, e.g. N ranks against 1).
// It is never written to a manifest, config, log or metrics file.
#pragma once
#include <cstdint>
#include <string>

#include "trainer/config.h"

namespace cf::trainer::privacy {

// The run's own key file inside `out_dir`.
std::string run_noise_key_path(const std::string& out_dir);

// The 64-bit stream key derived (SHA-256) from the key file: privacy.noise_key_file when set,
// else the run's own file, created from the OS's random source when `resumed_step` is 0 and
// the file does not exist yet. UserError naming the file when it is unreadable or shorter than
// 16 bytes, or when a resumed run's own file is missing (its noise could not be continued).
uint64_t load_noise_key(const Config& config, int64_t resumed_step);

}  // namespace cf::trainer::privacy
