// Batch filling (truncation, padding, targets) and the global sample order of BatchSampler.
#include "data/batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"

namespace cf::data {
namespace {

Sequence make_sequence(int64_t index, int length) {
  Sequence s;
  s.index = index;
  for (int e = 0; e < length; ++e) {
    s.item.push_back(100 + e);
    s.action.push_back(1 + e % 4);
    s.category.push_back(10 + e);
    s.time_gap.push_back(e == 0 ? 1 : 2 + e % 10);
    s.activity.push_back(e % 2);
    s.timestamp.push_back(1000 + e);
    s.purchase.push_back(0);
  }
  return s;
}

std::vector<int32_t> row_of(const std::vector<int32_t>& cells, const Batch& b, int r) {
  return std::vector<int32_t>(cells.begin() + r * b.T, cells.begin() + (r + 1) * b.T);
}

TEST(Batch, ResizeZeroFillsEveryField) {
  Batch b;
  b.resize(2, 3);
  b.item[4] = 9;
  b.length[1] = 3;
  b.label[0] = 1;
  b.resize(3, 4);
  EXPECT_EQ(b.B, 3);
  EXPECT_EQ(b.T, 4);
  for (const auto* cells : {&b.item, &b.action, &b.category, &b.time_gap, &b.activity,
                            &b.target_item, &b.target_action}) {
    EXPECT_EQ(*cells, std::vector<int32_t>(12, 0));
  }
  EXPECT_EQ(b.length, std::vector<int32_t>(3, 0));
  EXPECT_EQ(b.label, std::vector<float>(3, 0.0f));
  EXPECT_EQ(b.sequence_index, std::vector<int64_t>(3, 0));
  EXPECT_EQ(b.num_targets(), 0);
}

TEST(Batch, ShortSequenceIsRightPaddedWithNextEventTargets) {
  Batch b;
  b.resize(1, 6);
  Sequence s = make_sequence(7, 4);
  fill_batch_row(b, 0, s, 4, /*train_targets=*/true);
  EXPECT_EQ(row_of(b.item, b, 0), (std::vector<int32_t>{100, 101, 102, 103, 0, 0}));
  EXPECT_EQ(row_of(b.category, b, 0), (std::vector<int32_t>{10, 11, 12, 13, 0, 0}));
  EXPECT_EQ(row_of(b.action, b, 0), (std::vector<int32_t>{1, 2, 3, 4, 0, 0}));
  EXPECT_EQ(row_of(b.time_gap, b, 0), (std::vector<int32_t>{1, 3, 4, 5, 0, 0}));
  EXPECT_EQ(row_of(b.activity, b, 0), (std::vector<int32_t>{0, 1, 0, 1, 0, 0}));
  EXPECT_EQ(row_of(b.target_item, b, 0), (std::vector<int32_t>{101, 102, 103, 0, 0, 0}));
  EXPECT_EQ(row_of(b.target_action, b, 0), (std::vector<int32_t>{2, 3, 4, 0, 0, 0}));
  EXPECT_EQ(b.length[0], 4);
  EXPECT_EQ(b.sequence_index[0], 7);
  EXPECT_EQ(b.label[0], -1.0f);
  EXPECT_EQ(b.num_targets(), 3);
}

TEST(Batch, LongSequenceKeepsTheLastEventsBeforeTheVisibleEnd) {
  Batch b;
  b.resize(2, 3);
  Sequence s = make_sequence(1, 10);
  // Only the first 8 events are visible (e.g. LOO training); the last 3 of those are kept.
  fill_batch_row(b, 1, s, 8, true);
  EXPECT_EQ(row_of(b.item, b, 1), (std::vector<int32_t>{105, 106, 107}));
  EXPECT_EQ(row_of(b.target_item, b, 1), (std::vector<int32_t>{106, 107, 0}));
  EXPECT_EQ(b.length[1], 3);
  EXPECT_EQ(row_of(b.item, b, 0), (std::vector<int32_t>{0, 0, 0}));  // row 0 untouched
}

TEST(Batch, InferenceRowsHaveNoTargetsAndRefillClearsOldValues) {
  Batch b;
  b.resize(1, 5);
  fill_batch_row(b, 0, make_sequence(1, 5), 5, true);
  fill_batch_row(b, 0, make_sequence(2, 5), 2, false);
  EXPECT_EQ(row_of(b.item, b, 0), (std::vector<int32_t>{100, 101, 0, 0, 0}));
  EXPECT_EQ(row_of(b.target_item, b, 0), std::vector<int32_t>(5, 0));
  EXPECT_EQ(b.length[0], 2);
  EXPECT_EQ(b.sequence_index[0], 2);
  fill_batch_row(b, 0, make_sequence(3, 5), 0, true);
  EXPECT_EQ(row_of(b.item, b, 0), std::vector<int32_t>(5, 0));
  EXPECT_EQ(b.length[0], 0);
}

std::vector<int64_t> range_ids(int64_t n) {
  std::vector<int64_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = i;
  return ids;
}

TEST(BatchSampler, EpochOrderMatchesAnIndependentReference) {
  // Values from a separate Python implementation of splitmix64 + xoshiro256** + Fisher-Yates
  // with the same seeding; a change here would silently break resuming old runs.
  BatchSampler a(range_ids(10), 42, 4);
  EXPECT_EQ(a.epoch_order(0), (std::vector<int64_t>{9, 3, 4, 2, 6, 0, 8, 1, 5, 7}));
  EXPECT_EQ(a.epoch_order(1), (std::vector<int64_t>{4, 0, 9, 2, 7, 8, 1, 3, 6, 5}));
  BatchSampler b({42, 3, 23, 8, 16, 15}, 2024, 2);  // listed unsorted on purpose
  EXPECT_EQ(b.epoch_order(5), (std::vector<int64_t>{16, 3, 8, 23, 15, 42}));
}

TEST(BatchSampler, EachEpochIsAPermutationAndEpochsDiffer) {
  BatchSampler s(range_ids(257), 7, 16);
  std::set<std::vector<int64_t>> seen;
  for (int64_t epoch = 0; epoch < 5; ++epoch) {
    auto order = s.epoch_order(epoch);
    auto sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, range_ids(257)) << "epoch " << epoch;
    seen.insert(order);
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_NE(BatchSampler(range_ids(257), 8, 16).epoch_order(0), s.epoch_order(0));
}

TEST(BatchSampler, GlobalBatchesCutTheConcatenatedEpochStream) {
  const int64_t n = 10;
  const int g = 4;
  BatchSampler s(range_ids(n), 99, g);
  EXPECT_EQ(s.steps_per_epoch(), 3);
  EXPECT_EQ(s.global_batch_size(), 4);
  std::vector<int64_t> stream;
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    auto order = s.epoch_order(epoch);
    stream.insert(stream.end(), order.begin(), order.end());
  }
  for (int64_t step = 0; step < 9; ++step) {
    std::vector<int64_t> expected(stream.begin() + step * g, stream.begin() + (step + 1) * g);
    EXPECT_EQ(s.global_batch(step), expected) << "step " << step;
  }
  // Step 2 covers positions 8..11: the end of epoch 0 and the start of epoch 1.
  auto e0 = s.epoch_order(0), e1 = s.epoch_order(1);
  EXPECT_EQ(s.global_batch(2), (std::vector<int64_t>{e0[8], e0[9], e1[0], e1[1]}));
}

TEST(BatchSampler, BatchLargerThanTheDataSpansSeveralEpochs) {
  BatchSampler s(range_ids(3), 5, 7);
  auto e0 = s.epoch_order(0), e1 = s.epoch_order(1), e2 = s.epoch_order(2);
  EXPECT_EQ(s.global_batch(0),
            (std::vector<int64_t>{e0[0], e0[1], e0[2], e1[0], e1[1], e1[2], e2[0]}));
  EXPECT_EQ(s.steps_per_epoch(), 1);
}

TEST(BatchSampler, IsAPureFunctionIndependentOfCallOrderAndCopies) {
  BatchSampler forward(range_ids(50), 3, 8);
  std::vector<std::vector<int64_t>> in_order;
  for (int64_t step = 0; step < 20; ++step) in_order.push_back(forward.global_batch(step));
  BatchSampler backward(range_ids(50), 3, 8);
  for (int64_t step = 19; step >= 0; --step) {
    EXPECT_EQ(backward.global_batch(step), in_order[step]) << "step " << step;
  }
  BatchSampler copy = forward;
  EXPECT_EQ(copy.global_batch(13), in_order[13]);
  EXPECT_EQ(forward.global_batch(2), in_order[2]);
  // The caller's listing order of the eligible ids does not matter.
  std::vector<int64_t> shuffled = range_ids(50);
  std::reverse(shuffled.begin(), shuffled.end());
  EXPECT_EQ(BatchSampler(shuffled, 3, 8).global_batch(7), in_order[7]);
}

TEST(BatchSampler, NoEligibleSequencesIsAUserError) {
  EXPECT_THROW(BatchSampler({}, 1, 4), UserError);
}

}  // namespace
}  // namespace cf::data
