// --grid flags: values as given (trimmed), and one clear error per malformed flag.
#include "sweep/sweep_axes.h"

#include <gtest/gtest.h>

#include "unit/user_error_of.h"

namespace cf::sweep {
namespace {

using cf::testing::user_error_of;

TEST(SweepAxes, ParsesKeyAndValuesInOrder) {
  const SweepAxis axis = parse_grid_flag("train.lr=0.003, 0.001 ,1e-4");
  EXPECT_EQ(axis.key, "train.lr");
  EXPECT_EQ(axis.values, (std::vector<std::string>{"0.003", "0.001", "1e-4"}));
  EXPECT_EQ(axis.flag_text(), "--grid train.lr=0.003,0.001,1e-4");
  EXPECT_EQ(parse_grid_flag("model.block=gpt").values, (std::vector<std::string>{"gpt"}));
}

TEST(SweepAxes, RefusesMalformedFlags) {
  EXPECT_EQ(user_error_of([] { parse_grid_flag("train.lr"); }),
            "--grid train.lr: expected key=v1,v2,..., e.g. --grid train.lr=0.001,0.003");
  EXPECT_EQ(user_error_of([] { parse_grid_flag("=1,2"); }),
            "--grid =1,2: expected key=v1,v2,..., e.g. --grid train.lr=0.001,0.003");
  EXPECT_EQ(user_error_of([] { parse_grid_flag("train.lr="); }),
            "--grid train.lr=: empty value list (give at least one value, e.g. --grid "
            "train.lr=a,b)");
  EXPECT_EQ(user_error_of([] { parse_grid_flag("train.lr=0.1,,0.2"); }),
            "--grid train.lr=0.1,,0.2: empty value between commas");
  EXPECT_EQ(user_error_of([] { parse_grid_flag("train.lr=0.1,"); }),
            "--grid train.lr=0.1,: empty value between commas");
  EXPECT_EQ(user_error_of([] { parse_grid_flag("train.lr=0.1,0.2,0.1"); }),
            "--grid train.lr=0.1,0.2,0.1: value '0.1' is listed twice");
}

TEST(SweepAxes, RefusesAKeyGivenTwice) {
  const std::vector<SweepAxis> axes = {parse_grid_flag("train.lr=0.1,0.2"),
                                       parse_grid_flag("model.dropout=0,0.1")};
  require_distinct_keys(axes,
                        {"train.steps=20", "train.steps=30"});  // later --set wins, as in train
  EXPECT_EQ(user_error_of([&] {
              require_distinct_keys({axes[0], axes[1], parse_grid_flag("train.lr=0.3")}, {});
            }),
            "--grid train.lr=0.3: key 'train.lr' is given twice (also --grid train.lr=0.1,0.2); "
            "put all its values on one --grid flag");
  EXPECT_EQ(user_error_of([&] { require_distinct_keys(axes, {"model.dropout=0.2"}); }),
            "--set model.dropout=0.2: key 'model.dropout' is given twice (also --grid "
            "model.dropout=0,0.1); a swept key takes its values from --grid");
  EXPECT_EQ(user_error_of([&] { require_distinct_keys({parse_grid_flag("run.out_dir=a,b")}, {}); }),
            "--grid run.out_dir=a,b: the sweep sets run.out_dir itself (<--out-dir>/trials/<trial "
            "id>)");
  EXPECT_EQ(user_error_of([&] { require_distinct_keys(axes, {"run.out_dir=x"}); }),
            "--set run.out_dir=x: the sweep sets run.out_dir itself (<--out-dir>/trials/<trial "
            "id>)");
}

}  // namespace
}  // namespace cf::sweep
