// Communicator: the collectives data-parallel training needs (all-reduce, reduce-scatter,
// all-gather, broadcast, barrier), independent of the transport (none, MPI, NCCL).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace cf::trainer::comm {

// A collective that did not complete: a peer died, stalled, or the transport failed. The
// message names this rank, the operation and, where known, the rank that did not arrive.
class CommError : public UserError {
 public:
  using UserError::UserError;
};

// Time this rank has spent blocked inside collectives (not the time they ran in the
// background while backward was still computing).
struct CommTimers {
  double wait_seconds = 0;
  int64_t collectives = 0;
};

// Buffers are host memory for LocalComm/MpiComm and device memory for NcclComm. Every rank
// must issue the same collectives in the same order (as with MPI). Blocking calls and waits
// give up after the timeout set with set_timeout() and throw CommError.
class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;    // rank among the processes of this machine
  virtual std::string name() const = 0;  // "local", "mpi", "nccl"

  // Seconds a rank waits in one collective before it declares the job broken (<= 0: forever).
  void set_timeout(double seconds) { timeout_seconds_ = seconds; }
  double timeout() const { return timeout_seconds_; }
  // The training step being worked on, for error messages and for naming ranks that fall
  // behind (MpiComm tells rank 0 which step every rank has reached).
  virtual void set_step(int64_t step) { step_ = step; }
  int64_t step() const { return step_; }

  // In place: data[i] = sum over ranks of data[i].
  virtual void all_reduce_sum(float* data, int64_t count) = 0;
  virtual void all_reduce_sum(double* data, int64_t count) = 0;
  // In place: data[i] = max over ranks.
  virtual void all_reduce_max(double* data, int64_t count) = 0;

  // Non-blocking sum all-reduce: starts now, completes by wait_all(). `data` must stay valid
  // and untouched until then. progress() lets pending operations advance (MPI progresses
  // only inside MPI calls); call it between pieces of work.
  virtual void start_all_reduce_sum(float* data, int64_t count) = 0;
  virtual void progress() = 0;
  virtual void wait_all() = 0;

  // Reduce-scatter: `send` holds the whole vector (sum of counts[r] elements, rank r's part at
  // offset counts[0] + ... + counts[r-1]); `recv` gets this rank's part summed over ranks.
  virtual void reduce_scatter_sum(const float* send, float* recv,
                                  const std::vector<int64_t>& counts) = 0;
  // All-gather: every rank contributes `counts[rank]` elements from `send`; `recv` gets all
  // parts back to back. `send` may point at this rank's part inside `recv` (in place).
  virtual void all_gather(const float* send, float* recv, const std::vector<int64_t>& counts) = 0;
  // Broadcast `bytes` bytes from rank `root` to every rank.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;

  const CommTimers& timers() const { return timers_; }
  void reset_timers() { timers_ = {}; }

 protected:
  double timeout_seconds_ = 600;
  int64_t step_ = 0;
  CommTimers timers_;
};

// One process: every collective is the identity (all-gather and reduce-scatter copy).
// `local_rank`: the process's index among the processes of its host when it trains alone
// inside a larger job (cartformer sweep: one trial per rank), so each takes its own GPU.
class LocalComm final : public Communicator {
 public:
  explicit LocalComm(int local_rank = 0) : local_rank_(local_rank) {}
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "local"; }
  void all_reduce_sum(float*, int64_t) override {}
  void all_reduce_sum(double*, int64_t) override {}
  void all_reduce_max(double*, int64_t) override {}
  void start_all_reduce_sum(float*, int64_t) override {}
  void progress() override {}
  void wait_all() override {}
  void reduce_scatter_sum(const float* send, float* recv,
                          const std::vector<int64_t>& counts) override;
  void all_gather(const float* send, float* recv, const std::vector<int64_t>& counts) override;
  void broadcast(void*, int64_t, int) override {}
  void barrier() override {}

 private:
  int local_rank_;
};

// Splits `n` elements into `parts` contiguous shards as evenly as possible (the first n % parts
// get one more). Used for ZeRO-1 optimizer-state shards.
std::vector<int64_t> even_shard_counts(int64_t n, int parts);
// Where shard `part` of `counts` starts: the sum of the counts before it.
int64_t shard_begin(const std::vector<int64_t>& counts, int part);

}  // namespace cf::trainer::comm
