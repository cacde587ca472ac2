// libFuzzer target: parse_config (the training config loader) on fuzzed YAML and --set overrides.
//
// Input: the YAML text, optionally followed by kPartSeparator and overrides, one "key=value"
// per line (what `cartformer train --set` passes on). Parsing must return a Config or throw
// cf::UserError. An accepted config must also survive the round trip the checkpoint relies on:
// parse_config(to_yaml(c)) gives back a config whose YAML is the same text.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "fuzz_support.h"
#include "trainer/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = cf::fuzz::split_parts({reinterpret_cast<const char*>(data), size});
  std::vector<std::string> overrides;
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string_view lines = parts[i];
    while (!lines.empty()) {
      const size_t end = std::min(lines.find('\n'), lines.size());
      overrides.emplace_back(lines.substr(0, end));
      lines.remove_prefix(std::min(end + 1, lines.size()));
    }
  }
  cf::trainer::Config config;
  try {
    config = cf::trainer::parse_config(std::string(parts[0]), "fuzz.yaml", overrides);
  } catch (const cf::UserError& error) {
    cf::fuzz::note_refusal(error);
    return 0;
  }
  // Checkpoints store to_yaml(config) and parse it back on --resume: it must read back.
  const std::string yaml = cf::trainer::to_yaml(config);
  std::string again;
  try {
    again = cf::trainer::to_yaml(cf::trainer::parse_config(yaml, "resolved.yaml"));
  } catch (const cf::UserError& error) {
    std::fprintf(stderr, "to_yaml output does not parse back: %s\n%s\n", error.what(),
                 yaml.c_str());
    __builtin_trap();
  }
  if (again != yaml) {
    std::fprintf(stderr, "config changed in a to_yaml/parse_config round trip:\n%s\n---\n%s\n",
                 yaml.c_str(), again.c_str());
    __builtin_trap();
  }
  return 0;
}
