// CudaBackend: training on an NVIDIA GPU — CudaModel (a device copy of the host model), AdamW
// on the device, gradient buckets summed across ranks by NCCL during backward. Built only with
// the CUDA backend (CARTFORMER_HAVE_CUDA).
#pragma once
#include <memory>

#include "trainer/backend/training_backend.h"

namespace cf::trainer {

std::unique_ptr<TrainingBackend> make_cuda_backend(const DeviceChoice& device,
                                                   const BackendOptions& options, Model& model,
                                                   AdamW& optimizer, comm::Communicator& comm);

}  // namespace cf::trainer
