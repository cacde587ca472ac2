// libFuzzer target: read_safetensors on a fuzzed file, and a write/read round trip of what it
// accepts.
//
// Input: the whole file. The reader must return a file or throw cf::UserError. Whatever it
// returns must be something write_safetensors can write back, and reading that copy must give
// the same metadata, names, shapes and data bits: a file accepted with a shape the writer
// refuses, or read differently the second time, is a finding as much as a crash is.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "fuzz_support.h"
#include "trainer/safetensors.h"

namespace {

using cf::trainer::SafetensorsFile;

[[noreturn]] void mismatch(const char* what) {
  std::fprintf(stderr, "safetensors round trip changed the %s\n", what);
  __builtin_trap();
}

void expect_same(const SafetensorsFile& original, const SafetensorsFile& copy) {
  if (copy.metadata != original.metadata) mismatch("metadata");
  if (copy.tensors.size() != original.tensors.size()) mismatch("tensor count");
  for (size_t i = 0; i < original.tensors.size(); ++i) {
    const auto& a = original.tensors[i];
    const auto& b = copy.tensors[i];
    if (a.name != b.name) mismatch("tensor names");
    if (a.shape != b.shape) mismatch("shapes");
    // Bitwise: NaN payloads and negative zeros must survive too.
    if (a.data.size() != b.data.size() ||
        (!a.data.empty() &&
         std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(float)) != 0)) {
      mismatch("data");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const cf::fuzz::ScratchDir scratch("safetensors");
  scratch.clear();
  const std::string path =
      scratch.write("fuzzed.safetensors", {reinterpret_cast<const char*>(data), size});
  SafetensorsFile file;
  try {
    file = cf::trainer::read_safetensors(path);
  } catch (const cf::UserError& error) {
    cf::fuzz::note_refusal(error);
    return 0;  // refused with a message: the expected outcome for most inputs
  }
  for (const auto& tensor : file.tensors) {
    if (static_cast<int64_t>(tensor.data.size()) != tensor.numel()) {
      std::fprintf(stderr, "tensor '%s' holds %zu floats, its shape says %lld\n",
                   tensor.name.c_str(), tensor.data.size(), static_cast<long long>(tensor.numel()));
      __builtin_trap();
    }
  }

  std::vector<cf::trainer::SafetensorsTensorView> views;
  for (const auto& tensor : file.tensors) {
    views.push_back({tensor.name, tensor.shape, tensor.data.data()});
  }
  const std::string copy_path = scratch.path() + "/copy.safetensors";
  try {
    cf::trainer::write_safetensors(copy_path, views, file.metadata);
  } catch (const cf::UserError& error) {
    // The reader accepted a file the writer cannot reproduce (e.g. an empty tensor name).
    std::fprintf(stderr, "write_safetensors refused what read_safetensors accepted: %s\n",
                 error.what());
    __builtin_trap();
  }
  expect_same(file, cf::trainer::read_safetensors(copy_path));
  return 0;
}
