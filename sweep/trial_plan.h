// Trial plan: which combinations of the swept values a sweep trains, in which order, under
// which ids. The whole grid (the cartesian product of the axes), or N distinct combinations
// drawn at random from it. A pure function of the axes (and the seed): every rank of a job and
// every rerun of the command computes the same plan.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sweep/sweep_axes.h"

namespace cf::sweep {

struct Trial {
  std::string id;                   // "t000", "t001", ...: plan order
  std::vector<std::string> values;  // one per axis, in axis order
};

enum class PlanKind { kGrid, kRandom };

struct TrialPlan {
  PlanKind kind = PlanKind::kGrid;
  int64_t random_trials = 0;  // kRandom: the N asked for (the plan holds min(N, grid size))
  uint64_t random_seed = 0;   // kRandom
  std::vector<SweepAxis> axes;
  std::vector<Trial> trials;

  // The trial's values as --set style assignments: {"train.lr=0.001", ...}.
  std::vector<std::string> assignments(const Trial& trial) const;
  // "train.lr=0.001 model.dropout=0.1": the trial for messages.
  std::string describe(const Trial& trial) const;
};

// The largest plan a sweep makes: beyond it a grid is refused (use --random N).
inline constexpr uint64_t kMaxTrials = 100000;

// Combinations in the grid of `axes` (the product of their sizes), UINT64_MAX past 64 bits.
uint64_t grid_size(const std::vector<SweepAxis>& axes);

// Every combination, in the order of nested loops over the axes as given: the first axis
// varies slowest, the last fastest. UserError beyond kMaxTrials combinations.
TrialPlan grid_plan(const std::vector<SweepAxis>& axes);

// `count` distinct combinations (all of them when `count` >= the grid size), each value of
// each axis drawn uniformly and a repeat drawn again, so every combination is equally likely;
// in draw order. A pure function of (axes, count, seed). UserError when count < 1.
TrialPlan random_plan(const std::vector<SweepAxis>& axes, int64_t count, uint64_t seed);

// "t007": the id of the trial at `index` of `count`, zero-padded to at least 3 digits and to
// the digits of count - 1, so the ids sort in plan order.
std::string trial_id(size_t index, size_t count);

}  // namespace cf::sweep
