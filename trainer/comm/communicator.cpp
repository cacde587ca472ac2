#include "trainer/comm/communicator.h"

#include <algorithm>
#include <cstring>

namespace cf::trainer::comm {

void LocalComm::reduce_scatter_sum(const float* send, float* recv,
                                   const std::vector<int64_t>& counts) {
  if (send != recv) std::memmove(recv, send, sizeof(float) * size_t(counts.at(0)));
}

void LocalComm::all_gather(const float* send, float* recv, const std::vector<int64_t>& counts) {
  if (send != recv) std::memmove(recv, send, sizeof(float) * size_t(counts.at(0)));
}

std::vector<int64_t> even_shard_counts(int64_t n, int parts) {
  std::vector<int64_t> counts(size_t(std::max(parts, 1)), n / std::max(parts, 1));
  for (int64_t r = 0; r < n % std::max(parts, 1); ++r) counts[size_t(r)] += 1;
  return counts;
}

int64_t shard_begin(const std::vector<int64_t>& counts, int part) {
  int64_t begin = 0;
  for (int r = 0; r < part; ++r) begin += counts[size_t(r)];
  return begin;
}

}  // namespace cf::trainer::comm
