// MpiComm and GradientSync across real ranks: run by ctest as `mpirun -np 3 test_mpi`.
// Every rank runs every test; expected values are computed from the ranks' known inputs.
#include "trainer/comm/mpi_comm.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "trainer/backend/grad_sync.h"

namespace cf::trainer::comm {
namespace {

MpiComm* g_comm = nullptr;

// Rank r contributes value(r, i) at element i.
float value(int r, int64_t i) { return float(r + 1) * 0.5f + float(i % 7); }

TEST(MpiComm, RankAndSizeMatchTheLauncher) {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  ASSERT_NE(size, nullptr) << "run this under mpirun";
  EXPECT_EQ(g_comm->world_size(), std::atoi(size));
  EXPECT_EQ(g_comm->rank(), std::atoi(std::getenv("OMPI_COMM_WORLD_RANK")));
  EXPECT_EQ(g_comm->local_rank(), std::atoi(std::getenv("OMPI_COMM_WORLD_LOCAL_RANK")));
  EXPECT_EQ(g_comm->name(), "mpi");
}

TEST(MpiComm, AllReduceSumAndMax) {
  const int W = g_comm->world_size(), r = g_comm->rank();
  std::vector<float> x(1000);
  for (int64_t i = 0; i < 1000; ++i) x[i] = value(r, i);
  g_comm->all_reduce_sum(x.data(), 1000);
  for (int64_t i = 0; i < 1000; ++i) {
    float expected = 0;
    for (int q = 0; q < W; ++q) expected += value(q, i);
    ASSERT_FLOAT_EQ(x[i], expected) << i;
  }
  double d[2] = {double(r), -double(r)};
  g_comm->all_reduce_max(d, 2);
  EXPECT_EQ(d[0], double(W - 1));
  EXPECT_EQ(d[1], 0.0);
  double s = 1.5;
  g_comm->all_reduce_sum(&s, 1);
  EXPECT_EQ(s, 1.5 * W);
}

TEST(MpiComm, NonBlockingBucketsCompleteAtWaitAll) {
  const int W = g_comm->world_size(), r = g_comm->rank();
  std::vector<float> x(300, float(r + 1));
  g_comm->start_all_reduce_sum(x.data() + 200, 100);
  g_comm->start_all_reduce_sum(x.data(), 200);
  g_comm->progress();
  g_comm->wait_all();
  for (float v : x) ASSERT_EQ(v, float(W * (W + 1) / 2));
}

TEST(MpiComm, ReduceScatterAndAllGatherWithUnevenShards) {
  const int W = g_comm->world_size(), r = g_comm->rank();
  const int64_t n = 10 * W + 1;  // never divisible: the first shard is one longer
  std::vector<int64_t> counts = even_shard_counts(n, W);
  std::vector<float> full(n);
  for (int64_t i = 0; i < n; ++i) full[i] = value(r, i);
  std::vector<float> mine(counts[r]);
  g_comm->reduce_scatter_sum(full.data(), mine.data(), counts);
  int64_t begin = 0;
  for (int q = 0; q < r; ++q) begin += counts[q];
  for (int64_t k = 0; k < counts[r]; ++k) {
    float expected = 0;
    for (int q = 0; q < W; ++q) expected += value(q, begin + k);
    ASSERT_FLOAT_EQ(mine[k], expected);
  }
  // All-gather, out of place and in place (send = this rank's part inside recv).
  std::vector<float> gathered(n, -1.f);
  std::vector<float> part(counts[r], float(r));
  g_comm->all_gather(part.data(), gathered.data(), counts);
  std::vector<float> in_place(n, -1.f);
  std::fill_n(in_place.begin() + begin, counts[r], float(r));
  g_comm->all_gather(in_place.data() + begin, in_place.data(), counts);
  int64_t at = 0;
  for (int q = 0; q < W; ++q) {
    for (int64_t k = 0; k < counts[q]; ++k, ++at) {
      ASSERT_EQ(gathered[at], float(q));
      ASSERT_EQ(in_place[at], float(q));
    }
  }
}

TEST(MpiComm, BroadcastFromAnyRoot) {
  const int W = g_comm->world_size(), r = g_comm->rank();
  std::string text = r == W - 1 ? "from the last rank" : std::string(18, '?');
  g_comm->broadcast(text.data(), int64_t(text.size()), W - 1);
  EXPECT_EQ(text, "from the last rank");
  g_comm->barrier();
}

// The training loop's use: every rank's last micro-batch reports finished ranges from the top
// of the buffer down; buckets carry (this micro-batch + earlier ones), summed over ranks.
TEST(GradientSyncAcrossRanks, SumsEveryBucketOverRanks) {
  const int W = g_comm->world_size(), r = g_comm->rank();
  const int64_t n = 1001;
  GradientSync sync(*g_comm, n, /*bucket_elements=*/128);
  std::vector<float> grads(n), earlier(n);
  for (int64_t i = 0; i < n; ++i) grads[i] = value(r, i), earlier[i] = float(r) * 0.25f;
  sync.arm(grads.data(), earlier.data());
  // Ranks report at different offsets (as if their layers finished at different times); the
  // bucket sequence is still the same on all of them.
  for (int64_t first = n - 100 - 37 * r; first > 0; first -= 200 + 11 * r) sync.grads_ready(first);
  sync.finish();
  EXPECT_EQ(sync.buckets_sent(), (n + 127) / 128);
  for (int64_t i = 0; i < n; ++i) {
    float expected = 0;
    for (int q = 0; q < W; ++q) expected += value(q, i) + float(q) * 0.25f;
    ASSERT_FLOAT_EQ(grads[i], expected) << i;
  }
}

// Last (its own suite, registered last): a rank that does not show up makes the others'
// collective fail within the timeout, and rank 0 names it.
TEST(MpiCommFailure, TimeoutNamesTheMissingRank) {
  const int W = g_comm->world_size(), r = g_comm->rank();
  ASSERT_GE(W, 2);
  const int late = W - 1;
  g_comm->set_timeout(1.0);
  if (r != late) {
    try {
      g_comm->barrier();
      ADD_FAILURE() << "barrier completed without rank " << late;
    } catch (const CommError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("barrier"), std::string::npos) << msg;
      EXPECT_NE(msg.find("within 1 s"), std::string::npos) << msg;
      if (r == 0) {
        EXPECT_NE(msg.find("rank " + std::to_string(late) + " never arrived"), std::string::npos)
            << msg;
      }
    }
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  }
  // The late rank's barrier matches the one the others gave up on, so all ranks are in step
  // again for MPI_Finalize.
  g_comm->set_timeout(30);
  if (r == late) g_comm->barrier();
}

}  // namespace
}  // namespace cf::trainer::comm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto comm = std::make_unique<cf::trainer::comm::MpiComm>();
  cf::trainer::comm::g_comm = comm.get();
  // Only rank 0 prints the gtest report; the others still fail the run through their exit code.
  if (comm->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int rc = RUN_ALL_TESTS();
  double failed = rc != 0 ? 1 : 0;
  comm->all_reduce_max(&failed, 1);
  // After the deliberate timeout the communicator counts as broken and its destructor leaves
  // MPI alone (as after a real failure); the ranks are in step again, so finalise here.
  comm.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  return failed > 0 ? 1 : 0;
}
