#include "trainer/comm/nccl_comm.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>

// Non-blocking communicators (config.blocking = 0) and ncclCommFinalize arrived in NCCL 2.14.
#if NCCL_VERSION_CODE < NCCL_VERSION(2, 14, 0)
#error "NcclComm needs NCCL 2.14 or newer"
#endif

namespace cf::trainer::comm {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Spin briefly (a healthy collective finishes in microseconds), then back off so a waiting
// rank does not steal a core from host work still running (data loading, logging).
void back_off(int& spins) {
  if (++spins > 200)
    std::this_thread::sleep_for(std::chrono::microseconds(spins > 2000 ? 200 : 20));
}

// Adds the time between construction and destruction to a timer, on every exit path.
class BlockedTime {
 public:
  explicit BlockedTime(double& total) : total_(total), start_(Clock::now()) {}
  ~BlockedTime() { total_ += seconds_since(start_); }
  BlockedTime(const BlockedTime&) = delete;
  BlockedTime& operator=(const BlockedTime&) = delete;
  Clock::time_point start() const { return start_; }

 private:
  double& total_;
  Clock::time_point start_;
};

// What rank 0 broadcasts to start NCCL: the id, or why it could not make one (so the other
// ranks fail with rank 0's reason instead of waiting for a communicator that never forms).
struct IdMessage {
  int32_t status = int32_t(ncclSuccess);
  char error[200] = {};
  ncclUniqueId id{};
};

bool all_equal(const std::vector<int64_t>& counts) {
  return std::all_of(counts.begin(), counts.end(), [&](int64_t c) { return c == counts[0]; });
}

}  // namespace

NcclComm::NcclComm(Communicator& bootstrap, int device)
    : rank_(bootstrap.rank()),
      world_size_(bootstrap.world_size()),
      local_rank_(bootstrap.local_rank()),
      device_(device) {
  timeout_seconds_ = bootstrap.timeout();
  step_ = bootstrap.step();
  const char* op = "NCCL setup";

  // The id goes out before any CUDA work, so a rank whose device is broken still lets the
  // others get past the (host) broadcast; they then fail by timeout in settle() below.
  IdMessage msg;
  if (rank_ == 0) {
    ncclResult_t res = ncclGetUniqueId(&msg.id);
    msg.status = int32_t(res);
    if (res != ncclSuccess) {
      std::snprintf(msg.error, sizeof msg.error, "ncclGetUniqueId failed: %s (%s)",
                    ncclGetErrorString(res), ncclGetLastError(nullptr));
    }
  }
  bootstrap.broadcast(&msg, int64_t(sizeof msg), 0);
  if (msg.status != int32_t(ncclSuccess)) {
    throw CommError("rank " + std::to_string(rank_) + ": " + op + " failed: rank 0 could not " +
                    "create the NCCL id: " + msg.error);
  }

  try {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice", op);
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
               "cudaStreamCreateWithFlags", op);
    check_cuda(cudaEventCreateWithFlags(&compute_done_, cudaEventDisableTiming),
               "cudaEventCreateWithFlags", op);
    void* buf = nullptr;
    check_cuda(cudaMalloc(&buf, sizeof(float)), "cudaMalloc", op);
    barrier_buf_ = static_cast<float*>(buf);
    check_cuda(cudaMemset(barrier_buf_, 0, sizeof(float)), "cudaMemset", op);

    // Non-blocking: NCCL calls (init included) return at once and finish in the background,
    // so every wait below can give up after the timeout instead of hanging inside NCCL when a
    // peer never arrives.
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    check_nccl(ncclCommInitRankConfig(&comm_, world_size_, msg.id, rank_, &config),
               "ncclCommInitRankConfig", op);
    settle(op);
  } catch (...) {
    abort_comm();  // a half-made communicator cannot be finalised cleanly
    release();
    throw;
  }
}

NcclComm::~NcclComm() { release(); }

void NcclComm::release() noexcept {
  cudaSetDevice(device_);
  cudaGetLastError();  // a bad device was already reported; do not leave its error behind
  if (comm_ != nullptr) {
    // Unwinding from an error (here or elsewhere): peers may never join a clean shutdown, so
    // abort rather than finalise.
    bool clean = std::uncaught_exceptions() == 0;
    if (clean) {
      // Finalise flushes outstanding work; in non-blocking mode it returns at once and is
      // polled with the timeout, so a dead peer cannot stall this process's exit.
      ncclResult_t res = ncclCommFinalize(comm_);
      const auto start = Clock::now();
      int spins = 0;
      while (res == ncclSuccess || res == ncclInProgress) {
        ncclResult_t state = ncclSuccess;
        res = ncclCommGetAsyncError(comm_, &state);
        if (res != ncclSuccess) break;
        res = state;
        if (state != ncclInProgress) break;
        if (timeout_seconds_ > 0 && seconds_since(start) > timeout_seconds_) {
          res = ncclInProgress;
          break;
        }
        back_off(spins);
      }
      clean = res == ncclSuccess;
    }
    if (clean) {
      ncclCommDestroy(comm_);
      comm_ = nullptr;
    } else {
      abort_comm();
    }
  }
  if (compute_done_ != nullptr) cudaEventDestroy(compute_done_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  if (barrier_buf_ != nullptr) cudaFree(barrier_buf_);
  compute_done_ = nullptr;
  stream_ = nullptr;
  barrier_buf_ = nullptr;
}

void NcclComm::abort_comm() noexcept {
  if (comm_ != nullptr) ncclCommAbort(comm_);
  comm_ = nullptr;
  aborted_ = true;
}

void NcclComm::fail(const std::string& what, const char* op) {
  // Abort first: it stops this rank's outstanding kernels and NCCL threads, so the exception
  // can unwind (and the process exit) without waiting on a collective that will never end.
  abort_comm();
  throw CommError("rank " + std::to_string(rank_) + ": " + op + " failed at step " +
                  std::to_string(step_) + ": " + what);
}

void NcclComm::check_cuda(cudaError_t err, const char* call, const char* op) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so it is not reported again by a later call
  fail(std::string(call) + ": " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err), op);
}

void NcclComm::check_nccl(ncclResult_t res, const char* call, const char* op) {
  // ncclInProgress is not an error: the call continues in the background (see settle()).
  if (res == ncclSuccess || res == ncclInProgress) return;
  std::string what = std::string(call) + ": " + ncclGetErrorString(res);
  const char* detail = ncclGetLastError(comm_);
  if (detail != nullptr && *detail != '\0') what += std::string(" (") + detail + ")";
  fail(what, op);
}

void NcclComm::begin(const char* op) {
  if (aborted_ || comm_ == nullptr) {
    throw CommError("rank " + std::to_string(rank_) + ": " + op + " at step " +
                    std::to_string(step_) +
                    ": the NCCL communicator was aborted after an earlier failure");
  }
  check_cuda(cudaSetDevice(device_), "cudaSetDevice", op);
}

void NcclComm::order_after_compute(const char* op) {
  check_cuda(cudaEventRecord(compute_done_, compute_stream_), "cudaEventRecord", op);
  check_cuda(cudaStreamWaitEvent(stream_, compute_done_, 0), "cudaStreamWaitEvent", op);
}

void NcclComm::settle(const char* op) {
  BlockedTime blocked(timers_.wait_seconds);
  int spins = 0;
  for (;;) {
    ncclResult_t state = ncclSuccess;
    check_nccl(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError", op);
    if (state == ncclSuccess) return;
    if (state != ncclInProgress) check_nccl(state, "NCCL (asynchronous error)", op);
    if (timeout_seconds_ > 0 && seconds_since(blocked.start()) > timeout_seconds_) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.0f", timeout_seconds_);
      fail(std::string("NCCL did not finish within ") + secs +
               " s (comm.timeout_s): another rank died, is stuck or never started",
           op);
    }
    back_off(spins);
  }
}

void NcclComm::sync_stream(const char* op) {
  BlockedTime blocked(timers_.wait_seconds);
  int spins = 0;
  for (;;) {
    cudaError_t err = cudaStreamQuery(stream_);
    if (err == cudaSuccess) break;
    if (err != cudaErrorNotReady) check_cuda(err, "cudaStreamQuery", op);
    // A failed peer or network shows up here while our kernels spin waiting for data.
    ncclResult_t state = ncclSuccess;
    check_nccl(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError", op);
    if (state != ncclSuccess && state != ncclInProgress) {
      check_nccl(state, "NCCL (asynchronous error)", op);
    }
    if (timeout_seconds_ > 0 && seconds_since(blocked.start()) > timeout_seconds_) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.0f", timeout_seconds_);
      fail(std::string("got no answer within ") + secs +
               " s (comm.timeout_s): another rank died or is stuck",
           op);
    }
    back_off(spins);
  }
  pending_ = false;
  timers_.collectives += 1;
}

void NcclComm::all_reduce(void* data, int64_t count, ncclDataType_t type, ncclRedOp_t red,
                          const char* op) {
  begin(op);
  if (count <= 0) return;  // same on every rank, so every rank skips it
  order_after_compute(op);
  check_nccl(ncclAllReduce(data, data, size_t(count), type, red, comm_, stream_), "ncclAllReduce",
             op);
  settle(op);
  sync_stream(op);
}

void NcclComm::all_reduce_sum(float* data, int64_t count) {
  all_reduce(data, count, ncclFloat32, ncclSum, "all_reduce_sum");
}

void NcclComm::all_reduce_sum(double* data, int64_t count) {
  all_reduce(data, count, ncclFloat64, ncclSum, "all_reduce_sum");
}

void NcclComm::all_reduce_max(double* data, int64_t count) {
  all_reduce(data, count, ncclFloat64, ncclMax, "all_reduce_max");
}

void NcclComm::start_all_reduce_sum(float* data, int64_t count) {
  const char* op = "gradient all-reduce";
  begin(op);
  if (count <= 0) return;
  order_after_compute(op);
  check_nccl(ncclAllReduce(data, data, size_t(count), ncclFloat32, ncclSum, comm_, stream_),
             "ncclAllReduce", op);
  settle(op);
  pending_ = true;
}

void NcclComm::wait_all() {
  const char* op = "gradient all-reduce";
  begin(op);
  if (pending_) sync_stream(op);
}

void NcclComm::reduce_scatter_sum(const float* send, float* recv,
                                  const std::vector<int64_t>& counts) {
  const char* op = "reduce_scatter_sum";
  begin(op);
  CF_CHECK(int(counts.size()) == world_size_, "reduce_scatter_sum needs one count per rank");
  order_after_compute(op);
  if (!always_grouped_ && all_equal(counts)) {
    // In place is NCCL's own convention: recv == send + rank * count.
    if (counts[0] > 0) {
      check_nccl(
          ncclReduceScatter(send, recv, size_t(counts[0]), ncclFloat32, ncclSum, comm_, stream_),
          "ncclReduceScatter", op);
    }
  } else {
    // Uneven parts: one reduce per part, rooted at the rank that owns it, fused into a single
    // launch by the group.
    check_nccl(ncclGroupStart(), "ncclGroupStart", op);
    ncclResult_t res = ncclSuccess;
    int64_t offset = 0;
    for (int r = 0; r < world_size_ && (res == ncclSuccess || res == ncclInProgress); ++r) {
      // recvbuff is only written on the root; other ranks pass theirs as a placeholder.
      if (counts[size_t(r)] > 0) {
        res = ncclReduce(send + offset, recv, size_t(counts[size_t(r)]), ncclFloat32, ncclSum, r,
                         comm_, stream_);
      }
      offset += counts[size_t(r)];
    }
    // End the group even after a failed call: the group depth is per thread, and an open
    // group would swallow every later NCCL call on this thread.
    ncclResult_t end = ncclGroupEnd();
    check_nccl(res, "ncclReduce", op);
    check_nccl(end, "ncclGroupEnd", op);
  }
  settle(op);
  sync_stream(op);
}

void NcclComm::all_gather(const float* send, float* recv, const std::vector<int64_t>& counts) {
  const char* op = "all_gather";
  begin(op);
  CF_CHECK(int(counts.size()) == world_size_, "all_gather needs one count per rank");
  order_after_compute(op);
  if (!always_grouped_ && all_equal(counts)) {
    // In place (send == recv + rank * count) is NCCL's own in-place form.
    if (counts[0] > 0) {
      check_nccl(ncclAllGather(send, recv, size_t(counts[0]), ncclFloat32, comm_, stream_),
                 "ncclAllGather", op);
    }
  } else {
    // Uneven parts: every rank broadcasts its part into place. On the owner, send may already
    // be that place (in place), which ncclBroadcast allows.
    check_nccl(ncclGroupStart(), "ncclGroupStart", op);
    ncclResult_t res = ncclSuccess;
    int64_t offset = 0;
    for (int r = 0; r < world_size_ && (res == ncclSuccess || res == ncclInProgress); ++r) {
      if (counts[size_t(r)] > 0) {
        const float* src = r == rank_ ? send : recv + offset;  // sendbuff is read on the root only
        res = ncclBroadcast(src, recv + offset, size_t(counts[size_t(r)]), ncclFloat32, r, comm_,
                            stream_);
      }
      offset += counts[size_t(r)];
    }
    ncclResult_t end = ncclGroupEnd();
    check_nccl(res, "ncclBroadcast", op);
    check_nccl(end, "ncclGroupEnd", op);
  }
  settle(op);
  sync_stream(op);
}

void NcclComm::broadcast(void* data, int64_t bytes, int root) {
  const char* op = "broadcast";
  begin(op);
  CF_CHECK(root >= 0 && root < world_size_, "broadcast root out of range");
  if (bytes <= 0) return;
  order_after_compute(op);
  check_nccl(ncclBroadcast(data, data, size_t(bytes), ncclUint8, root, comm_, stream_),
             "ncclBroadcast", op);
  settle(op);
  sync_stream(op);
}

void NcclComm::barrier() {
  // Also waits for this rank's compute stream (order_after_compute), which is what a caller
  // synchronising ranks around timing or checkpointing wants.
  all_reduce(barrier_buf_, 1, ncclFloat32, ncclSum, "barrier");
}

}  // namespace cf::trainer::comm
