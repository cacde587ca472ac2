// libFuzzer target: load_checkpoint (manifest.json verification and parsing, tensor files) and
// model_from_checkpoint on a fuzzed checkpoint directory.
//
// Input: byte 0 holds flags, the rest is up to three files separated by kPartSeparator:
//   manifest.json, model.safetensors, optimizer.safetensors (a missing part: no file).
// Flag bit 0 "fix checksums": when the manifest parses as a JSON object, the harness rewrites
// files.<name> with the real sha256 of each tensor file written and then manifest_sha256, so
// mutations get past the checksums to the parsing behind them (a mutated byte would otherwise
// almost always end at "checksum mismatch"). Without it the manifest is written verbatim.
// Flag bit 1: load_checkpoint(load_optimizer = true).
// Loading must succeed or throw cf::UserError; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/json.h"
#include "core/sha256.h"
#include "fuzz_support.h"
#include "trainer/checkpoint.h"

namespace {

constexpr uint8_t kFixChecksums = 1;
constexpr uint8_t kLoadOptimizer = 2;
constexpr const char* kTensorFiles[] = {"model.safetensors", "optimizer.safetensors"};

// The manifest with correct checksums for the files in `dir`, or the text unchanged when it is
// not a JSON object.
std::string with_fixed_checksums(std::string_view text, const std::string& dir) {
  cf::Json manifest = cf::Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.is_object()) return std::string(text);
  if (manifest.contains("files") && manifest["files"].is_object()) {
    for (const char* name : kTensorFiles) {
      const std::string path = dir + "/" + name;
      if (manifest["files"].contains(name) && std::filesystem::is_regular_file(path)) {
        manifest["files"][name] = cf::sha256_file_hex(path);
      }
    }
  }
  manifest.erase("manifest_sha256");
  const std::string checksum = cf::sha256_hex(manifest.dump());
  manifest["manifest_sha256"] = checksum;
  return manifest.dump(2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const cf::fuzz::ScratchDir scratch("checkpoint_manifest");
  scratch.clear();
  const uint8_t flags = data[0];
  const auto parts = cf::fuzz::split_parts({reinterpret_cast<const char*>(data) + 1, size - 1});
  for (size_t i = 1; i < parts.size() && i <= 2; ++i) scratch.write(kTensorFiles[i - 1], parts[i]);
  const std::string manifest = (flags & kFixChecksums) != 0
                                   ? with_fixed_checksums(parts[0], scratch.path())
                                   : std::string(parts[0]);
  scratch.write("manifest.json", manifest);

  try {
    const cf::trainer::LoadedCheckpoint checkpoint =
        cf::trainer::load_checkpoint(scratch.path(), (flags & kLoadOptimizer) != 0);
    // What `cartformer eval` and fine-tuning do next with a loaded checkpoint.
    cf::trainer::model_from_checkpoint(checkpoint);
  } catch (const cf::UserError& error) {
    cf::fuzz::note_refusal(error);
  }
  return 0;
}
