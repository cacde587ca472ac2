#include "data/hdf5_file.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <mutex>

#include "core/error.h"
#include "core/utf8.h"

namespace cf::data::h5 {
namespace {

// HDF5 prints its whole error stack to stderr by default; every failure here becomes one
// UserError line instead. The Debian build is thread-safe, which makes that printing a setting
// of each thread's own error stack, so every entry point switches it off for its thread.
void silence_hdf5_errors() {
  thread_local bool silenced = false;
  if (silenced) return;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  silenced = true;
}

herr_t collect_innermost(unsigned n, const H5E_error2_t* err, void* out) {
  if (n == 0 && err->desc) *static_cast<std::string*>(out) = err->desc;
  return 0;
}

Handle make_plist(hid_t cls) {
  hid_t id = H5Pcreate(cls);
  CF_CHECK(id >= 0, "H5Pcreate failed");
  return Handle(id, H5Pclose);
}

Handle make_simple_space(const std::vector<hsize_t>& dims) {
  hid_t id = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  CF_CHECK(id >= 0, "H5Screate_simple failed");
  return Handle(id, H5Sclose);
}

Handle make_vlen_string_type() {
  hid_t id = H5Tcopy(H5T_C_S1);
  H5Tset_size(id, H5T_VARIABLE);
  H5Tset_cset(id, H5T_CSET_UTF8);
  return Handle(id, H5Tclose);
}

// Makes a dataset-creation property list for `layout` along a first dimension of `rows`.
Handle creation_plist(const DatasetLayout& layout, const std::vector<hsize_t>& dims) {
  Handle plist = make_plist(H5P_DATASET_CREATE);
  if (layout.chunk_elements > 0 && dims[0] > 0) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = std::min<hsize_t>(dims[0], static_cast<hsize_t>(layout.chunk_elements));
    H5Pset_chunk(plist.get(), static_cast<int>(chunk.size()), chunk.data());
    if (layout.shuffle) H5Pset_shuffle(plist.get());
    if (layout.deflate_level > 0) H5Pset_deflate(plist.get(), layout.deflate_level);
  }
  return plist;
}

}  // namespace

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

bool Handle::reset() {
  silence_hdf5_errors();
  bool ok = true;
  if (id_ >= 0 && closer_) ok = closer_(id_) >= 0;
  id_ = H5I_INVALID_HID;
  return ok;
}

bool has_hdf5_signature(const std::string& path) {
  // HDF5 may put its superblock at 0, 512, 1024, ...; files written here always use offset 0.
  static const char kSignature[8] = {'\211', 'H', 'D', 'F', '\r', '\n', '\032', '\n'};
  std::ifstream f(path, std::ios::binary);
  char head[8] = {};
  if (!f.read(head, 8)) return false;
  return std::memcmp(head, kSignature, 8) == 0;
}

std::string hdf5_error_line(std::string_view description) {
  // The POSIX driver's failures quote the system's message among buffer addresses, byte counts
  // and a ctime() stamp that ends in a newline; the system's message is what a user acts on.
  constexpr std::string_view kSystemMessage = "error message = '";
  if (const size_t at = description.find(kSystemMessage); at != std::string_view::npos) {
    const size_t begin = at + kSystemMessage.size();
    const size_t end = description.find('\'', begin);
    if (end != std::string_view::npos && end > begin) {
      return std::string(description.substr(begin, end - begin));
    }
  }
  std::string line;
  bool pending_space = false;
  for (const char c : description) {
    if (static_cast<unsigned char>(c) <= ' ') {
      pending_space = !line.empty();
      continue;
    }
    if (pending_space) line += ' ';
    pending_space = false;
    line += c;
  }
  return line;
}

std::string last_hdf5_error() {
  std::string message;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_innermost, &message);
  return hdf5_error_line(message);
}

template <>
hid_t native_type<int8_t>() {
  return H5T_NATIVE_INT8;
}
template <>
hid_t native_type<uint8_t>() {
  return H5T_NATIVE_UINT8;
}
template <>
hid_t native_type<int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
hid_t native_type<int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
hid_t native_type<double>() {
  return H5T_NATIVE_DOUBLE;
}

// ---- Dataset -------------------------------------------------------------------------------

Dataset::Dataset(Handle handle, std::string file_path, std::string name)
    : handle_(std::move(handle)), file_path_(std::move(file_path)), name_(std::move(name)) {}

void Dataset::fail(const std::string& what) const {
  std::string detail = last_hdf5_error();
  throw UserError(file_path_ + ": truncated or corrupt HDF5 file (" + what + " " + name_ +
                  (detail.empty() ? "" : ": " + detail) + ")");
}

void Dataset::check_sizes() const {
  const std::vector<int64_t> extent = dims();
  Handle type(H5Dget_type(handle_.get()), H5Tclose);
  if (!type.valid()) fail("cannot get the type of");
  Handle plist(H5Dget_create_plist(handle_.get()), H5Pclose);
  if (!plist.valid()) fail("cannot get the creation properties of");
  auto corrupt = [&](const std::string& problem) {
    throw UserError(file_path_ + ": truncated or corrupt HDF5 file (dataset " + name_ + " " +
                    problem + ")");
  };
  const bool chunked = H5Pget_layout(plist.get()) == H5D_CHUNKED;
  std::vector<hsize_t> chunk(std::max<size_t>(extent.size(), 1), 0);
  if (chunked) {
    // libhdf5 allocates a whole chunk for each chunk it reads, so a damaged chunk size alone
    // can ask for gigabytes; this writer never makes a chunk larger than its dataset.
    const int rank = H5Pget_chunk(plist.get(), static_cast<int>(chunk.size()), chunk.data());
    if (rank != static_cast<int>(extent.size())) corrupt("has chunks of another rank");
    for (size_t i = 0; i < extent.size(); ++i) {
      if (chunk[i] == 0 || chunk[i] > std::max<hsize_t>(static_cast<hsize_t>(extent[i]), 1)) {
        corrupt("has chunks of " + std::to_string(chunk[i]) + " elements along a dimension of " +
                std::to_string(extent[i]));
      }
    }
  }

  // The stored bytes lie in the file, and deflate inflates them at most 1032-fold, so they
  // bound the declared size; a damaged dataspace would otherwise size the read buffer, and a
  // damaged chunk record the buffer libhdf5 reads the chunk into.
  constexpr uint64_t kMaxInflation = 1100;
  uint64_t bytes = H5Tget_size(type.get());
  for (int64_t d : extent) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
      corrupt("declares more than 2^64 bytes");
    }
  }
  const uint64_t stored = H5Dget_storage_size(handle_.get());
  hsize_t file_bytes = 0;
  {
    Handle file(H5Iget_file_id(handle_.get()), H5Fclose);
    if (!file.valid() || H5Fget_filesize(file.get(), &file_bytes) < 0) {
      fail("cannot get the size of the file holding");
    }
  }
  if (stored > file_bytes) {
    corrupt("stores " + std::to_string(stored) + " bytes in a file of " +
            std::to_string(file_bytes));
  }
  if (bytes / kMaxInflation > stored) {
    corrupt("declares " + std::to_string(bytes) + " bytes but stores " + std::to_string(stored));
  }
  if (!chunked || extent.size() != 1 || extent[0] == 0) return;

  // Every chunk of a corpus dataset is written. A chunk stored without compression (no
  // compressing filter in the pipeline, or the filters skipped for that chunk) must hold the
  // whole chunk: libhdf5 copies a chunk out of the stored bytes without comparing their sizes.
  bool compressing_pipeline = false;
  for (int f = 0; f < H5Pget_nfilters(plist.get()); ++f) {
    unsigned flags = 0, config = 0;
    size_t values = 0;
    if (H5Pget_filter2(plist.get(), static_cast<unsigned>(f), &flags, &values, nullptr, 0, nullptr,
                       &config) != H5Z_FILTER_SHUFFLE) {
      compressing_pipeline = true;
    }
  }
  const uint64_t chunk_bytes = H5Tget_size(type.get()) * chunk[0];  // <= bytes: chunk fits
  const hsize_t expected = (static_cast<hsize_t>(extent[0]) + chunk[0] - 1) / chunk[0];
  Handle space(H5Dget_space(handle_.get()), H5Sclose);
  hsize_t count = 0;
  if (!space.valid() || H5Dget_num_chunks(handle_.get(), space.get(), &count) < 0) {
    fail("cannot count the chunks of");
  }
  if (count != expected) {
    corrupt("stores " + std::to_string(count) + " of its " + std::to_string(expected) + " chunks");
  }
  for (hsize_t k = 0; k < expected; ++k) {
    hsize_t origin = k * chunk[0];
    unsigned filter_mask = 0;
    haddr_t address = 0;
    hsize_t size = 0;
    if (H5Dget_chunk_info_by_coord(handle_.get(), &origin, &filter_mask, &address, &size) < 0) {
      fail("cannot locate the chunks of");
    }
    if ((!compressing_pipeline || filter_mask != 0) && size != chunk_bytes) {
      corrupt("stores an uncompressed chunk of " + std::to_string(size) + " bytes for " +
              std::to_string(chunk_bytes));
    }
  }
}

std::vector<int64_t> Dataset::dims() const {
  silence_hdf5_errors();
  Handle space(H5Dget_space(handle_.get()), H5Sclose);
  if (!space.valid()) fail("cannot get the dataspace of");
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail("cannot get the rank of");
  std::vector<hsize_t> d(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), d.data(), nullptr);
  return std::vector<int64_t>(d.begin(), d.end());
}

int64_t Dataset::length() const {
  auto d = dims();
  return d.empty() ? 1 : d[0];
}

bool Dataset::is_string() const {
  silence_hdf5_errors();
  Handle type(H5Dget_type(handle_.get()), H5Tclose);
  return type.valid() && H5Tget_class(type.get()) == H5T_STRING;
}

namespace {

bool equals_any(hid_t type, std::initializer_list<hid_t> candidates) {
  for (hid_t candidate : candidates) {
    if (H5Tequal(type, candidate) > 0) return true;
  }
  return false;
}

}  // namespace

bool Dataset::is_integer_of_size(size_t bytes) const {
  silence_hdf5_errors();
  Handle type(H5Dget_type(handle_.get()), H5Tclose);
  if (!type.valid()) return false;
  switch (bytes) {
    case 1:
      return equals_any(type.get(), {H5T_STD_I8LE, H5T_STD_I8BE});
    case 2:
      return equals_any(type.get(), {H5T_STD_I16LE, H5T_STD_I16BE});
    case 4:
      return equals_any(type.get(), {H5T_STD_I32LE, H5T_STD_I32BE});
    case 8:
      return equals_any(type.get(), {H5T_STD_I64LE, H5T_STD_I64BE});
  }
  return false;
}

bool Dataset::is_float() const {
  silence_hdf5_errors();
  Handle type(H5Dget_type(handle_.get()), H5Tclose);
  return type.valid() &&
         equals_any(type.get(), {H5T_IEEE_F32LE, H5T_IEEE_F32BE, H5T_IEEE_F64LE, H5T_IEEE_F64BE});
}

template <class T>
void Dataset::read(int64_t offset, int64_t count, T* out) const {
  silence_hdf5_errors();
  if (count == 0) return;
  Handle file_space(H5Dget_space(handle_.get()), H5Sclose);
  if (!file_space.valid()) fail("cannot get the dataspace of");
  hsize_t start = static_cast<hsize_t>(offset), n = static_cast<hsize_t>(count);
  if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr) < 0) {
    fail("bad selection in");
  }
  Handle memory_space = make_simple_space({n});
  if (H5Dread(handle_.get(), native_type<T>(), memory_space.get(), file_space.get(), H5P_DEFAULT,
              out) < 0) {
    fail("cannot read");
  }
}

template <class T>
std::vector<T> Dataset::read_all() const {
  std::vector<T> out(static_cast<size_t>(length()));
  read(0, static_cast<int64_t>(out.size()), out.data());
  return out;
}

std::vector<std::string> Dataset::read_strings() const {
  silence_hdf5_errors();
  Handle type(H5Dget_type(handle_.get()), H5Tclose);
  if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING) fail("expected strings in");
  const size_t n = static_cast<size_t>(length());
  std::vector<std::string> out(n);
  if (n == 0) return out;
  // HDF5 converts between string types only within one character set, so the memory type
  // takes the stored one's.
  const H5T_cset_t cset = H5Tget_cset(type.get());
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle memory_type = make_vlen_string_type();
    H5Tset_cset(memory_type.get(), cset);
    std::vector<char*> raw(n, nullptr);
    if (H5Dread(handle_.get(), memory_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0) {
      fail("cannot read");
    }
    for (size_t i = 0; i < n; ++i) out[i] = raw[i] ? raw[i] : "";
    Handle space(H5Dget_space(handle_.get()), H5Sclose);
    H5Dvlen_reclaim(memory_type.get(), space.get(), H5P_DEFAULT, raw.data());
    return out;
  }
  const size_t width = H5Tget_size(type.get());
  Handle memory_type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(memory_type.get(), width);
  H5Tset_strpad(memory_type.get(), H5T_STR_NULLPAD);
  H5Tset_cset(memory_type.get(), cset);
  std::vector<char> buffer(n * width);
  if (H5Dread(handle_.get(), memory_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0) {
    fail("cannot read");
  }
  for (size_t i = 0; i < n; ++i) {
    const char* s = buffer.data() + i * width;
    out[i].assign(s, strnlen(s, width));
  }
  return out;
}

template void Dataset::read<int8_t>(int64_t, int64_t, int8_t*) const;
template void Dataset::read<uint8_t>(int64_t, int64_t, uint8_t*) const;
template void Dataset::read<int32_t>(int64_t, int64_t, int32_t*) const;
template void Dataset::read<int64_t>(int64_t, int64_t, int64_t*) const;
template void Dataset::read<double>(int64_t, int64_t, double*) const;
template std::vector<int8_t> Dataset::read_all<int8_t>() const;
template std::vector<uint8_t> Dataset::read_all<uint8_t>() const;
template std::vector<int32_t> Dataset::read_all<int32_t>() const;
template std::vector<int64_t> Dataset::read_all<int64_t>() const;
template std::vector<double> Dataset::read_all<double>() const;

// ---- File ----------------------------------------------------------------------------------

void File::fail(const std::string& what) const {
  std::string detail = last_hdf5_error();
  throw UserError(path_ + ": " + what + (detail.empty() ? "" : " (" + detail + ")"));
}

File File::create(const std::string& path, const std::string& display_path) {
  silence_hdf5_errors();
  Handle fcpl = make_plist(H5P_FILE_CREATE);
  // Keeps root attributes in the order they were written, so `inspect` lists provenance in a
  // readable order.
  H5Pset_attr_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  const std::string& name = display_path.empty() ? path : display_path;
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT);
  if (id < 0) {
    std::string detail = last_hdf5_error();
    throw UserError(name + ": cannot create HDF5 file" +
                    (detail.empty() ? "" : " (" + detail + ")"));
  }
  return File(Handle(id, H5Fclose), name);
}

File File::open_read_only(const std::string& path) {
  silence_hdf5_errors();
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw UserError(path + ": cannot open for reading (missing or unreadable)");
  }
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) {
    std::string detail = last_hdf5_error();
    if (!has_hdf5_signature(path)) throw UserError(path + ": not an HDF5 file");
    throw UserError(path + ": truncated or corrupt HDF5 file" +
                    (detail.empty() ? "" : " (" + detail + ")"));
  }
  return File(Handle(id, H5Fclose), path);
}

void File::create_group(const std::string& name) {
  silence_hdf5_errors();
  Handle group(H5Gcreate2(handle_.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               H5Gclose);
  if (!group.valid()) fail("cannot create group " + name);
}

bool File::has_link(const std::string& name) const {
  silence_hdf5_errors();
  // H5Lexists requires every intermediate group to exist, so walk the path one step at a time.
  std::string prefix;
  size_t pos = name.front() == '/' ? 1 : 0;
  while (pos <= name.size()) {
    size_t slash = name.find('/', pos);
    if (slash == std::string::npos) slash = name.size();
    prefix = name.substr(0, slash);
    if (H5Lexists(handle_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    pos = slash + 1;
  }
  return true;
}

Dataset File::open_dataset(const std::string& name) const {
  silence_hdf5_errors();
  // A generous per-dataset chunk cache: random sequence reads then decompress each chunk once
  // instead of once per sequence that touches it.
  Handle access = make_plist(H5P_DATASET_ACCESS);
  H5Pset_chunk_cache(access.get(), 12421, 32u << 20, 1.0);
  hid_t id = H5Dopen2(handle_.get(), name.c_str(), access.get());
  if (id < 0) fail("cannot open dataset " + name);
  Dataset dataset(Handle(id, H5Dclose), path_, name);
  dataset.check_sizes();
  return dataset;
}

template <class T>
void File::write_dataset(const std::string& name, const T* data, int64_t count,
                         const DatasetLayout& layout) {
  silence_hdf5_errors();
  std::vector<hsize_t> dims = {static_cast<hsize_t>(count)};
  Handle space = make_simple_space(dims);
  Handle plist = creation_plist(layout, dims);
  Handle dataset(H5Dcreate2(handle_.get(), name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                            plist.get(), H5P_DEFAULT),
                 H5Dclose);
  if (!dataset.valid()) fail("cannot create dataset " + name);
  if (count > 0 && layout.chunk_elements > 0 && layout.deflate_level > 0) {
    write_chunks_in_parallel(dataset.get(), name, reinterpret_cast<const uint8_t*>(data), sizeof(T),
                             count, layout);
  } else if (count > 0 &&
             H5Dwrite(dataset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    fail("cannot write dataset " + name + " (disk full?)");
  }
  if (!dataset.reset()) fail("cannot close dataset " + name);
}

void File::write_chunks_in_parallel(hid_t dataset, const std::string& name, const uint8_t* data,
                                    size_t element_size, int64_t count,
                                    const DatasetLayout& layout) {
  // The serial HDF5 library runs its filters on one thread; deflate dominates writing a large
  // corpus. So the chunks are filtered here exactly as the dataset's pipeline declares
  // (shuffle, then zlib deflate at the same level), in parallel, and stored as they are with
  // H5Dwrite_chunk. Readers see an ordinary shuffle+deflate dataset.
  const int64_t chunk = std::min<int64_t>(count, layout.chunk_elements);
  const int64_t chunks = (count + chunk - 1) / chunk;
  const size_t chunk_bytes = static_cast<size_t>(chunk) * element_size;
  const bool shuffle = layout.shuffle && element_size > 1;  // HDF5 skips 1-byte shuffles too
  const int64_t group = 64;  // chunks compressed per round: bounds the memory held at once
  std::vector<std::vector<uint8_t>> compressed(group);
  for (int64_t first = 0; first < chunks; first += group) {
    const int64_t in_round = std::min(group, chunks - first);
    bool compression_failed = false;
#pragma omp parallel for schedule(dynamic, 1) reduction(|| : compression_failed)
    for (int64_t k = 0; k < in_round; ++k) {
      const int64_t begin = (first + k) * chunk;
      const size_t bytes = static_cast<size_t>(std::min(chunk, count - begin)) * element_size;
      const uint8_t* source = data + static_cast<size_t>(begin) * element_size;
      // Edge chunks are stored full size; the part past the end holds the fill value 0.
      std::vector<uint8_t> plain(chunk_bytes, 0);
      if (shuffle) {
        // Byte j of element i goes to plane j: out[j * chunk + i] = in[i * size + j].
        const size_t elements = bytes / element_size;
        for (size_t i = 0; i < elements; ++i) {
          for (size_t j = 0; j < element_size; ++j) {
            plain[j * static_cast<size_t>(chunk) + i] = source[i * element_size + j];
          }
        }
      } else {
        std::memcpy(plain.data(), source, bytes);
      }
      uLongf out_size = compressBound(static_cast<uLong>(chunk_bytes));
      compressed[k].resize(out_size);
      if (compress2(compressed[k].data(), &out_size, plain.data(), static_cast<uLong>(chunk_bytes),
                    layout.deflate_level) != Z_OK) {
        compression_failed = true;
      }
      compressed[k].resize(out_size);
    }
    if (compression_failed) fail("cannot compress dataset " + name + " (out of memory?)");
    for (int64_t k = 0; k < in_round; ++k) {
      const hsize_t offset = static_cast<hsize_t>((first + k) * chunk);
      if (H5Dwrite_chunk(dataset, H5P_DEFAULT, 0, &offset, compressed[k].size(),
                         compressed[k].data()) < 0) {
        fail("cannot write dataset " + name + " (disk full?)");
      }
    }
  }
}

template void File::write_dataset<int8_t>(const std::string&, const int8_t*, int64_t,
                                          const DatasetLayout&);
template void File::write_dataset<uint8_t>(const std::string&, const uint8_t*, int64_t,
                                           const DatasetLayout&);
template void File::write_dataset<int32_t>(const std::string&, const int32_t*, int64_t,
                                           const DatasetLayout&);
template void File::write_dataset<int64_t>(const std::string&, const int64_t*, int64_t,
                                           const DatasetLayout&);
template void File::write_dataset<double>(const std::string&, const double*, int64_t,
                                          const DatasetLayout&);

void File::write_strings(const std::string& name, const std::vector<std::string>& values,
                         const DatasetLayout& layout) {
  silence_hdf5_errors();
  // One byte more than the longest entry, so every entry is NUL-terminated (h5dump then
  // prints plain strings, h5py reads bytes of the stored width).
  size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size() + 1);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), width);
  H5Tset_strpad(type.get(), H5T_STR_NULLTERM);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);

  const hsize_t n = values.size();
  Handle space = make_simple_space({n});
  Handle plist = creation_plist(layout, {n});
  Handle dataset(H5Dcreate2(handle_.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                            plist.get(), H5P_DEFAULT),
                 H5Dclose);
  if (!dataset.valid()) fail("cannot create dataset " + name);
  // Written in slabs so a long id in a large vocabulary does not need one giant padded buffer.
  const hsize_t slab = 65536;
  std::vector<char> buffer;
  for (hsize_t first = 0; first < n; first += slab) {
    hsize_t count = std::min(slab, n - first);
    buffer.assign(count * width, '\0');
    for (hsize_t i = 0; i < count; ++i) {
      const std::string& v = values[first + i];
      std::memcpy(buffer.data() + i * width, v.data(), v.size());
    }
    Handle file_space(H5Dget_space(dataset.get()), H5Sclose);
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &first, nullptr, &count, nullptr);
    Handle memory_space = make_simple_space({count});
    if (H5Dwrite(dataset.get(), type.get(), memory_space.get(), file_space.get(), H5P_DEFAULT,
                 buffer.data()) < 0) {
      fail("cannot write dataset " + name + " (disk full?)");
    }
  }
  if (!dataset.reset()) fail("cannot close dataset " + name);
}

void File::set_attribute(const std::string& name, const std::string& value) {
  silence_hdf5_errors();
  Handle type = make_vlen_string_type();
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attribute(
      H5Acreate2(handle_.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose);
  if (!attribute.valid()) fail("cannot create attribute " + name);
  const std::string valid = with_invalid_utf8_replaced(value);
  const char* text = valid.c_str();
  if (H5Awrite(attribute.get(), type.get(), &text) < 0) fail("cannot write attribute " + name);
}

void File::set_attribute(const std::string& name, int64_t value) {
  silence_hdf5_errors();
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attribute(
      H5Acreate2(handle_.get(), name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose);
  if (!attribute.valid()) fail("cannot create attribute " + name);
  if (H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value) < 0) {
    fail("cannot write attribute " + name);
  }
}

void File::set_attribute(const std::string& name, double value) {
  silence_hdf5_errors();
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attribute(H5Acreate2(handle_.get(), name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                              H5P_DEFAULT),
                   H5Aclose);
  if (!attribute.valid()) fail("cannot create attribute " + name);
  if (H5Awrite(attribute.get(), H5T_NATIVE_DOUBLE, &value) < 0) {
    fail("cannot write attribute " + name);
  }
}

bool File::has_attribute(const std::string& name) const {
  silence_hdf5_errors();
  return H5Aexists(handle_.get(), name.c_str()) > 0;
}

namespace {

Handle open_attribute(hid_t file, const std::string& path, const std::string& name) {
  hid_t id = H5Aopen(file, name.c_str(), H5P_DEFAULT);
  if (id < 0) throw UserError(path + ": not a Cartformer corpus (missing attribute " + name + ")");
  return Handle(id, H5Aclose);
}

std::string read_string_attribute(hid_t attribute, const std::string& path,
                                  const std::string& name) {
  Handle type(H5Aget_type(attribute), H5Tclose);
  if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING) {
    throw UserError(path + ": attribute " + name + " is not a string");
  }
  const H5T_cset_t cset = H5Tget_cset(type.get());
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle memory_type = make_vlen_string_type();
    H5Tset_cset(memory_type.get(), cset);
    char* text = nullptr;
    if (H5Aread(attribute, memory_type.get(), &text) < 0) {
      throw UserError(path + ": truncated or corrupt HDF5 file (cannot read attribute " + name +
                      ")");
    }
    std::string out = text ? text : "";
    H5free_memory(text);
    return out;
  }
  size_t width = H5Tget_size(type.get());
  std::vector<char> buffer(width + 1, '\0');
  Handle memory_type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(memory_type.get(), width);
  H5Tset_strpad(memory_type.get(), H5T_STR_NULLPAD);
  H5Tset_cset(memory_type.get(), cset);
  if (H5Aread(attribute, memory_type.get(), buffer.data()) < 0) {
    throw UserError(path + ": truncated or corrupt HDF5 file (cannot read attribute " + name + ")");
  }
  return std::string(buffer.data(), strnlen(buffer.data(), width));
}

struct AttributeWalk {
  const File* file;
  std::vector<std::pair<std::string, std::string>> out;
};

herr_t render_attribute(hid_t location, const char* name, const H5A_info_t*, void* data) try {
  auto* walk = static_cast<AttributeWalk*>(data);
  Handle attribute(H5Aopen(location, name, H5P_DEFAULT), H5Aclose);
  if (!attribute.valid()) return -1;
  Handle type(H5Aget_type(attribute.get()), H5Tclose);
  std::string text;
  switch (H5Tget_class(type.get())) {
    case H5T_STRING:
      text = read_string_attribute(attribute.get(), walk->file->path(), name);
      break;
    case H5T_INTEGER:
      text = std::to_string(walk->file->int_attribute(name));
      break;
    case H5T_FLOAT: {
      char buffer[64];
      std::snprintf(buffer, sizeof(buffer), "%.17g", walk->file->double_attribute(name));
      text = buffer;
      break;
    }
    default:
      text = "(unsupported type)";
  }
  walk->out.emplace_back(name, std::move(text));
  return 0;
} catch (...) {
  // Exceptions must not unwind through HDF5's C frames; the caller reports the failure.
  return -1;
}

}  // namespace

std::string File::string_attribute(const std::string& name) const {
  silence_hdf5_errors();
  Handle attribute = open_attribute(handle_.get(), path_, name);
  return read_string_attribute(attribute.get(), path_, name);
}

int64_t File::int_attribute(const std::string& name) const {
  silence_hdf5_errors();
  Handle attribute = open_attribute(handle_.get(), path_, name);
  Handle type(H5Aget_type(attribute.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER) {
    throw UserError(path_ + ": attribute " + name + " is not an integer");
  }
  int64_t value = 0;
  if (H5Aread(attribute.get(), H5T_NATIVE_INT64, &value) < 0) {
    fail("truncated or corrupt HDF5 file: cannot read attribute " + name);
  }
  return value;
}

double File::double_attribute(const std::string& name) const {
  silence_hdf5_errors();
  Handle attribute = open_attribute(handle_.get(), path_, name);
  Handle type(H5Aget_type(attribute.get()), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
    throw UserError(path_ + ": attribute " + name + " is not a number");
  }
  double value = 0;
  if (H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value) < 0) {
    fail("truncated or corrupt HDF5 file: cannot read attribute " + name);
  }
  return value;
}

std::vector<std::pair<std::string, std::string>> File::attributes_as_text() const {
  silence_hdf5_errors();
  AttributeWalk walk{this, {}};
  hsize_t index = 0;
  // Files written elsewhere may not track creation order; fall back to name order then.
  if (H5Aiterate2(handle_.get(), H5_INDEX_CRT_ORDER, H5_ITER_INC, &index, render_attribute, &walk) <
      0) {
    walk.out.clear();
    index = 0;
    if (H5Aiterate2(handle_.get(), H5_INDEX_NAME, H5_ITER_INC, &index, render_attribute, &walk) <
        0) {
      fail("truncated or corrupt HDF5 file: cannot list attributes");
    }
  }
  return walk.out;
}

void File::close() {
  silence_hdf5_errors();
  if (!handle_.valid()) return;
  if (H5Fflush(handle_.get(), H5F_SCOPE_GLOBAL) < 0) fail("cannot flush (disk full?)");
  if (!handle_.reset()) fail("cannot close (disk full?)");
}

}  // namespace cf::data::h5
