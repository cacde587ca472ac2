// World: how this process learns its rank and gets the Communicator for the job it belongs to
// (MPI when an MPI launcher started it, else a single local rank).
#pragma once
#include <memory>

#include "trainer/comm/communicator.h"

namespace cf::trainer::comm {

// Rank and size the launcher (mpirun, srun) put in the environment, readable before MPI is
// initialised; {0, 1} when none did.
struct LaunchInfo {
  int rank = 0, world_size = 1;
  bool under_mpi_launcher = false;
};
LaunchInfo launch_info_from_env();

// MpiComm when started by an MPI launcher (even with one rank, so collectives and aborts work),
// otherwise LocalComm. UserError if the launcher asks for several ranks and this build has no
// MPI.
std::unique_ptr<Communicator> open_world();

// Ends every rank of the job at once with `exit_code` (MPI_Abort under MPI); for an error on
// one rank that the others would otherwise wait for forever.
[[noreturn]] void abort_world(int exit_code);

}  // namespace cf::trainer::comm
