// The CPU backend's DP-SGD step as a reference for tests: the sum of a batch's users' clipped
// gradients, left in model.grads() (no noise, divisor 1, learning rate 0).
#pragma once
#include <cstdint>
#include <functional>

#include "data/batch.h"
#include "trainer/backend/training_backend.h"
#include "trainer/comm/communicator.h"
#include "trainer/model/model.h"
#include "trainer/optimizer.h"

namespace cf::trainer::testing {

inline void cpu_clipped_sum(Model& model, const data::Batch& batch,
                            const std::function<LossOptions(const data::Batch&)>& loss_for,
                            double clip_norm, uint64_t dropout_seed) {
  AdamW optimizer(model.tensors(), int64_t(model.params().size()), {});
  comm::LocalComm local;
  BackendOptions options;
  options.privacy = true;
  auto backend = make_training_backend(DeviceChoice{}, options, model, optimizer, local);
  backend->forward_backward_private({batch}, loss_for, dropout_seed, clip_norm);
  backend->update_private(0.0f, 0.0, 1.0, 1, 0);
}

}  // namespace cf::trainer::testing
