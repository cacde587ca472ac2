// Stop signals of a training command (train, sweep): SIGTERM or SIGUSR1 asks the run to write a
// checkpoint at the next step boundary and exit with kPreemptedExitCode, so a scheduler can
// requeue it and `--resume auto` (or rerunning the sweep) continues where it stopped.
#pragma once

namespace cf::cli {

// EX_TEMPFAIL, "try again later": launch/slurm.sbatch requeues a job that exits with it.
inline constexpr int kPreemptedExitCode = 75;

// Installs the handlers. Call it before anything slow (MPI start-up, reading a config):
// launchers forward SIGUSR1 to every rank at once, and its default action would kill a rank
// that is still starting.
void install_stop_handlers();
// Whether a stop signal has arrived (for TrainHooks::stop_requested).
bool stop_signal_received();

}  // namespace cf::cli
