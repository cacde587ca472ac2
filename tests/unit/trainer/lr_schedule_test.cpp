#include "trainer/lr_schedule.h"

#include <gtest/gtest.h>

namespace cf::trainer {
namespace {

TrainSection schedule(LrSchedule kind, int64_t steps, int64_t warmup, float min_ratio) {
  TrainSection t;
  t.schedule = kind;
  t.steps = steps;
  t.warmup_steps = warmup;
  t.lr = 1e-3f;
  t.min_lr_ratio = min_ratio;
  return t;
}

// 10 warmup steps, then 101 decay steps: steps 10..110, the last at index 110 (steps = 111).
TEST(LrSchedule, CosineAtKeySteps) {
  TrainSection t = schedule(LrSchedule::kCosine, 111, 10, 0.1f);
  EXPECT_FLOAT_EQ(lr_at(0, t), 1e-4f);                          // 1/10 of peak
  EXPECT_FLOAT_EQ(lr_at(4, t), 5e-4f);                          // 5/10
  EXPECT_FLOAT_EQ(lr_at(9, t), 1e-3f);                          // warmup reaches peak
  EXPECT_FLOAT_EQ(lr_at(10, t), 1e-3f);                         // decay starts at peak
  EXPECT_FLOAT_EQ(lr_at(60, t), 1e-3f * (0.1f + 0.9f * 0.5f));  // halfway: cos(pi/2) = 0
  EXPECT_FLOAT_EQ(lr_at(35, t), 1e-3f * (0.1f + 0.9f * 0.5f * (1 + 0.70710678f)));  // quarter
  EXPECT_FLOAT_EQ(lr_at(110, t), 1e-4f);  // last step = floor
  EXPECT_FLOAT_EQ(lr_at(500, t), 1e-4f);  // held beyond
}

TEST(LrSchedule, LinearAtKeySteps) {
  TrainSection t = schedule(LrSchedule::kLinear, 111, 10, 0.0f);
  EXPECT_FLOAT_EQ(lr_at(0, t), 1e-4f);
  EXPECT_FLOAT_EQ(lr_at(10, t), 1e-3f);
  EXPECT_FLOAT_EQ(lr_at(60, t), 5e-4f);
  EXPECT_FLOAT_EQ(lr_at(85, t), 2.5e-4f);
  EXPECT_EQ(lr_at(110, t), 0.0f);
}

TEST(LrSchedule, ConstantAndNoWarmup) {
  TrainSection t = schedule(LrSchedule::kConstant, 50, 4, 0.1f);
  EXPECT_FLOAT_EQ(lr_at(0, t), 2.5e-4f);
  EXPECT_FLOAT_EQ(lr_at(3, t), 1e-3f);
  EXPECT_FLOAT_EQ(lr_at(25, t), 1e-3f);
  EXPECT_FLOAT_EQ(lr_at(49, t), 1e-3f);
  TrainSection c = schedule(LrSchedule::kCosine, 5, 0, 0.5f);
  EXPECT_FLOAT_EQ(lr_at(0, c), 1e-3f);  // no warmup: the first step is at peak
  EXPECT_FLOAT_EQ(lr_at(2, c), 7.5e-4f);
  EXPECT_FLOAT_EQ(lr_at(4, c), 5e-4f);
  TrainSection one = schedule(LrSchedule::kCosine, 1, 0, 0.1f);
  EXPECT_FLOAT_EQ(lr_at(0, one), 1e-3f);  // a one-step run still trains at peak
}

}  // namespace
}  // namespace cf::trainer
