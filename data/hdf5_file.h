// Hdf5File, Hdf5Dataset: RAII wrappers over the HDF5 C API for the corpus writer and reader.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cf::data::h5 {

// Owns one HDF5 identifier and closes it with the matching H5?close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) {
    other.id_ = H5I_INVALID_HID;
  }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; returns false if HDF5 reported an error (e.g. a failed flush on a file).
  bool reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// The innermost message of HDF5's current error stack ("truncated file: eof = ...") or "", as
// hdf5_error_line gives it.
std::string last_hdf5_error();
// One line from an HDF5 error description: the quoted system message when it has one ("No
// space left on device"), else the text with each run of blanks and line breaks as one space.
std::string hdf5_error_line(std::string_view description);

// Whether `path` starts with the HDF5 signature (superblock at offset 0, as this writer puts it).
bool has_hdf5_signature(const std::string& path);

// Storage settings for a new dataset. Chunked datasets get the shuffle filter (byte planes
// compress far better for small integers) followed by deflate.
struct DatasetLayout {
  int64_t chunk_elements = 64 * 1024;  // along the first dimension; 0 = contiguous, no filters
  // Level 1: a 20M-event corpus writes in 3.7 s instead of 6.0 s at level 4, 6% larger.
  int deflate_level = 1;
  bool shuffle = true;
};

// Element types the corpus stores; native_type<T>() is the matching HDF5 memory type.
template <class T>
hid_t native_type();

class File;

// An open dataset (1-D, or 2-D for string tables) of a file.
class Dataset {
 public:
  Dataset(Handle handle, std::string file_path, std::string name);
  const std::string& name() const { return name_; }
  std::vector<int64_t> dims() const;
  int64_t length() const;  // extent of the first dimension
  bool is_string() const;
  // Stored type checks: integer datasets must be stored as standard two's-complement signed
  // integers of exactly `bytes` bytes, float datasets as IEEE binary32 or binary64 (either byte
  // order). Other layouts of those classes (a 64-bit integer of 7-bit precision, an 18-byte
  // float) send libhdf5's type conversion past the end of its buffers, so they are refused.
  bool is_integer_of_size(size_t bytes) const;
  bool is_float() const;

  // Reads elements [offset, offset + count) of a 1-D dataset (one hyperslab read).
  template <class T>
  void read(int64_t offset, int64_t count, T* out) const;
  template <class T>
  std::vector<T> read_all() const;
  // Reads a 1-D string dataset (fixed-length NUL-padded or variable-length).
  std::vector<std::string> read_strings() const;

  hid_t id() const { return handle_.get(); }

  // Refuses (UserError naming the file and dataset) a layout no Cartformer writer produces and
  // that would make a read allocate far beyond what the file holds: chunks larger than the
  // dataset, or more bytes than its stored data could inflate to. File::open_dataset calls it.
  void check_sizes() const;

 private:
  [[noreturn]] void fail(const std::string& what) const;
  Handle handle_;
  std::string file_path_, name_;
};

// One HDF5 file. Failures become cf::UserError naming the file; HDF5's own error printing is
// silenced on every thread that uses it.
class File {
 public:
  // Truncates an existing file. Errors name `display_path` when given (the final name of a file
  // written under a temporary one).
  static File create(const std::string& path, const std::string& display_path = "");
  // Opening fails with "<path>: cannot open for reading ...", "<path>: not an HDF5 file" or
  // "<path>: truncated or corrupt HDF5 file (...)".
  static File open_read_only(const std::string& path);

  const std::string& path() const { return path_; }
  hid_t id() const { return handle_.get(); }

  void create_group(const std::string& name);
  bool has_link(const std::string& name) const;  // "/events/item": every component must exist
  Dataset open_dataset(const std::string& name) const;

  // 1-D numeric dataset of `count` elements.
  template <class T>
  void write_dataset(const std::string& name, const T* data, int64_t count,
                     const DatasetLayout& layout);
  // 1-D fixed-length string dataset (NUL-terminated, width = longest entry + 1), read back by
  // h5py as bytes and by h5dump as strings.
  void write_strings(const std::string& name, const std::vector<std::string>& values,
                     const DatasetLayout& layout);

  // Root attributes: strings are variable-length UTF-8 (no size limit; bytes that are not UTF-8
  // are stored as U+FFFD, so that every reader can decode them), numbers scalars.
  void set_attribute(const std::string& name, const std::string& value);
  void set_attribute(const std::string& name, const char* value) {
    set_attribute(name, std::string(value));
  }
  void set_attribute(const std::string& name, int64_t value);
  void set_attribute(const std::string& name, double value);
  bool has_attribute(const std::string& name) const;
  std::string string_attribute(const std::string& name) const;
  int64_t int_attribute(const std::string& name) const;
  double double_attribute(const std::string& name) const;
  // Root attribute names in creation order, with each value rendered as text.
  std::vector<std::pair<std::string, std::string>> attributes_as_text() const;

  // Flushes and closes, reporting failures (a destructor would have to swallow them).
  void close();

 private:
  File(Handle handle, std::string path) : handle_(std::move(handle)), path_(std::move(path)) {}
  [[noreturn]] void fail(const std::string& what) const;
  void write_chunks_in_parallel(hid_t dataset, const std::string& name, const uint8_t* data,
                                size_t element_size, int64_t count, const DatasetLayout& layout);
  Handle handle_;
  std::string path_;
};

}  // namespace cf::data::h5
