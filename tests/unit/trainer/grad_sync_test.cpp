// GradientSync on one rank (LocalComm): buckets and the accumulation order. The multi-rank
// sums run under mpirun in tests/mpi/.
#include "trainer/backend/grad_sync.h"

#include <gtest/gtest.h>

#include <vector>

#include "trainer/comm/communicator.h"

namespace cf::trainer {
namespace {

TEST(GradientSync, AddsEarlierMicroBatchesToEveryBucketExactlyOnce) {
  comm::LocalComm comm;
  const int64_t n = 10;
  GradientSync sync(comm, n, /*bucket_elements=*/3);
  std::vector<float> grads(n), earlier(n);
  for (int i = 0; i < n; ++i) grads[i] = float(i), earlier[i] = 0.5f * float(i);
  sync.arm(grads.data(), earlier.data());
  sync.grads_ready(8);  // [8,10) final: less than a bucket of 3 -> nothing sent yet
  EXPECT_EQ(sync.buckets_sent(), 0);
  sync.grads_ready(4);  // [4,10): bucket [7,10) goes; [4,7) too
  EXPECT_EQ(sync.buckets_sent(), 2);
  sync.grads_ready(4);  // repeated notice: nothing new
  EXPECT_EQ(sync.buckets_sent(), 2);
  sync.finish();  // [1,4) and [0,1)
  EXPECT_EQ(sync.buckets_sent(), 4);
  for (int i = 0; i < n; ++i) EXPECT_EQ(grads[i], float(i) + 0.5f * float(i)) << i;
}

TEST(GradientSync, AddGradientsIsElementwise) {
  std::vector<float> a = {1, 2, 3}, b = {0.25f, -2, 1e-8f};
  add_gradients(a.data(), b.data(), 3);
  EXPECT_EQ(a, (std::vector<float>{1.25f, 0.f, 3.f + 1e-8f}));
}

TEST(EvenShardCounts, SplitsAsEvenlyAsPossible) {
  EXPECT_EQ(comm::even_shard_counts(10, 3), (std::vector<int64_t>{4, 3, 3}));
  EXPECT_EQ(comm::even_shard_counts(2, 4), (std::vector<int64_t>{1, 1, 0, 0}));
  EXPECT_EQ(comm::even_shard_counts(7, 1), (std::vector<int64_t>{7}));
}

TEST(LocalComm, CollectivesOfOneRank) {
  comm::LocalComm c;
  std::vector<float> x = {1, 2, 3}, y(3);
  c.all_reduce_sum(x.data(), 3);
  EXPECT_EQ(x, (std::vector<float>{1, 2, 3}));
  c.reduce_scatter_sum(x.data(), y.data(), {3});
  EXPECT_EQ(y, x);
  std::vector<float> z(3);
  c.all_gather(x.data(), z.data(), {3});
  EXPECT_EQ(z, x);
  EXPECT_EQ(c.world_size(), 1);
  EXPECT_EQ(c.name(), "local");
}

}  // namespace
}  // namespace cf::trainer
