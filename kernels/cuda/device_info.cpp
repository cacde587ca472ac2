// CudaDeviceInfo from cudaGetDeviceCount / cudaGetDeviceProperties.
#include "kernels/cuda/device_info.h"

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"

namespace cf::cuda {

CudaDeviceInfo query_cuda_device(int index) {
  CudaDeviceInfo info;
  const cudaError_t err = cudaGetDeviceCount(&info.count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    info.count = 0;
    info.unavailable = std::string("the CUDA runtime finds no usable GPU (") +
                       cudaGetErrorName(err) + ": " + cudaGetErrorString(err) + ")";
    return info;
  }
  if (info.count == 0) {
    info.unavailable = "the CUDA runtime sees no GPU";
    return info;
  }
  if (index < 0 || index >= info.count) {
    info.unavailable = "GPU " + std::to_string(index) + " does not exist (" +
                       std::to_string(info.count) + " visible)";
    return info;
  }
  cudaDeviceProp prop{};
  CF_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  info.name = prop.name;
  info.major = prop.major;
  info.minor = prop.minor;
  info.memory_bytes = prop.totalGlobalMem;
  info.multiprocessors = prop.multiProcessorCount;
  return info;
}

void use_cuda_device(int index) { CF_CUDA_CHECK(cudaSetDevice(index)); }

}  // namespace cf::cuda
