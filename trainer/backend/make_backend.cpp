// The choice between the training backends: the one place that knows which this build has.
#include <algorithm>

#include "core/error.h"
#include "trainer/backend/cpu_backend.h"
#include "trainer/backend/training_backend.h"
#if CARTFORMER_HAVE_CUDA
#include "trainer/backend/cuda_backend.h"
#endif

namespace cf::trainer {

BackendOptions backend_options(const Config& config, int micro_batches, int world_size) {
  BackendOptions options;
  options.micro_batches = micro_batches;
  options.zero1 = config.comm.zero1 && world_size > 1;
  options.bucket_elements = std::max<int64_t>(1, int64_t(config.comm.bucket_mb * (1 << 20) / 4));
  options.comm_timeout_s = config.comm.timeout_s;
  options.precision = config.run.precision;
  options.cuda = config.cuda;
  options.privacy = config.privacy.enabled;
  options.config_path = config.source_path;
  return options;
}

LossSums TrainingBackend::forward_backward_private(
    const std::vector<data::Batch>&, const std::function<LossOptions(const data::Batch&)>&,
    uint64_t, double) {
  CF_CHECK(false, "this backend has no DP-SGD step (check_backend_options refuses it)");
  return {};
}
double TrainingBackend::update_private(float, double, double, uint64_t, int64_t) {
  CF_CHECK(false, "this backend has no DP-SGD step (check_backend_options refuses it)");
  return 0;
}

void check_backend_options(const BackendOptions& options, bool cuda) {
  if (options.privacy && options.zero1) {
    throw UserError(options.config_path +
                    ": privacy.enabled does not shard the optimizer state yet; set comm.zero1: "
                    "false");
  }
  if (!cuda) return;
  // Asking for bf16 through the CPU's key while cuda.precision says fp32 is a contradiction,
  // not a choice to ignore.
  if (options.precision == "bf16" && options.cuda.precision != "bf16") {
    throw UserError(options.config_path + ": run.precision: bf16 applies to the CPU backend; " +
                    "on the GPU set cuda.precision: bf16 (now " + options.cuda.precision + ")");
  }
}

std::unique_ptr<TrainingBackend> make_training_backend(const DeviceChoice& device,
                                                       const BackendOptions& options, Model& model,
                                                       AdamW& optimizer, comm::Communicator& comm) {
  check_backend_options(options, device.cuda);
  if (!device.cuda) return make_cpu_backend(options, model, optimizer, comm);
#if CARTFORMER_HAVE_CUDA
  return make_cuda_backend(device, options, model, optimizer, comm);
#else
  // choose_device never picks CUDA in a build without it.
  CF_CHECK(false, "CUDA device chosen in a build without the CUDA backend");
  return nullptr;
#endif
}

}  // namespace cf::trainer
