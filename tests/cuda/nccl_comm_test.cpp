#include "trainer/comm/nccl_comm.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "device_buffer.h"

namespace cf::trainer::comm {
namespace {

// Nothing here touches CUDA before a test body runs: gtest_discover_tests starts this binary at
// build time (also on machines without a driver) just to list the tests.

using cuda_test::DeviceBuffer;
using cuda_test::no_gpu_reason;

void cuda_ok(cudaError_t err, const char* what) {
  ASSERT_EQ(err, cudaSuccess) << what << ": " << cudaGetErrorString(err);
}

// Values that are exact in float and double and differ from element to element, so a result
// shifted by one element or read from the wrong part cannot match by accident.
template <class T>
std::vector<T> ramp(size_t n, T base) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = base + T(0.25) * T(i) - T(i % 7);
  return v;
}

template <class T>
void expect_elements(const std::vector<T>& got, const std::vector<T>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i], want[i]) << what << ": element " << i;
  }
}

class NcclCommTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = no_gpu_reason("NcclComm tests");
    if (!why.empty()) GTEST_SKIP() << why;
    bootstrap_.set_timeout(60);  // a broken NCCL must fail the test, not hang it
    comm_ = std::make_unique<NcclComm>(bootstrap_, 0);
  }

  LocalComm bootstrap_;
  std::unique_ptr<NcclComm> comm_;
};

TEST_F(NcclCommTest, TakesRanksAndTimeoutFromTheBootstrap) {
  EXPECT_EQ(comm_->rank(), 0);
  EXPECT_EQ(comm_->world_size(), 1);
  EXPECT_EQ(comm_->local_rank(), 0);
  EXPECT_EQ(comm_->name(), "nccl");
  EXPECT_EQ(comm_->device(), 0);
  EXPECT_EQ(comm_->timeout(), 60);
}

TEST_F(NcclCommTest, AllReduceSumFloatOnOneRankKeepsEveryElement) {
  const auto host = ramp<float>(1001, -3.5f);
  DeviceBuffer<float> dev(host);
  comm_->all_reduce_sum(dev.get(), int64_t(host.size()));
  expect_elements(dev.download(), host, "all_reduce_sum(float)");
}

TEST_F(NcclCommTest, AllReduceSumDoubleOnOneRankKeepsEveryElement) {
  const auto host = ramp<double>(257, 1e10);
  DeviceBuffer<double> dev(host);
  comm_->all_reduce_sum(dev.get(), int64_t(host.size()));
  expect_elements(dev.download(), host, "all_reduce_sum(double)");
}

TEST_F(NcclCommTest, AllReduceMaxDoubleOnOneRankKeepsEveryElement) {
  const auto host = ramp<double>(33, -100.0);
  DeviceBuffer<double> dev(host);
  comm_->all_reduce_max(dev.get(), int64_t(host.size()));
  expect_elements(dev.download(), host, "all_reduce_max");
}

TEST_F(NcclCommTest, StartedAllReducesAreCompleteAfterWaitAll) {
  const auto a = ramp<float>(4096, 2.0f);
  const auto b = ramp<float>(17, -9.0f);
  DeviceBuffer<float> da(a), db(b);
  comm_->reset_timers();
  comm_->start_all_reduce_sum(da.get(), int64_t(a.size()));
  comm_->progress();
  comm_->start_all_reduce_sum(db.get(), int64_t(b.size()));
  comm_->wait_all();
  expect_elements(da.download(), a, "first started all-reduce");
  expect_elements(db.download(), b, "second started all-reduce");
  EXPECT_EQ(comm_->timers().collectives, 1);  // one wait covered both
  EXPECT_GE(comm_->timers().wait_seconds, 0.0);
  comm_->wait_all();  // nothing pending: returns at once
}

TEST_F(NcclCommTest, StartedAllReduceWaitsForTheComputeStream) {
  // The data is produced on a separate non-blocking stream; the collective must see it, and
  // after wait_all() so must the host (the comm stream waited for the compute stream).
  cudaStream_t compute = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking), "cudaStreamCreate");
  const size_t n = size_t(1) << 22;
  DeviceBuffer<float> dev(n);
  cuda_ok(cudaMemsetAsync(dev.get(), 0x40, sizeof(float) * n, compute), "cudaMemsetAsync");
  comm_->set_compute_stream(compute);
  comm_->start_all_reduce_sum(dev.get(), int64_t(n));
  comm_->wait_all();
  const uint32_t bits = 0x40404040u;
  float expected = 0;
  std::memcpy(&expected, &bits, sizeof expected);
  expect_elements(dev.download(), std::vector<float>(n, expected), "all-reduce after memset");
  comm_->set_compute_stream(0);
  cudaStreamDestroy(compute);
}

class NcclShardTest : public NcclCommTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    NcclCommTest::SetUp();
    if (comm_) comm_->set_always_grouped(GetParam());
  }
};

TEST_P(NcclShardTest, ReduceScatterOutOfPlace) {
  const auto send = ramp<float>(523, 7.0f);
  DeviceBuffer<float> dsend(send), drecv(send.size());
  comm_->reduce_scatter_sum(dsend.get(), drecv.get(), {int64_t(send.size())});
  expect_elements(drecv.download(), send, "reduce_scatter_sum");
  expect_elements(dsend.download(), send, "reduce_scatter_sum's send buffer");
}

TEST_P(NcclShardTest, ReduceScatterInPlace) {
  const auto host = ramp<float>(1000, -1.0f);
  DeviceBuffer<float> dev(host);
  comm_->reduce_scatter_sum(dev.get(), dev.get(), {int64_t(host.size())});
  expect_elements(dev.download(), host, "reduce_scatter_sum in place");
}

TEST_P(NcclShardTest, ReduceScatterOfEvenShardCounts) {
  const auto send = ramp<float>(77, 0.5f);
  DeviceBuffer<float> dsend(send), drecv(send.size());
  comm_->reduce_scatter_sum(dsend.get(), drecv.get(), even_shard_counts(77, 1));
  expect_elements(drecv.download(), send, "reduce_scatter_sum (even_shard_counts)");
}

TEST_P(NcclShardTest, AllGatherOutOfPlace) {
  const auto send = ramp<float>(389, 3.0f);
  DeviceBuffer<float> dsend(send), drecv(send.size());
  comm_->all_gather(dsend.get(), drecv.get(), {int64_t(send.size())});
  expect_elements(drecv.download(), send, "all_gather");
}

TEST_P(NcclShardTest, AllGatherInPlace) {
  const auto host = ramp<float>(390, -6.0f);
  DeviceBuffer<float> dev(host);
  comm_->all_gather(dev.get(), dev.get(), {int64_t(host.size())});
  expect_elements(dev.download(), host, "all_gather in place");
}

TEST_P(NcclShardTest, EmptyPartsAreNoOps) {
  const auto host = ramp<float>(5, 1.0f);
  DeviceBuffer<float> a(host), b(host);
  comm_->reduce_scatter_sum(a.get(), b.get(), {0});
  comm_->all_gather(a.get(), b.get(), {0});
  expect_elements(b.download(), host, "untouched buffer");
}

INSTANTIATE_TEST_SUITE_P(Paths, NcclShardTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "GroupedPerRoot" : "NcclCollective";
                         });

TEST_F(NcclCommTest, BroadcastCopiesEveryByte) {
  std::vector<uint8_t> host(13);
  for (size_t i = 0; i < host.size(); ++i) host[i] = uint8_t(200 + 3 * i);
  DeviceBuffer<uint8_t> dev(host);
  comm_->broadcast(dev.get(), int64_t(host.size()), 0);
  expect_elements(dev.download(), host, "broadcast");
}

TEST_F(NcclCommTest, BarrierCompletesAndIsTimed) {
  comm_->reset_timers();
  comm_->barrier();
  comm_->barrier();
  EXPECT_EQ(comm_->timers().collectives, 2);
}

TEST_F(NcclCommTest, ABadDeviceIsACommErrorNamingRankAndCall) {
  int count = 0;
  cuda_ok(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  try {
    NcclComm bad(bootstrap_, count);  // one past the last device
    FAIL() << "expected a CommError";
  } catch (const CommError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("rank 0"), std::string::npos) << what;
    EXPECT_NE(what.find("cudaSetDevice"), std::string::npos) << what;
  }
  // The good communicator is unaffected.
  const auto host = ramp<float>(9, 1.0f);
  DeviceBuffer<float> dev(host);
  comm_->all_reduce_sum(dev.get(), int64_t(host.size()));
  expect_elements(dev.download(), host, "all_reduce_sum after a failed construction");
}

}  // namespace
}  // namespace cf::trainer::comm
