// GradientSync: sums the gradient buffer across ranks in buckets that start as soon as
// backward has finished them (the last micro-batch of a step), so communication overlaps the
// rest of backward, as in PyTorch DDP.
#pragma once
#include <cstdint>

#include "trainer/comm/communicator.h"

namespace cf::trainer {

// dst[i] = dst[i] + src[i]. Gradient accumulation adds each micro-batch's gradients, computed
// from zero, to the sum of the earlier ones in this one order, so that one rank accumulating
// two micro-batches gets the very bits two ranks get from summing theirs (a + b == b + a).
void add_gradients(float* dst, const float* src, int64_t n);

class GradientSync {
 public:
  // The buffer is cut into fixed buckets of `bucket_elements` from the end (where backward
  // starts). Every rank sends the same buckets in the same order, whatever its batch, as the
  // collectives require; a bucket goes as soon as all of it is final.
  GradientSync(comm::Communicator& comm, int64_t num_params, int64_t bucket_elements);

  // Call before the step's last micro-batch: its backward will report finished ranges.
  // `grads` is the buffer that backward fills; `earlier` (or nullptr) the sum of the step's
  // earlier micro-batches, added to each bucket just before it is sent (see add_gradients).
  void arm(float* grads, const float* earlier);
  // Model::set_grads_ready_hook target: every gradient at offset >= first_final is final.
  void grads_ready(int64_t first_final);
  // Sends what is left and waits for every bucket: afterwards grads hold the sum over ranks.
  void finish();
  int64_t buckets_sent() const { return buckets_sent_; }

 private:
  void send_ready_buckets(int64_t first_final);

  comm::Communicator& comm_;
  float* grads_ = nullptr;
  const float* earlier_ = nullptr;
  int64_t num_params_, bucket_elements_;
  bool armed_ = false;
  int64_t unsent_end_ = 0;  // buckets in [unsent_end_, num_params_) are already on their way
  int64_t buckets_sent_ = 0;
};

}  // namespace cf::trainer
