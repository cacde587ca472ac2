// DeviceArray<T>: an owning, resizable device allocation (cudaMalloc), with host transfers.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace cf::cuda {

template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(int64_t n) { resize(n); }
  ~DeviceArray() { release(); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& other) noexcept { *this = std::move(other); }
  DeviceArray& operator=(DeviceArray&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
  }

  // Contents are lost when the size changes.
  void resize(int64_t n) {
    if (n == size_) return;
    release();
    if (n > 0) CF_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), sizeof(T) * n));
    size_ = n;
  }
  // Grows (never shrinks) to at least n elements.
  void reserve(int64_t n) {
    if (n > size_) resize(n);
  }

  T* get() { return data_; }
  const T* get() const { return data_; }
  int64_t size() const { return size_; }

  void upload(const T* host, int64_t n, cudaStream_t stream, int64_t offset = 0) {
    if (n > 0)
      CF_CUDA_CHECK(
          cudaMemcpyAsync(data_ + offset, host, sizeof(T) * n, cudaMemcpyHostToDevice, stream));
  }
  void upload(const std::vector<T>& host, cudaStream_t stream) {
    reserve(int64_t(host.size()));
    upload(host.data(), int64_t(host.size()), stream);
  }
  // Copies n elements from `offset` to the host and waits for them.
  void download(T* host, int64_t n, cudaStream_t stream, int64_t offset = 0) const {
    if (n <= 0) return;
    CF_CUDA_CHECK(
        cudaMemcpyAsync(host, data_ + offset, sizeof(T) * n, cudaMemcpyDeviceToHost, stream));
    CF_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  void zero(cudaStream_t stream, int64_t n = -1, int64_t offset = 0) {
    const int64_t count = n < 0 ? size_ - offset : n;
    if (count > 0) CF_CUDA_CHECK(cudaMemsetAsync(data_ + offset, 0, sizeof(T) * count, stream));
  }

 private:
  void release() {
    if (data_) cudaFree(data_);
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  int64_t size_ = 0;
};

}  // namespace cf::cuda
