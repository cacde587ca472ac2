// cartformer prep: raw behaviour logs -> tokenized HDF5 corpus (data/prep.h does the work).
#include <fcntl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "data/prep.h"
#include "data/prep_config.h"
#include "data/readers/csv_line.h"
#include "data/text/text_corpus.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"

namespace cf::cli {
namespace {

constexpr const char* kKeyEnvironment = "CARTFORMER_USER_KEY";

void trim_trailing_space(std::string& s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
}

// Reads a key file with unbuffered reads into one string, so no stream buffer or discarded
// reallocation is left holding key bytes; wipe_secret then clears the only copy. Works for
// pipes too (--key-file <(pass show cartformer)), which report no size in advance.
std::string read_key_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw UserError(path + ": cannot open for reading");
  std::string key;
  key.reserve(256);
  char chunk[256];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int read_errno = errno;
      ::close(fd);
      OPENSSL_cleanse(chunk, sizeof chunk);
      if (n == 0) return key;
      wipe_secret(key);
      throw UserError(path + ": cannot read: " + std::strerror(read_errno));
    }
    if (key.size() + static_cast<size_t>(n) > key.capacity()) {
      std::string larger;
      larger.reserve(2 * (key.size() + static_cast<size_t>(n)));
      larger.append(key);
      wipe_secret(key);
      key.swap(larger);
    }
    key.append(chunk, static_cast<size_t>(n));
  }
}

void check_key_length(const std::string& key, const std::string& origin) {
  if (key.size() < data::kMinUserKeyBytes) {
    throw UserError(origin + ": the user-hash key has " + std::to_string(key.size()) +
                    " bytes; at least " + std::to_string(data::kMinUserKeyBytes) +
                    " are required (e.g. head -c 32 /dev/urandom | base64 > user.key)");
  }
}

// Key precedence: --demo-key (explicit), a key file (flag, then config), the environment.
void resolve_user_key(const ArgParser& args, const data::PrepConfig& config,
                      data::PrepOptions& options) {
  std::string key_file = args.has("key-file") ? args.get("key-file") : config.key_file.value_or("");
  if (args.get_flag("demo-key")) {
    if (!key_file.empty()) throw UserError("--demo-key: conflicts with the key file " + key_file);
    options.user_key = data::kDemoUserKey;
    options.user_key_source = "demo-key";
    return;
  }
  if (!key_file.empty()) {
    options.user_key = read_key_file(key_file);
    trim_trailing_space(options.user_key);
    if (options.user_key.empty()) throw UserError(key_file + ": the user-hash key file is empty");
    check_key_length(options.user_key, key_file);
    options.user_key_source = "key-file";
    return;
  }
  if (const char* env = std::getenv(kKeyEnvironment); env && *env) {
    // The environment's own copy belongs to the process and cannot be wiped; a key file
    // leaves none behind.
    options.user_key = env;
    trim_trailing_space(options.user_key);
    check_key_length(options.user_key, kKeyEnvironment);
    options.user_key_source = "environment";
    return;
  }
  throw UserError(std::string(kKeyEnvironment) +
                  ": not set, and no --key-file given: no user-hash key to pseudonymise users "
                  "(--demo-key uses a public key, for demo data only)");
}

// An integer flag (or config value) that must fit the int32 option it sets.
int32_t bounded_int(const ArgParser& args, const std::string& flag,
                    const std::optional<int64_t>& from_config, int64_t fallback, int64_t lo,
                    int64_t hi) {
  const int64_t value = args.has(flag) ? args.get_int(flag) : from_config.value_or(fallback);
  if (value < lo || value > hi) {
    throw UserError("--" + flag + ": must be within [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "], got " + std::to_string(value));
  }
  return static_cast<int32_t>(value);
}

void build_options(const ArgParser& args, data::PrepOptions& options) {
  data::PrepConfig config;
  if (args.has("config")) config = data::load_prep_config(args.get("config"));

  data::RawSourceSpec spec;
  const std::string format = args.has("format") ? args.get("format") : config.format.value_or("");
  if (format.empty()) {
    throw UserError("--format: missing (give --format FMT or format: in --config)");
  }
  spec.format = data::parse_raw_format(format);
  spec.path = args.has("input") ? args.get("input") : config.input.value_or("");
  if (spec.path.empty()) {
    throw UserError("--input: missing (give --input PATH or input: in --config)");
  }
  spec.item_attributes = args.has("item-attributes") ? args.get("item-attributes")
                                                     : config.item_attributes.value_or("");
  spec.personal_columns = args.has("personal-columns")
                              ? data::split_comma_list(args.get("personal-columns"))
                              : config.personal_columns.value_or(std::vector<std::string>{});

  options.sources = {spec};
  options.output_path = args.has("out") ? args.get("out") : config.output.value_or("");
  if (options.output_path.empty()) {
    throw UserError("--out: missing (give --out FILE or output: in --config)");
  }
  options.max_reject_fraction = args.has("max-reject-fraction")
                                    ? args.get_double("max-reject-fraction")
                                    : config.max_reject_fraction.value_or(0.01);
  options.time_split_quantile = args.has("time-split-quantile")
                                    ? args.get_double("time-split-quantile")
                                    : config.time_split_quantile.value_or(0.9);
  options.time_split_cutoff = config.time_split_cutoff;
  if (args.has("time-split-cutoff")) options.time_split_cutoff = args.get_int("time-split-cutoff");
  options.min_sequence_length =
      bounded_int(args, "min-sequence-length", config.min_sequence_length, 3, 1, 1000000);
  options.max_events_per_user =
      bounded_int(args, "max-events-per-user", config.max_events_per_user, 0, 0, 1000000000);
  options.created_by = "cartformer prep";
  resolve_user_key(args, config, options);
}

// Wipes the user-hash key when prep is done with it, on every way out (errors included).
class KeyWipeOnExit {
 public:
  explicit KeyWipeOnExit(std::string& key) : key_(key) {}
  ~KeyWipeOnExit() { wipe_secret(key_); }
  KeyWipeOnExit(const KeyWipeOnExit&) = delete;
  KeyWipeOnExit& operator=(const KeyWipeOnExit&) = delete;

 private:
  std::string& key_;
};

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string counts_text(const std::vector<std::pair<std::string, int64_t>>& counts) {
  std::string text;
  for (const auto& [reason, n] : counts)
    text += (text.empty() ? "" : ", ") + reason + " " + with_commas(n);
  return text;
}

void print_report(const data::PrepReport& r) {
  const double total_seconds = r.read_seconds + r.build_seconds + r.write_seconds;
  std::printf("rows read      %s from %zu file(s)\n", with_commas(r.rows_read).c_str(),
              r.source_files.size());
  std::printf("rows kept      %s\n", with_commas(r.rows_kept).c_str());
  if (r.rows_rejected > 0) {
    std::printf("rows rejected  %s (%.3g%%): %s\n", with_commas(r.rows_rejected).c_str(),
                100.0 * r.rows_rejected / std::max<int64_t>(1, r.rows_read),
                counts_text(r.rejects_by_reason).c_str());
  } else {
    std::printf("rows rejected  0\n");
  }
  if (r.rows_filtered > 0) {
    std::printf("rows filtered  %s: %s\n", with_commas(r.rows_filtered).c_str(),
                counts_text(r.filtered_by_reason).c_str());
  }
  if (!r.side_table_rejects_by_reason.empty()) {
    std::printf("side tables    rejected rows: %s\n",
                counts_text(r.side_table_rejects_by_reason).c_str());
  }
  for (const auto& ex : r.reject_examples) {
    std::printf("  e.g. %s:%lld %s\n", ex.file.c_str(), static_cast<long long>(ex.line),
                ex.reason.c_str());
  }
  std::printf("users          %s (%s kept as sequences)\n", with_commas(r.users_seen).c_str(),
              with_commas(r.sequences).c_str());
  std::printf("vocabulary     %s items, %s categories, %s activities\n",
              with_commas(r.items).c_str(), with_commas(r.categories).c_str(),
              with_commas(r.activities).c_str());
  if (r.item_features > 0) {
    std::printf("item features  %s feature tokens on %s of %s items\n",
                with_commas(r.item_features).c_str(), with_commas(r.items_with_features).c_str(),
                with_commas(r.items).c_str());
  }
  std::printf("time split     cutoff %lld (%s)\n", static_cast<long long>(r.time_split_cutoff),
              r.time_source == "order" ? "order-only source: ordinals, not times" : "unix seconds");
  std::printf("time           %.2fs (read %.2fs, build %.2fs, write %.2fs), %s events/s\n",
              total_seconds, r.read_seconds, r.build_seconds, r.write_seconds,
              human_count(total_seconds > 0 ? r.rows_kept / total_seconds : 0).c_str());
  std::printf("wrote %s\n", r.output_path.c_str());
}

// Text pairs (copy generation, data/text/): no users, so no key; the corpus holds its own
// tokenizer, trained on the training titles' pairs.
void run_text_prep(const ArgParser& args, const std::string& format) {
  const std::string input = args.has("input") ? args.get("input") : "";
  if (input.empty()) throw UserError("--input: missing");
  const std::string out = args.require("out");
  std::vector<data::text::TextPair> pairs;
  std::string sources = input;
  if (format == "kobe") {
    if (!args.has("target"))
      throw UserError("--target: missing (the description file of the pairs, e.g. test.tgt.str)");
    pairs = data::text::read_kobe_pairs(input, args.get("target"));
    sources += "," + args.get("target");
  } else {
    pairs = data::text::read_jsonl_pairs(input);
  }
  data::text::TextCorpusOptions options;
  if (args.has("min-char-count")) options.tokenizer.min_count = args.get_int("min-char-count", 1);
  data::text::TextCorpus corpus = data::text::build_text_corpus(pairs, options);
  corpus.source_format = format;
  corpus.source_files = sources;
  data::text::write_text_corpus(out, corpus);
  int64_t per_split[3] = {0, 0, 0};
  for (const int8_t s : corpus.split) ++per_split[s];
  std::printf("pairs          %lld (train %lld, validation %lld, test %lld; split by title)\n",
              (long long)corpus.num_pairs(), (long long)per_split[0], (long long)per_split[1],
              (long long)per_split[2]);
  std::printf("tokenizer      %d characters + 256 bytes + 4 specials\n",
              corpus.tokenizer(out).characters());
  std::printf("segments       %zu, aspects %zu\n", corpus.segments.size(), corpus.aspects.size());
  std::printf("wrote %s\n", out.c_str());
}

}  // namespace

int run_prep(int argc, char** argv) {
  ArgParser args(
      "prep",
      "Turn a raw behaviour log into a tokenized HDF5 corpus (docs/corpus-format.md).\n"
      "User ids are replaced by HMAC-SHA256 pseudonyms under a secret key (--key-file or\n"
      "$CARTFORMER_USER_KEY); the key and raw ids are never stored. Flags override the\n"
      "values of --config. The output appears only when prep succeeds.");
  args.option("format", "FMT",
              "input format: trio, taobao, rees46, user_item, user_items, yoochoose, diginetica;\n"
              "text pairs for copy generation: kobe (--input titles, --target texts), "
              "text_jsonl");
  args.option("target", "PATH", "kobe: the description file matching --input line by line");
  args.option("min-char-count", "N",
              "text pairs: a character seen fewer times goes by its UTF-8 bytes [2]");
  args.option("input", "PATH", "raw log file (for trio: the folder holding the three CSVs)");
  args.option("out", "FILE", "corpus file to write (e.g. corpus.h5)");
  args.option("config", "FILE", "prep settings in YAML (configs/data/*.yaml)");
  args.option("key-file", "FILE", "file holding the secret user-hash key (>= 16 bytes)");
  args.flag("demo-key", "use the public demo key (pseudonyms recomputable by anyone)");
  args.option("max-reject-fraction", "X",
              "fail if more than this share of rows is malformed [0.01]");
  args.option("time-split-quantile", "Q", "time-split cutoff at this quantile of timestamps [0.9]");
  args.option("time-split-cutoff", "UNIX_TS",
              "explicit time-split cutoff (overrides the quantile)");
  args.option("min-sequence-length", "N", "drop users with fewer events [3]");
  args.option("max-events-per-user", "N", "keep only each user's N most recent events [0 = all]");
  args.option("item-attributes", "JSON", "item-attributes file for user_item(s) formats");
  args.option("personal-columns", "A,B", "columns holding personal data, dropped and recorded");
  if (!args.parse(argc, argv)) return 0;
  if (args.has("format") && (args.get("format") == "kobe" || args.get("format") == "text_jsonl")) {
    run_text_prep(args, args.get("format"));
    return 0;
  }

  data::PrepOptions options;
  // The key's only copy is options.user_key; prep builds its pseudonymizer from it (OpenSSL
  // keeps, and wipes, its own copy), and nothing else reads it.
  const KeyWipeOnExit wipe_key(options.user_key);
  build_options(args, options);
  std::unique_ptr<ProgressMeter> meter;
  uint64_t bytes_total = 0;
  data::PrepProgress progress = [&](uint64_t done, uint64_t total, int64_t rows) {
    if (!meter) meter = std::make_unique<ProgressMeter>("prep: reading", double(total), "B");
    bytes_total = total;
    meter->update(double(done), human_count(double(rows)) + " rows");
  };
  data::PrepReport report = data::run_prep(options, progress);
  if (meter) meter->finish(double(bytes_total), human_count(double(report.rows_read)) + " rows");
  print_report(report);
  return 0;
}

}  // namespace cf::cli
