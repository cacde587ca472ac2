#include "trainer/comm/world.h"

#include <cstdlib>
#include <string>

#ifdef CARTFORMER_HAVE_MPI
#include "trainer/comm/mpi_comm.h"
#endif

namespace cf::trainer::comm {
namespace {

bool read_int_env(const char* name, int& out) {
  const char* value = std::getenv(name);
  if (!value || !*value) return false;
  out = std::atoi(value);
  return true;
}

}  // namespace

LaunchInfo launch_info_from_env() {
  LaunchInfo info;
  // Open MPI's mpirun, then PMI/PMIx launchers (srun --mpi=pmi2|pmix, MPICH's hydra).
  const char* rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
  const char* size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"};
  for (const char* v : rank_vars) {
    if (read_int_env(v, info.rank)) {
      info.under_mpi_launcher = true;
      break;
    }
  }
  if (info.under_mpi_launcher) {
    for (const char* v : size_vars) {
      if (read_int_env(v, info.world_size)) break;
    }
  }
  return info;
}

std::unique_ptr<Communicator> open_world() {
  LaunchInfo info = launch_info_from_env();
#ifdef CARTFORMER_HAVE_MPI
  if (info.under_mpi_launcher) return std::make_unique<MpiComm>();
#else
  if (info.under_mpi_launcher && info.world_size > 1) {
    throw UserError("launched as " + std::to_string(info.world_size) +
                    " ranks, but this build has no MPI support (configure with "
                    "-DCARTFORMER_MPI=ON and install Open MPI)");
  }
#endif
  return std::make_unique<LocalComm>();
}

void abort_world(int exit_code) {
#ifdef CARTFORMER_HAVE_MPI
  MpiComm::abort_job(exit_code);
#else
  std::_Exit(exit_code);
#endif
}

}  // namespace cf::trainer::comm
