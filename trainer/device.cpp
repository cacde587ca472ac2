// Device choice for a run (see device.h).
#include "trainer/device.h"

#include "core/error.h"
#if CARTFORMER_HAVE_CUDA
#include "kernels/cuda/device_info.h"
#endif

namespace cf::trainer {

DeviceChoice choose_device(const std::string& requested, const std::string& config_path,
                           int local_rank) {
  DeviceChoice choice;
  if (requested == "cpu") {
    choice.description = "device: cpu";
    return choice;
  }
#if CARTFORMER_HAVE_CUDA
  cuda::CudaDeviceInfo probe = cuda::query_cuda_device(0);
  if (probe.count > 0) {
    const int gpu = local_rank % probe.count;
    const cuda::CudaDeviceInfo info = gpu == 0 ? probe : cuda::query_cuda_device(gpu);
    cuda::use_cuda_device(gpu);
    choice.cuda = true;
    choice.gpu = gpu;
    choice.description = "device: cuda (" + std::string(requested == "auto" ? "auto: " : "") +
                         "GPU " + std::to_string(gpu) + " of " + std::to_string(info.count) + ": " +
                         info.name + ", sm_" + std::to_string(info.major) +
                         std::to_string(info.minor) + ", " +
                         std::to_string(info.memory_bytes >> 30) + " GiB)";
    return choice;
  }
  const std::string why = probe.unavailable;
#else
  const std::string why =
      "this build has no CUDA backend (configure with nvcc present, or "
      "-DCARTFORMER_CUDA=ON)";
#endif
  if (requested == "cuda")
    throw UserError(config_path + ": run.device is 'cuda' but " + why +
                    "; use run.device: auto or cpu");
  choice.description = "device: cpu (auto: " + why + ")";
  return choice;
}

}  // namespace cf::trainer
