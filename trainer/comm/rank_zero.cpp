#include "trainer/comm/rank_zero.h"

namespace cf::trainer::comm {

void broadcast_string(Communicator& comm, std::string& s) {
  int64_t size = int64_t(s.size());
  comm.broadcast(&size, sizeof size, 0);
  s.resize(size_t(size));
  if (size > 0) comm.broadcast(s.data(), size, 0);
}

void broadcast_floats(Communicator& comm, std::vector<float>& v, bool fixed_size) {
  int64_t size = int64_t(v.size());
  comm.broadcast(&size, sizeof size, 0);
  if (fixed_size && size != int64_t(v.size())) {
    throw UserError("rank " + std::to_string(comm.rank()) + ": rank 0 has " + std::to_string(size) +
                    " values where this rank has " + std::to_string(v.size()));
  }
  v.resize(size_t(size));
  if (size > 0) comm.broadcast(v.data(), size * int64_t(sizeof(float)), 0);
}

}  // namespace cf::trainer::comm
