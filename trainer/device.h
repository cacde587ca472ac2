// Device choice: which backend (CPU or CUDA) a run uses, from run.device (auto|cpu|cuda) and
// what this build and machine offer, with a one-line explanation for the log.
#pragma once
#include <string>

namespace cf::trainer {

struct DeviceChoice {
  bool cuda = false;
  int gpu = -1;             // the GPU this process uses (cuda only)
  std::string description;  // e.g. "device: cuda (GPU 0: NVIDIA H200, sm_90, 141 GiB)"
};

// `requested`: auto | cpu | cuda. `local_rank`: this process's index among the ranks of its
// host (Communicator::local_rank); it takes GPU local_rank mod the GPUs visible and makes it
// the current device. `cuda` without a usable GPU, or in a
// build without the CUDA backend, is a UserError naming `config_path` and the reason.
DeviceChoice choose_device(const std::string& requested, const std::string& config_path,
                           int local_rank);

}  // namespace cf::trainer
