// Rank 0 as the one that touches files: work it does alone whose outcome (an error included)
// every rank shares, and the broadcasts that hand what it read to the others.
#pragma once
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "core/error.h"
#include "trainer/comm/communicator.h"

namespace cf::trainer::comm {

void broadcast_string(Communicator& comm, std::string& s);
// `fixed_size`: the receivers' vector already has its final size (the model's parameters);
// a different size from rank 0 means the ranks built different models (UserError).
void broadcast_floats(Communicator& comm, std::vector<float>& v, bool fixed_size = false);

// Runs `work` on rank 0 only (file system work: checkpoints, metrics) and shares its outcome:
// an error there is raised on every rank as a UserError with the same message, so all ranks
// stop together instead of the others waiting for rank 0 forever.
template <class Work>
void on_rank0(Communicator& comm, Work&& work) {
  std::string error;
  if (comm.rank() == 0) {
    try {
      work();
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
  }
  if (comm.world_size() > 1) {
    // The others wait here while rank 0 does file work (a large checkpoint on slow storage),
    // which is not a stuck peer: allow it far longer than one collective.
    const double timeout = comm.timeout();
    comm.set_timeout(timeout > 0 ? std::max(timeout * 10, 3600.0) : 0);
    broadcast_string(comm, error);
    comm.set_timeout(timeout);
  }
  if (!error.empty()) throw UserError(error);
}

}  // namespace cf::trainer::comm
