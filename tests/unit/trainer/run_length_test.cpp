#include "trainer/run_length.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "unit/user_error_of.h"

namespace cf::trainer {
namespace {

Config config_with(const std::vector<std::string>& overrides) {
  return parse_config("data:\n  corpus: c.h5\n", "configs/x.yaml", overrides);
}

TEST(RunLength, StepsOrEpochsTimesStepsPerEpoch) {
  EXPECT_EQ(run_length_steps(config_with({"train.steps=20"}), 7), 20);
  EXPECT_EQ(run_length_steps(config_with({"train.epochs=3"}), 7), 21);
  EXPECT_EQ(cf::testing::user_error_of(
                [] { run_length_steps(config_with({"train.epochs=4611686018427387904"}), 4); }),
            "configs/x.yaml: key 'train.epochs' (4611686018427387904) x 4 steps per epoch is "
            "more steps than a run can count");
}

TEST(RunLength, ValidationDefaultsToOncePerEpoch) {
  EXPECT_EQ(validation_interval_steps(config_with({}), 38), 38);
  EXPECT_EQ(validation_interval_steps(config_with({"validation.every=5"}), 38), 5);
}

}  // namespace
}  // namespace cf::trainer
