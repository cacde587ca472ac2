// Shared by the GPU tests (tests/cuda/): an owning device array with host transfers, a stream,
// and the check that skips a test when no GPU is visible.
//
// Nothing here touches CUDA until a test body (or SetUp) calls it: gtest_discover_tests starts
// the test binary at build time, also on machines without a driver, just to list the tests, so
// there must be no CUDA calls in static initialisers or in test registration.
//
// Every CUDA call is checked; a failure throws std::runtime_error naming the call and the
// runtime's description of the error, which gtest reports as a failure of the running test.
#pragma once
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/device_info.h"

namespace cf::cuda_test {

// Why the GPU tests cannot run here, or "" when a device is visible. `who` names the tests in
// the message ("NcclComm tests" -> "...; NcclComm tests need a GPU").
inline std::string no_gpu_reason(const std::string& who = "these tests") {
  const cuda::CudaDeviceInfo info = cuda::query_cuda_device(0);
  return info.count > 0 ? "" : info.unavailable + "; " + who + " need a GPU";
}

// In a test body or SetUp: skips the test (with the reason) when no GPU is visible.
#define CF_SKIP_WITHOUT_GPU(who)                                        \
  do {                                                                  \
    const std::string cf_no_gpu_ = ::cf::cuda_test::no_gpu_reason(who); \
    if (!cf_no_gpu_.empty()) GTEST_SKIP() << cf_no_gpu_;                \
  } while (0)

// Throws when a CUDA runtime call failed.
inline void check_cuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();
  throw std::runtime_error(std::string(what) + " failed: " + cudaGetErrorName(err) + " (" +
                           cudaGetErrorString(err) + ")");
}

// A stream of its own for one test (non-blocking: it does not synchronise with the legacy
// default stream, so an op that launches on stream 0 instead of the given one races with the
// test's downloads and shows up).
class CudaStream {
 public:
  CudaStream() {
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~CudaStream() {
    if (stream_) cudaStreamDestroy(stream_);
  }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;

  cudaStream_t get() const { return stream_; }
  void synchronize() const { check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

 private:
  cudaStream_t stream_ = nullptr;
};

// A device array of n elements of T (cudaMalloc), filled from and read back to host vectors.
// Every transfer is ordered on `stream` (default: the legacy default stream) and waits for it,
// so the host sees finished data and later work on that stream sees the upload.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    void* p = nullptr;
    check_cuda(cudaMalloc(&p, sizeof(T) * std::max<size_t>(n, 1)), "cudaMalloc");
    data_ = static_cast<T*>(p);
  }
  explicit DeviceBuffer(const std::vector<T>& host, cudaStream_t stream = nullptr)
      : DeviceBuffer(host.size()) {
    upload(host, stream);
  }
  ~DeviceBuffer() {
    if (data_) cudaFree(data_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : n_(std::exchange(other.n_, 0)), data_(std::exchange(other.data_, nullptr)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    std::swap(n_, other.n_);
    std::swap(data_, other.data_);
    return *this;
  }

  T* get() { return data_; }
  const T* get() const { return data_; }
  size_t size() const { return n_; }

  void upload(const std::vector<T>& host, cudaStream_t stream = nullptr) {
    if (host.size() != n_)
      throw std::logic_error("DeviceBuffer::upload: " + std::to_string(host.size()) +
                             " host elements for a buffer of " + std::to_string(n_));
    check_cuda(cudaMemcpyAsync(data_, host.data(), sizeof(T) * n_, cudaMemcpyHostToDevice, stream),
               "cudaMemcpyAsync (to device)");
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize (after upload)");
  }
  std::vector<T> download(cudaStream_t stream = nullptr) const {
    std::vector<T> host(n_);
    check_cuda(cudaMemcpyAsync(host.data(), data_, sizeof(T) * n_, cudaMemcpyDeviceToHost, stream),
               "cudaMemcpyAsync (to host)");
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize (after download)");
    return host;
  }
  // Fills every byte with 0xFF: NaN in float, double and bf16, -1 in signed integers. An output
  // element the op fails to write then fails any comparison.
  void poison(cudaStream_t stream = nullptr) {
    check_cuda(cudaMemsetAsync(data_, 0xFF, sizeof(T) * n_, stream), "cudaMemsetAsync (poison)");
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize (after poison)");
  }

 private:
  size_t n_ = 0;
  T* data_ = nullptr;
};

}  // namespace cf::cuda_test
