// NcclComm: the Communicator over device buffers, with NCCL collectives on a stream of its own.
#pragma once
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/comm/communicator.h"

namespace cf::trainer::comm {

// Every buffer passed in is device memory on `device`. Collectives run on a non-blocking
// stream owned by this object, so they can proceed while the compute stream keeps working
// (backward of earlier layers overlapping the all-reduce of later ones).
//
// Ordering with the caller's kernels: each collective first makes the comm stream wait for
// everything already enqueued on the compute stream (set_compute_stream; the legacy default
// stream 0 unless set), so the data it reads is complete. The caller may touch the results
// once the blocking call or wait_all() returns: those return only after the comm stream has
// finished, so work the caller enqueues afterwards is ordered after them.
//
// Failures never hang: every wait polls the stream and NCCL's asynchronous error state, and
// past timeout() seconds aborts the NCCL communicator and throws CommError. After an abort
// every further call throws; the job is expected to exit (NCCL cannot rejoin a communicator).
class NcclComm final : public Communicator {
 public:
  // Collective over `bootstrap`'s ranks (rank 0 creates the NCCL id and broadcasts it with
  // bootstrap.broadcast, so every rank must construct its NcclComm at the same point). The
  // bootstrap is only used here; it may be destroyed afterwards.
  NcclComm(Communicator& bootstrap, int device);
  ~NcclComm() override;
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "nccl"; }
  int device() const { return device_; }

  // The stream the caller's kernels produce gradients on (not owned). 0 = legacy default.
  void set_compute_stream(cudaStream_t stream) { compute_stream_ = stream; }
  cudaStream_t compute_stream() const { return compute_stream_; }
  // The stream collectives run on (owned), for profiler ranges and callers that order their
  // own work after communication with events.
  cudaStream_t comm_stream() const { return stream_; }

  // Take the uneven-counts path (one grouped reduce / broadcast per root) even when every
  // rank's part has the same size. For tests: on one GPU there is one rank, so parts are
  // never uneven and that path could not be exercised otherwise.
  void set_always_grouped(bool on) { always_grouped_ = on; }

  void all_reduce_sum(float* data, int64_t count) override;
  void all_reduce_sum(double* data, int64_t count) override;
  void all_reduce_max(double* data, int64_t count) override;

  void start_all_reduce_sum(float* data, int64_t count) override;
  void progress() override {}  // NCCL progresses on the GPU by itself
  void wait_all() override;

  void reduce_scatter_sum(const float* send, float* recv,
                          const std::vector<int64_t>& counts) override;
  void all_gather(const float* send, float* recv, const std::vector<int64_t>& counts) override;
  void broadcast(void* data, int64_t bytes, int root) override;
  void barrier() override;

 private:
  // Throws CommError if the communicator was aborted, and makes `device_` current (NCCL calls
  // must come from the comm's device; the caller's thread may have switched).
  void begin(const char* op);
  // The comm stream waits for the work enqueued so far on the compute stream.
  void order_after_compute(const char* op);
  void all_reduce(void* data, int64_t count, ncclDataType_t type, ncclRedOp_t red, const char* op);
  // Blocks until the comm stream is idle, with timeout and error polling; adds the blocked
  // time to timers_.
  void sync_stream(const char* op);
  // In non-blocking NCCL mode a call may return ncclInProgress while NCCL finishes it in the
  // background; waits (with timeout) until the communicator is settled.
  void settle(const char* op);
  void check_cuda(cudaError_t err, const char* call, const char* op);
  void check_nccl(ncclResult_t res, const char* call, const char* op);
  [[noreturn]] void fail(const std::string& what, const char* op);
  // ncclCommAbort, once; leaves the object unusable but destructible.
  void abort_comm() noexcept;
  void release() noexcept;

  int rank_ = 0, world_size_ = 1, local_rank_ = 0;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaStream_t compute_stream_ = 0;
  cudaEvent_t compute_done_ = nullptr;  // recorded on the compute stream before each collective
  float* barrier_buf_ = nullptr;        // one device float for barrier()
  bool aborted_ = false;
  bool always_grouped_ = false;
  bool pending_ = false;  // start_all_reduce_sum issued work that wait_all() has not waited for
};

}  // namespace cf::trainer::comm
