// MpiComm: the Communicator over host buffers with MPI (non-blocking collectives polled with a
// timeout, so a dead or stuck peer ends the job instead of hanging it).
#pragma once
#include <mpi.h>

#include <memory>
#include <vector>

#include "trainer/comm/communicator.h"

namespace cf::trainer::comm {

class MpiComm final : public Communicator {
 public:
  // Initialises MPI (thread level FUNNELED: only the main thread calls MPI) unless the
  // process already did, and finalises it on destruction if it initialised it.
  MpiComm();
  ~MpiComm() override;
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "mpi"; }

  void all_reduce_sum(float* data, int64_t count) override;
  void all_reduce_sum(double* data, int64_t count) override;
  void all_reduce_max(double* data, int64_t count) override;
  void start_all_reduce_sum(float* data, int64_t count) override;
  void progress() override;
  void wait_all() override;
  void reduce_scatter_sum(const float* send, float* recv,
                          const std::vector<int64_t>& counts) override;
  void all_gather(const float* send, float* recv, const std::vector<int64_t>& counts) override;
  void broadcast(void* data, int64_t bytes, int root) override;
  void barrier() override;

  // Ends every rank of the job now (after an error on this rank).
  [[noreturn]] static void abort_job(int exit_code);

 private:
  void all_reduce(void* data, int64_t count, MPI_Datatype type, MPI_Op op, const char* what);
  // Polls `requests` until all complete; past the timeout throws CommError naming `what`.
  void wait_for(std::vector<MPI_Request>& requests, const char* what);
  void check(int mpi_status, const char* what);
  // Naming the rank that hangs a job: a rank that has waited half the timeout in a collective
  // tells rank 0 so ("I am waiting in collective #n"); when rank 0 times out, the ranks that
  // sent no such note for its collective are the ones that never arrived. Healthy jobs send
  // nothing.
  void post_arrival_receives();
  void poll_arrivals();
  void announce_waiting();
  std::string laggards() const;

  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool we_initialised_ = false;
  MPI_Comm comm_ = MPI_COMM_NULL;     // collectives
  MPI_Comm notes_ = MPI_COMM_NULL;    // arrival notes, apart from the collectives
  std::vector<MPI_Request> pending_;  // started by start_all_reduce_sum
  const char* pending_what_ = "gradient all-reduce";
  int64_t collectives_started_ = 0;  // the same sequence on every rank
  int64_t announced_ = -1;           // last collective number this rank reported waiting in
  // Notes this rank sent (buffers stay alive until their sends complete).
  std::vector<std::unique_ptr<int64_t>> sent_notes_;
  std::vector<MPI_Request> sent_requests_;
  // Set once a collective failed: requests may still be live with dead peers, so the
  // destructor neither waits for them nor finalises (the process must exit or abort).
  bool broken_ = false;
  // Rank 0 only: per peer, the collective number its last note named, and the pending receive.
  std::vector<int64_t> peer_waiting_in_;
  std::vector<int64_t> incoming_;
  std::vector<MPI_Request> arrival_requests_;
};

}  // namespace cf::trainer::comm
