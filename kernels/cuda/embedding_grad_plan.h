// EmbeddingGradPlan: the rows of a batch grouped by token id, so the embedding backward can give
// each table row to one thread block and sum its rows in a fixed order (deterministic, no
// atomics). Built on the host, where the ids already are when a batch is assembled.
#pragma once
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace cf::cuda {

struct EmbeddingGradPlan {
  std::vector<int32_t> unique_ids;  // ascending
  std::vector<int32_t> offsets;     // rows of unique_ids[u] are rows[offsets[u] .. offsets[u+1])
  std::vector<int32_t> rows;        // row indices n, grouped by id, ascending within an id
};

inline EmbeddingGradPlan make_embedding_grad_plan(const int32_t* ids, int N) {
  EmbeddingGradPlan plan;
  plan.rows.resize(N);
  std::iota(plan.rows.begin(), plan.rows.end(), 0);
  std::stable_sort(plan.rows.begin(), plan.rows.end(),
                   [ids](int32_t x, int32_t y) { return ids[x] < ids[y]; });
  for (int i = 0; i < N; ++i) {
    if (i == 0 || ids[plan.rows[i]] != ids[plan.rows[i - 1]]) {
      plan.unique_ids.push_back(ids[plan.rows[i]]);
      plan.offsets.push_back(i);
    }
  }
  plan.offsets.push_back(N);
  return plan;
}

}  // namespace cf::cuda
