// CF_CUDA_CHECK / CF_CUBLAS_CHECK: turn a failed CUDA, cuBLAS or cuDNN call into an exception
// naming the call, the file and line, and the library's own description of the error.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace cf::cuda {

// A CUDA-side failure (launch error, out of device memory, library status). It is not a
// UserError: the inputs were valid, the device or library refused.
class CudaError : public std::runtime_error {
 public:
  explicit CudaError(const std::string& message) : std::runtime_error(message) {}
};

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file,
                                     int line);

}  // namespace cf::cuda

#define CF_CUDA_CHECK(call)                                                  \
  do {                                                                       \
    const cudaError_t cf_cuda_err_ = (call);                                 \
    if (cf_cuda_err_ != cudaSuccess)                                         \
      ::cf::cuda::throw_cuda_error(cf_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define CF_CUBLAS_CHECK(call)                                                       \
  do {                                                                              \
    const cublasStatus_t cf_cublas_status_ = (call);                                \
    if (cf_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                 \
      ::cf::cuda::throw_cublas_error(cf_cublas_status_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, not at the next sync.
#define CF_CUDA_CHECK_LAUNCH() CF_CUDA_CHECK(cudaGetLastError())
