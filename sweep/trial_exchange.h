// Trial exchange: how the ranks of an MPI job share a sweep. Every rank computes the same plan;
// the pending trials are dealt round robin in plan order (rank r trains the r-th, (r+R)-th, ...),
// each trained alone on its rank; rank 0, which reads and writes the sweep directory, hands the
// results recorded earlier to every rank and collects the new ones. Since each trial trains on
// one rank whatever the number of ranks, its result does not depend on it.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "sweep/trial_result.h"
#include "trainer/comm/communicator.h"

namespace cf::sweep {

// The positions in a list of `pending` trials that `rank` of `world_size` trains.
std::vector<size_t> trials_of_rank(size_t pending, int rank, int world_size);

// UserError on every rank unless every rank planned the same sweep (`plan_text`: the plan as
// plan.json would hold it): different config files on different hosts would otherwise train
// and compare different things under the same trial ids. Collective.
void require_same_plan_on_all_ranks(trainer::comm::Communicator& comm,
                                    const std::string& plan_text);

// Rank 0's recorded (done or failed) results in `results` on every rank, each in the slot of
// its trial id. Collective.
void broadcast_results(trainer::comm::Communicator& comm, std::vector<TrialResult>& results);

// Every rank's `mine`, in rank order, on rank 0 (the other ranks get theirs back). Collective,
// and it waits as long as the slowest rank trains: no comm.timeout_s applies here.
std::vector<TrialResult> gather_results(trainer::comm::Communicator& comm,
                                        const std::vector<TrialResult>& mine);

}  // namespace cf::sweep
