// libFuzzer target: parse_prep_config (the prep settings loader) on fuzzed YAML.
//
// Input: the YAML text. Parsing must return a PrepConfig or throw cf::UserError; anything else
// (a yaml-cpp exception escaping, a sanitizer report, a crash) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "data/prep_config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    cf::data::parse_prep_config(std::string(reinterpret_cast<const char*>(data), size),
                                "configs/data/fuzz.yaml");
  } catch (const cf::UserError& error) {
    cf::fuzz::note_refusal(error);
  }
  return 0;
}
