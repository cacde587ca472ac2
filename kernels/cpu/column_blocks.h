// Fixed-width column blocks: the unit of work for deterministic reductions over rows.
#pragma once

namespace cf::ops::cpu {

// Reductions over rows (weight and bias gradients, scatter-adds into tables) give each thread
// whole column blocks and walk the rows in order inside them, so every output element is summed
// in the same order whatever the number of threads: results are bitwise reproducible without
// atomics. 16 floats = one cache line.
constexpr int kColumnBlock = 16;

inline int column_block_count(int columns) { return (columns + kColumnBlock - 1) / kColumnBlock; }

}  // namespace cf::ops::cpu
