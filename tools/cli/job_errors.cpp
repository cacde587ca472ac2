#include "tools/cli/job_errors.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "core/error.h"
#include "trainer/comm/world.h"

namespace cf::cli {

int run_on_every_rank(const char* command, trainer::comm::Communicator& comm,
                      const std::function<int()>& body) {
  if (comm.world_size() == 1) return body();
  try {
    return body();
  } catch (const std::exception& e) {
    const int rank = comm.rank();
    if (rank != 0) std::this_thread::sleep_for(std::chrono::seconds(2));
    std::string msg = e.what();
    if (rank != 0 && msg.rfind("rank ", 0) != 0) msg = "rank " + std::to_string(rank) + ": " + msg;
    std::fprintf(stderr, "cartformer %s: error: %s\n", command, single_line(msg).c_str());
    std::fflush(stderr);
    trainer::comm::abort_world(1);
  }
}

}  // namespace cf::cli
