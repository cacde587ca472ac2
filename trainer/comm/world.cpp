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
  int slurm_tasks = 1;
  if (!info.under_mpi_launcher && read_int_env("SLURM_STEP_NUM_TASKS", slurm_tasks) &&
      slurm_tasks > 1 && std::getenv("SLURM_PROCID")) {
    // srun without an MPI plugin: N copies that do not know of each other would each train
    // alone and overwrite each other's checkpoints.
    throw UserError("started by srun as one of " + std::to_string(slurm_tasks) +
                    " tasks without MPI (no PMI/PMIx environment): use srun --mpi=pmix, or "
                    "mpirun inside the allocation");
  }
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
