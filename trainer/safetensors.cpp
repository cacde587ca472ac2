#include "trainer/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"

namespace cf::trainer {
namespace {

// The format stores little-endian data and we copy floats byte for byte.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes little endian");

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // same bound as the reference implementation
constexpr const char* kMetadataKey = "__metadata__";

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

[[noreturn]] void corrupt(const std::string& path, const std::string& problem) {
  throw UserError(path + ": not a valid safetensors file (" + problem + ")");
}

}  // namespace

int64_t SafetensorsTensor::numel() const { return product(shape); }

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header[kMetadataKey] = std::move(meta);
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == kMetadataKey) {
      throw UserError(path + ": invalid tensor name '" + t.name + "'");
    }
    if (!names.insert(t.name).second) {
      throw UserError(path + ": tensor '" + t.name + "' given twice");
    }
    for (int64_t d : t.shape) CF_CHECK(d >= 0, "negative dimension in tensor " + t.name);
    uint64_t bytes = static_cast<uint64_t>(product(t.shape)) * sizeof(float);
    CF_CHECK(bytes == 0 || t.data != nullptr, "tensor " + t.name + " has no data");
    header[t.name] = {
        {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  // Pad with spaces so the data starts 8-byte aligned (8-byte length prefix + header).
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  uint64_t header_size = header_text.size();

  PendingOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary | std::ios::trunc);
    if (!f) throw UserError(path + ": cannot create " + out.temp_path());
    char prefix[8];
    std::memcpy(prefix, &header_size, 8);
    f.write(prefix, 8);
    f.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (const auto& t : tensors) {
      f.write(reinterpret_cast<const char*>(t.data),
              static_cast<std::streamsize>(product(t.shape) * sizeof(float)));
    }
    f.flush();
    if (!f) throw UserError(path + ": write failed (disk full?)");
  }
  out.commit();
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw UserError(path + ": cannot open for reading");
  const uint64_t file_size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  if (file_size < 8) corrupt(path, "file shorter than its 8-byte header length");
  uint64_t header_size = 0;
  char prefix[8];
  f.read(prefix, 8);
  std::memcpy(&header_size, prefix, 8);
  if (header_size > kMaxHeaderBytes || header_size > file_size - 8) {
    corrupt(path, "header length " + std::to_string(header_size) + " exceeds the file (" +
                      std::to_string(file_size) + " bytes): truncated?");
  }
  std::string header_text(header_size, '\0');
  f.read(header_text.data(), static_cast<std::streamsize>(header_size));
  if (!f) throw UserError(path + ": read error");

  Json header;
  try {
    header = Json::parse(header_text);
  } catch (const Json::exception& e) {
    corrupt(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) corrupt(path, "header is not a JSON object");

  SafetensorsFile result;
  struct Extent {
    uint64_t begin, end;
    size_t tensor;
  };
  std::vector<Extent> extents;
  const uint64_t data_size = file_size - 8 - header_size;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const Json& entry = it.value();
    if (name == kMetadataKey) {
      if (!entry.is_object()) corrupt(path, "__metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string())
          corrupt(path, "__metadata__ value '" + m.key() + "' not a string");
        result.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string what = "tensor '" + name + "'";
    // What write_safetensors refuses is refused here too, so a file read can be written back.
    if (name.empty()) corrupt(path, "a tensor has an empty name");
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      corrupt(path, what + " lacks dtype, shape or data_offsets");
    }
    const Json& dtype = entry["dtype"];
    if (!dtype.is_string()) corrupt(path, what + " has a non-string dtype");
    if (dtype.get<std::string>() != "F32") {
      throw UserError(path + ": " + what + " has dtype " + dtype.get<std::string>() +
                      "; only F32 is supported");
    }
    SafetensorsTensor tensor;
    tensor.name = name;
    const Json& shape = entry["shape"];
    if (!shape.is_array()) corrupt(path, what + " has a non-array shape");
    uint64_t numel = 1;
    for (const Json& d : shape) {
      if (!d.is_number_unsigned()) corrupt(path, what + " has a bad dimension");
      uint64_t dim = d.get<uint64_t>();
      // Shapes are int64 in memory; a larger dimension is only "within the file" next to a 0.
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        corrupt(path, what + " has a dimension beyond 2^63 - 1");
      }
      if (dim != 0 && numel > data_size / dim) corrupt(path, what + " is larger than the file");
      numel *= dim;
      tensor.shape.push_back(static_cast<int64_t>(dim));
    }
    const Json& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      corrupt(path, what + " has malformed data_offsets");
    }
    uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      corrupt(path, what + " data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                        "] outside the " + std::to_string(data_size) +
                        "-byte data section: truncated?");
    }
    if (end - begin != numel * sizeof(float)) {
      corrupt(path, what + " shape " + shape_string(tensor.shape) + " does not match its " +
                        std::to_string(end - begin) + " bytes");
    }
    extents.push_back({begin, end, result.tensors.size()});
    result.tensors.push_back(std::move(tensor));
  }

  // The data section must be covered exactly once, in some order of the tensors.
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (const auto& e : extents) {
    if (e.begin != covered) corrupt(path, "tensor data overlaps or leaves a hole");
    covered = e.end;
  }
  if (covered != data_size) {
    corrupt(path, "data section is " + std::to_string(data_size) + " bytes but tensors cover " +
                      std::to_string(covered));
  }

  const uint64_t data_start = 8 + header_size;
  std::vector<SafetensorsTensor> ordered;
  ordered.reserve(extents.size());
  for (const auto& e : extents) {
    SafetensorsTensor& t = result.tensors[e.tensor];
    t.data.resize((e.end - e.begin) / sizeof(float));
    f.seekg(static_cast<std::streamoff>(data_start + e.begin));
    f.read(reinterpret_cast<char*>(t.data.data()), static_cast<std::streamsize>(e.end - e.begin));
    if (!f) throw UserError(path + ": read error in tensor '" + t.name + "'");
    ordered.push_back(std::move(t));
  }
  result.tensors = std::move(ordered);
  return result;
}

}  // namespace cf::trainer
