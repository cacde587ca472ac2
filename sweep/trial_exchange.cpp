#include "sweep/trial_exchange.h"

#include "core/error.h"
#include "core/json.h"
#include "core/sha256.h"
#include "trainer/comm/rank_zero.h"

namespace cf::sweep {
namespace {

std::string results_text(const std::vector<TrialResult>& results) {
  Json list = Json::array();
  for (const TrialResult& r : results) list.push_back(trial_result_to_json(r));
  return list.dump();
}

std::vector<TrialResult> results_of_text(const std::string& text, const std::string& origin) {
  std::vector<TrialResult> out;
  for (const Json& j : Json::parse(text)) out.push_back(trial_result_from_json(j, origin));
  return out;
}

// `text` from rank `root` to every rank.
void broadcast_text(trainer::comm::Communicator& comm, std::string& text, int root) {
  int64_t size = int64_t(text.size());
  comm.broadcast(&size, sizeof size, root);
  text.resize(size_t(size));
  if (size > 0) comm.broadcast(text.data(), size, root);
}

}  // namespace

std::vector<size_t> trials_of_rank(size_t pending, int rank, int world_size) {
  std::vector<size_t> mine;
  for (size_t i = size_t(rank); i < pending; i += size_t(world_size)) mine.push_back(i);
  return mine;
}

void require_same_plan_on_all_ranks(trainer::comm::Communicator& comm,
                                    const std::string& plan_text) {
  if (comm.world_size() == 1) return;
  const std::string mine = sha256_hex(plan_text);
  std::string rank0 = mine;
  trainer::comm::broadcast_string(comm, rank0);
  double differs = rank0 != mine ? 1.0 : 0.0;
  comm.all_reduce_max(&differs, 1);
  if (differs > 0) {
    throw UserError(
        "the ranks planned different sweeps (different config files or corpora on different "
        "hosts?); every rank must see the same inputs");
  }
}

void broadcast_results(trainer::comm::Communicator& comm, std::vector<TrialResult>& results) {
  if (comm.world_size() == 1) return;
  std::vector<TrialResult> recorded;  // pending ones are only placeholders
  for (const TrialResult& r : results) {
    if (r.status != TrialStatus::kPending) recorded.push_back(r);
  }
  std::string text = comm.rank() == 0 ? results_text(recorded) : "";
  trainer::comm::broadcast_string(comm, text);
  if (comm.rank() == 0) return;
  for (TrialResult& r : results_of_text(text, "rank 0's results")) {
    for (TrialResult& slot : results) {
      if (slot.id == r.id) slot = r;
    }
  }
}

std::vector<TrialResult> gather_results(trainer::comm::Communicator& comm,
                                        const std::vector<TrialResult>& mine) {
  if (comm.world_size() == 1) return mine;
  const double timeout = comm.timeout();
  comm.set_timeout(0);  // the ranks arrive as their trials finish, hours apart perhaps
  std::vector<TrialResult> all = comm.rank() == 0 ? mine : std::vector<TrialResult>{};
  for (int root = 1; root < comm.world_size(); ++root) {
    std::string text = comm.rank() == root ? results_text(mine) : "";
    broadcast_text(comm, text, root);
    if (comm.rank() == 0) {
      for (TrialResult& r : results_of_text(text, "rank " + std::to_string(root) + "'s results")) {
        all.push_back(std::move(r));
      }
    }
  }
  comm.set_timeout(timeout);
  return comm.rank() == 0 ? all : mine;
}

}  // namespace cf::sweep
