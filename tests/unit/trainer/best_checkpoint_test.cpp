#include "trainer/best_checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "unit/user_error_of.h"

namespace cf::trainer {
namespace {

namespace fs = std::filesystem;

class BestCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        (fs::temp_directory_path() / ("cf_best_mark_test_" + std::to_string(::getpid()))).string();
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string root_;
};

TEST_F(BestCheckpointTest, WrittenMarkReadsBackExactly) {
  EXPECT_FALSE(read_best_mark(root_).has_value());
  const BestCheckpointMark mark{40, "ndcg@10", 0.1 + 1e-17 + 0.0123456789012345};
  write_best_mark(root_, mark);
  EXPECT_EQ(read_best_mark(root_), mark);  // the double round-trips bit for bit
  write_best_mark(root_, {60, "loss", 2.5});
  EXPECT_EQ(read_best_mark(root_)->step, 60);
  for (const auto& entry : fs::directory_iterator(root_)) {
    EXPECT_EQ(entry.path().filename(), "best.json");  // no temporary left behind
  }
}

TEST_F(BestCheckpointTest, MalformedMarkIsNamed) {
  std::ofstream(best_mark_path(root_)) << "{\"step\": \"forty\", \"metric\": \"x\", \"value\": 1}";
  EXPECT_EQ(
      cf::testing::user_error_of([&] { read_best_mark(root_); }),
      best_mark_path(root_) + ": malformed best-checkpoint mark (needs step, metric and value)");
}

}  // namespace
}  // namespace cf::trainer
