// Errors in a command that runs on every rank of an MPI job (train, sweep).
#pragma once
#include <functional>

#include "trainer/comm/communicator.h"

namespace cf::cli {

// Runs `body` and returns its exit code. On one rank an error propagates to main() as usual.
// On several, an error on any rank must end all of them (the others would wait in their next
// collective): the rank prints "cartformer <command>: error: ..." and aborts the job. When
// every rank fails alike (a bad config), rank 0 reports and ends the job first; a rank that
// fails alone still reports, a moment later, naming itself.
int run_on_every_rank(const char* command, trainer::comm::Communicator& comm,
                      const std::function<int()>& body);

}  // namespace cf::cli
