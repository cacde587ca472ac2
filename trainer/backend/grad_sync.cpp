#include "trainer/backend/grad_sync.h"

#include <algorithm>

#include "core/error.h"

namespace cf::trainer {

void add_gradients(float* dst, const float* src, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) dst[i] = dst[i] + src[i];
}

GradientSync::GradientSync(comm::Communicator& comm, int64_t num_params, int64_t bucket_elements)
    : comm_(comm),
      num_params_(num_params),
      bucket_elements_(std::max<int64_t>(1, bucket_elements)) {}

void GradientSync::arm(float* grads, const float* earlier) {
  grads_ = grads;
  earlier_ = earlier;
  armed_ = true;
  unsent_end_ = num_params_;
  buckets_sent_ = 0;
}

void GradientSync::send_ready_buckets(int64_t first_final) {
  while (unsent_end_ > 0) {
    int64_t begin = std::max<int64_t>(0, unsent_end_ - bucket_elements_);
    if (begin < first_final) break;
    if (earlier_) add_gradients(grads_ + begin, earlier_ + begin, unsent_end_ - begin);
    comm_.start_all_reduce_sum(grads_ + begin, unsent_end_ - begin);
    buckets_sent_ += 1;
    unsent_end_ = begin;
  }
}

void GradientSync::grads_ready(int64_t first_final) {
  if (!armed_) return;
  send_ready_buckets(first_final);
  comm_.progress();  // MPI moves non-blocking collectives only inside MPI calls
}

void GradientSync::finish() {
  CF_CHECK(armed_, "GradientSync::finish without arm");
  send_ready_buckets(0);
  armed_ = false;
  comm_.wait_all();
}

}  // namespace cf::trainer
