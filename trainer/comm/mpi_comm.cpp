#include "trainer/comm/mpi_comm.h"

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace cf::trainer::comm {
namespace {

constexpr int kArrivalTag = 7001;
// MPI counts are int: larger buffers go in pieces of this many elements.
constexpr int64_t kMaxPiece = int64_t(1) << 30;

int as_int_count(int64_t n, const char* what) {
  if (n < 0 || n > INT_MAX)
    throw CommError(std::string(what) + ": part of " + std::to_string(n) +
                    " elements exceeds MPI's int count");
  return int(n);
}

// MPI's displacements are int too: the whole vector must fit, not just each part.
void check_total(const std::vector<int64_t>& counts, const char* what) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  as_int_count(total, what);
}

std::vector<int> displacements(const std::vector<int>& counts) {
  std::vector<int> d(counts.size(), 0);
  for (size_t i = 1; i < counts.size(); ++i) d[i] = d[i - 1] + counts[i - 1];
  return d;
}

}  // namespace

MpiComm::MpiComm() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    we_initialised_ = true;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
  check(MPI_Comm_dup(MPI_COMM_WORLD, &notes_), "MPI_Comm_dup");
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_free(&node);
  if (rank_ == 0) post_arrival_receives();
}

MpiComm::~MpiComm() {
  if (broken_) return;  // see broken_: the process is about to exit or abort anyway
  // Notes already sent complete locally (tiny, eager); give any straggler a moment.
  for (int tries = 0; tries < 1000 && !sent_requests_.empty(); ++tries) {
    int done = 0;
    MPI_Testall(int(sent_requests_.size()), sent_requests_.data(), &done, MPI_STATUSES_IGNORE);
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& r : sent_requests_) {
    if (r != MPI_REQUEST_NULL) MPI_Cancel(&r), MPI_Request_free(&r);
  }
  for (auto& r : arrival_requests_) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  for (auto& r : pending_) {
    if (r != MPI_REQUEST_NULL) MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  if (notes_ != MPI_COMM_NULL) MPI_Comm_free(&notes_);
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (we_initialised_ && !finalized) MPI_Finalize();
}

void MpiComm::abort_job(int exit_code) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

void MpiComm::check(int mpi_status, const char* what) {
  if (mpi_status == MPI_SUCCESS) return;
  broken_ = true;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(mpi_status, text, &len);
  throw CommError("rank " + std::to_string(rank_) + ": " + what + " failed at step " +
                  std::to_string(step_) + ": " + std::string(text, size_t(len)));
}

void MpiComm::post_arrival_receives() {
  peer_waiting_in_.assign(size_t(size_), -1);
  incoming_.assign(size_t(size_), -1);
  arrival_requests_.assign(size_t(size_), MPI_REQUEST_NULL);
  for (int peer = 1; peer < size_; ++peer) {
    check(MPI_Irecv(&incoming_[size_t(peer)], 1, MPI_INT64_T, peer, kArrivalTag, notes_,
                    &arrival_requests_[size_t(peer)]),
          "MPI_Irecv");
  }
}

void MpiComm::poll_arrivals() {
  if (rank_ != 0) return;
  for (int peer = 1; peer < size_; ++peer) {
    MPI_Request& r = arrival_requests_[size_t(peer)];
    while (r != MPI_REQUEST_NULL) {  // drain every note already here
      int done = 0;
      check(MPI_Test(&r, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (!done) break;
      peer_waiting_in_[size_t(peer)] = incoming_[size_t(peer)];
      check(MPI_Irecv(&incoming_[size_t(peer)], 1, MPI_INT64_T, peer, kArrivalTag, notes_, &r),
            "MPI_Irecv");
    }
  }
}

void MpiComm::announce_waiting() {
  if (rank_ == 0 || announced_ == collectives_started_) return;
  announced_ = collectives_started_;
  sent_notes_.push_back(std::make_unique<int64_t>(collectives_started_));
  sent_requests_.emplace_back();
  check(MPI_Isend(sent_notes_.back().get(), 1, MPI_INT64_T, 0, kArrivalTag, notes_,
                  &sent_requests_.back()),
        "MPI_Isend");
}

std::string MpiComm::laggards() const {
  std::string out;
  for (int peer = 1; peer < size_; ++peer) {
    if (peer_waiting_in_[size_t(peer)] >= collectives_started_) continue;
    out += (out.empty() ? "rank " : ", rank ") + std::to_string(peer);
  }
  return out;
}

void MpiComm::wait_for(std::vector<MPI_Request>& requests, const char* what) {
  if (requests.empty()) return;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  int spins = 0;
  for (;;) {
    int done = 0;
    check(MPI_Testall(int(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE), what);
    if (done) break;
    poll_arrivals();
    double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (timeout_seconds_ > 0 && waited > timeout_seconds_ / 2) announce_waiting();
    if (timeout_seconds_ > 0 && waited > timeout_seconds_) {
      broken_ = true;
      std::string who = rank_ == 0 ? laggards() : "";
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.0f", timeout_seconds_);
      throw CommError("rank " + std::to_string(rank_) + ": " + what + " at step " +
                      std::to_string(step_) + " got no answer within " + secs +
                      " s (comm.timeout_s): " +
                      (who.empty() ? std::string("another rank died or is stuck")
                                   : who + " never arrived: it died or is stuck"));
    }
    // Spin briefly (collectives of a healthy job finish in microseconds), then back off so a
    // waiting rank does not steal a core from the ranks still computing.
    if (++spins > 200)
      std::this_thread::sleep_for(std::chrono::microseconds(spins > 2000 ? 500 : 20));
  }
  requests.clear();
  timers_.wait_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  timers_.collectives += 1;
}

void MpiComm::all_reduce(void* data, int64_t count, MPI_Datatype type, MPI_Op op,
                         const char* what) {
  int type_size = 0;
  MPI_Type_size(type, &type_size);
  std::vector<MPI_Request> requests;
  for (int64_t first = 0; first < count; first += kMaxPiece) {
    int n = int(std::min(kMaxPiece, count - first));
    requests.emplace_back();
    ++collectives_started_;
    check(MPI_Iallreduce(MPI_IN_PLACE, static_cast<char*>(data) + first * type_size, n, type, op,
                         comm_, &requests.back()),
          what);
  }
  wait_for(requests, what);
}

void MpiComm::all_reduce_sum(float* data, int64_t count) {
  all_reduce(data, count, MPI_FLOAT, MPI_SUM, "all-reduce");
}
void MpiComm::all_reduce_sum(double* data, int64_t count) {
  all_reduce(data, count, MPI_DOUBLE, MPI_SUM, "all-reduce");
}
void MpiComm::all_reduce_max(double* data, int64_t count) {
  all_reduce(data, count, MPI_DOUBLE, MPI_MAX, "all-reduce (max)");
}

void MpiComm::start_all_reduce_sum(float* data, int64_t count) {
  for (int64_t first = 0; first < count; first += kMaxPiece) {
    int n = int(std::min(kMaxPiece, count - first));
    pending_.emplace_back();
    ++collectives_started_;
    check(
        MPI_Iallreduce(MPI_IN_PLACE, data + first, n, MPI_FLOAT, MPI_SUM, comm_, &pending_.back()),
        "gradient all-reduce");
  }
}

void MpiComm::progress() {
  if (pending_.empty()) return;
  int done = 0;
  check(MPI_Testall(int(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE),
        "gradient all-reduce");
}

void MpiComm::wait_all() { wait_for(pending_, pending_what_); }

void MpiComm::reduce_scatter_sum(const float* send, float* recv,
                                 const std::vector<int64_t>& counts) {
  std::vector<int> n(counts.size());
  check_total(counts, "reduce-scatter");
  for (size_t i = 0; i < counts.size(); ++i) n[i] = as_int_count(counts[i], "reduce-scatter");
  std::vector<MPI_Request> requests(1);
  ++collectives_started_;
  check(MPI_Ireduce_scatter(send, recv, n.data(), MPI_FLOAT, MPI_SUM, comm_, &requests[0]),
        "reduce-scatter");
  wait_for(requests, "reduce-scatter");
}

void MpiComm::all_gather(const float* send, float* recv, const std::vector<int64_t>& counts) {
  std::vector<int> n(counts.size());
  check_total(counts, "all-gather");
  for (size_t i = 0; i < counts.size(); ++i) n[i] = as_int_count(counts[i], "all-gather");
  std::vector<int> displ = displacements(n);
  const bool in_place = send == recv + displ[size_t(rank_)];
  std::vector<MPI_Request> requests(1);
  ++collectives_started_;
  check(MPI_Iallgatherv(in_place ? MPI_IN_PLACE : send, n[size_t(rank_)], MPI_FLOAT, recv, n.data(),
                        displ.data(), MPI_FLOAT, comm_, &requests[0]),
        "all-gather");
  wait_for(requests, "all-gather");
}

void MpiComm::broadcast(void* data, int64_t bytes, int root) {
  std::vector<MPI_Request> requests;
  for (int64_t first = 0; first < bytes; first += kMaxPiece) {
    int n = int(std::min(kMaxPiece, bytes - first));
    requests.emplace_back();
    ++collectives_started_;
    check(MPI_Ibcast(static_cast<char*>(data) + first, n, MPI_BYTE, root, comm_, &requests.back()),
          "broadcast");
  }
  wait_for(requests, "broadcast");
}

void MpiComm::barrier() {
  std::vector<MPI_Request> requests(1);
  ++collectives_started_;
  check(MPI_Ibarrier(comm_, &requests[0]), "barrier");
  wait_for(requests, "barrier");
}

}  // namespace cf::trainer::comm
