// Safetensors: reading and writing F32 tensor files in the safetensors format (8-byte header
// length, JSON header, raw little-endian data), loadable by the Python `safetensors` package.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cf::trainer {

// A tensor to be written: borrowed data of prod(shape) floats.
struct SafetensorsTensorView {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;
};

// A tensor read back (always F32: other dtypes are rejected when reading).
struct SafetensorsTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
  int64_t numel() const;
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;  // the "__metadata__" entry
  std::vector<SafetensorsTensor> tensors;       // in file (data offset) order
  // nullptr when absent.
  const SafetensorsTensor* find(const std::string& name) const;
};

// Writes `tensors` (dtype F32) in the given order, the header padded with spaces to an 8-byte
// boundary. Atomic: written under a temporary name, fsynced and renamed onto `path`.
// Throws UserError naming `path` on duplicate or empty names, or on I/O failure.
void write_safetensors(const std::string& path, const std::vector<SafetensorsTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Reads and validates a whole file: header length within the file, header JSON well formed,
// every entry F32 with a consistent shape and offsets, the data covered exactly (no holes, no
// overlaps, nothing after the last tensor). Anything else is a UserError naming `path`.
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace cf::trainer
