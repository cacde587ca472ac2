// CudaDeviceInfo: what the CUDA runtime reports about the GPUs of this machine, without failing
// when there is no driver or no device (the answer then says why).
#pragma once
#include <cstddef>
#include <string>

namespace cf::cuda {

struct CudaDeviceInfo {
  int count = 0;            // devices visible to this process
  std::string unavailable;  // why none can be used ("" when count > 0)
  // Of the device asked for:
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t memory_bytes = 0;
  int multiprocessors = 0;
};

CudaDeviceInfo query_cuda_device(int index);
// Makes `index` the current device of the calling thread.
void use_cuda_device(int index);

}  // namespace cf::cuda
