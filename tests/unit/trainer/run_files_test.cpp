// Run files (metrics.jsonl upkeep, cleanup after a failed run), the step shape and the memory
// estimate against values worked out by hand or counted from a real model.
#include "trainer/run_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "trainer/memory_estimate.h"
#include "trainer/model/activation_arena.h"
#include "trainer/model/model.h"
#include "trainer/run_setup.h"
#include "unit/user_error_of.h"

namespace cf::trainer {
namespace {
namespace fs = std::filesystem;
using cf::testing::user_error_of;

class RunFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("cf_run_files_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::string dir_;
};

TEST_F(RunFilesTest, MetricsAreCutBeforeTheFirstRowPastTheStep) {
  const std::string rows = "{\"step\":5,\"loss\":1}\n{\"step\":10,\"loss\":0.9}\n";
  const std::string path = write("m.jsonl", rows + "{\"step\":15,\"loss\":0.8}\n{\"step\":20}\n");
  truncate_metrics_after(path, 10);
  EXPECT_EQ(read(path), rows);
  truncate_metrics_after(path, 10);  // nothing more to cut
  EXPECT_EQ(read(path), rows);
  truncate_metrics_after(path, 0);
  EXPECT_EQ(read(path), "");
}

TEST_F(RunFilesTest, ARowCutShortOrMalformedEndsTheKeptPart) {
  const std::string good = "{\"step\":1}\n";
  const std::string cut_short = write("short.jsonl", good + "{\"step\":2,\"lo");
  truncate_metrics_after(cut_short, 100);
  EXPECT_EQ(read(cut_short), good);
  const std::string malformed = write("bad.jsonl", good + "not json\n{\"step\":3}\n");
  truncate_metrics_after(malformed, 100);
  EXPECT_EQ(read(malformed), good);
  const std::string no_step = write("nostep.jsonl", good + "{\"loss\":1}\n");
  truncate_metrics_after(no_step, 100);
  EXPECT_EQ(read(no_step), good);
}

TEST_F(RunFilesTest, AMissingMetricsFileStaysMissing) {
  truncate_metrics_after(dir_ + "/none.jsonl", 3);
  EXPECT_FALSE(fs::exists(dir_ + "/none.jsonl"));
}

TEST_F(RunFilesTest, AbandoningARunWithoutCheckpointsRemovesWhatItWrote) {
  Config config = parse_config("data:\n  corpus: c.h5\n", "t.yaml");
  const std::string out = dir_ + "/run";
  RunFiles files(out);
  files.start(config, Json{{"world_size", 1}}, 0);
  files.append_metrics(Json{{"step", 1}});
  fs::create_directories(files.checkpoints_root());
  files.abandon(-1);
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(RunFilesTest, AbandoningKeepsTheUsersFilesAndAnExistingFolder) {
  Config config = parse_config("data:\n  corpus: c.h5\n", "t.yaml");
  const std::string notes = write("notes.txt", "mine");
  RunFiles files(dir_);
  files.start(config, Json{{"world_size", 1}}, 0);
  files.abandon(-1);
  EXPECT_TRUE(fs::exists(notes));
  EXPECT_FALSE(fs::exists(dir_ + "/metrics.jsonl"));
  EXPECT_FALSE(fs::exists(dir_ + "/config.resolved.yaml"));
  EXPECT_FALSE(fs::exists(dir_ + "/run.json"));
}

TEST_F(RunFilesTest, AbandoningAfterACheckpointKeepsItsRowsOnly) {
  Config config = parse_config("data:\n  corpus: c.h5\n", "t.yaml");
  RunFiles files(dir_);
  files.start(config, Json{{"world_size", 1}}, 0);
  for (int step = 1; step <= 4; ++step) files.append_metrics(Json{{"step", step}});
  files.abandon(2);
  EXPECT_EQ(read(dir_ + "/metrics.jsonl"), "{\"step\":1}\n{\"step\":2}\n");
  EXPECT_TRUE(fs::exists(dir_ + "/config.resolved.yaml"));
}

TEST_F(RunFilesTest, StartingAtAStepDropsLaterRows) {
  Config config = parse_config("data:\n  corpus: c.h5\n", "t.yaml");
  write("metrics.jsonl", "{\"step\":10}\n{\"step\":20}\n{\"step\":25}\n");
  RunFiles files(dir_);
  files.start(config, Json{{"world_size", 1}}, 20);
  EXPECT_EQ(read(dir_ + "/metrics.jsonl"), "{\"step\":10}\n{\"step\":20}\n");
}

TEST(StepShape, GlobalBatchSetsTheMicroBatchesPerRank) {
  Config config = parse_config(
      "data:\n  corpus: c.h5\ntrain:\n  micro_batch: 8\n  global_batch: 64\n", "t.yaml");
  const StepShape shape = step_shape(config, 2);
  EXPECT_EQ(shape.micro_batches, 4);
  EXPECT_EQ(shape.global_batch, 64);
  EXPECT_NE(user_error_of([&] { step_shape(config, 3); })
                .find("t.yaml: train.global_batch (64) must be a multiple of train.micro_batch (8) "
                      "x ranks (3)"),
            std::string::npos);
  config.train.global_batch = 0;
  config.train.grad_accum = 3;
  EXPECT_EQ(step_shape(config, 2).global_batch, 8 * 3 * 2);
}

TEST(MemoryEstimate, ParameterCountMatchesTheModelBuilt) {
  ModelConfig model;
  model.n_layer = 3;
  model.d_model = 16;
  model.n_head = 2;
  model.d_ff = 24;
  model.max_len = 9;
  const data::VocabSizes vocab = {40, 4, 6, 16, 3};
  for (BlockKind block : kBlockKinds) {
    model.block = block;
    model.n_layer = 3;
    EXPECT_EQ(parameter_count(model, vocab), double(Model(model, vocab).params().size()))
        << block_kind_name(block);
    model.n_layer = 1;
    EXPECT_EQ(parameter_count(model, vocab), double(Model(model, vocab).params().size()))
        << block_kind_name(block);
  }
}

// What a block kind keeps per layer for backward (activation_arena.h), in floats, for a batch
// of B sequences of T positions (d_model 16, 2 heads, d_ff 24).
double activation_floats_per_layer(BlockKind block, double B, double T) {
  ModelConfig model;
  model.d_model = 16;
  model.n_head = 2;
  model.d_ff = 24;
  model.block = block;
  model.n_layer = 1;
  const double one = ActivationArena<float>::bytes_needed(model, B, T);
  model.n_layer = 2;
  return (ActivationArena<float>::bytes_needed(model, B, T) - one) / sizeof(float);
}

// Per layer, for N = B*T rows, its residual-stream output included: the estimate follows the
// block the config asks for.
TEST(MemoryEstimate, ActivationsPerLayerFollowTheBlock) {
  const double B = 3, T = 5, N = B * T, C = 16, F = 24, scores = B * 2 * T * T;
  EXPECT_EQ(activation_floats_per_layer(BlockKind::kGpt, B, T),
            10 * N * C + 2 * N * F + scores + 4 * N);
  EXPECT_EQ(activation_floats_per_layer(BlockKind::kLigr, B, T),
            12 * N * C + 3 * N * F + scores + 4 * N);
  EXPECT_EQ(activation_floats_per_layer(BlockKind::kHstu, B, T), 14 * N * C + scores + 4 * N);
}

// Past one query tile, softmax attention keeps two statistics per query row instead of the
// [B, NH, T, T] probabilities (ops::attention_is_tiled); HSTU still keeps its scores.
TEST(MemoryEstimate, LongSequencesKeepAttentionStatisticsNotProbabilities) {
  const double B = 3, T = 200, N = B * T, C = 16, F = 24, stats = B * 2 * T * 2;
  ASSERT_TRUE(ops::attention_is_tiled(T));
  EXPECT_EQ(activation_floats_per_layer(BlockKind::kGpt, B, T),
            10 * N * C + 2 * N * F + stats + 4 * N);
  EXPECT_EQ(activation_floats_per_layer(BlockKind::kLigr, B, T),
            12 * N * C + 3 * N * F + stats + 4 * N);
  EXPECT_EQ(activation_floats_per_layer(BlockKind::kHstu, B, T),
            14 * N * C + B * 2 * T * T + 4 * N);
}

TEST(MemoryEstimate, AnImpossibleConfigIsRefusedNamingItsKeys) {
  Config config =
      parse_config("data:\n  corpus: c.h5\ntrain:\n  micro_batch: 100000000\n", "cfg.yaml");
  const data::VocabSizes vocab = {40, 4, 6, 16, 3};
  const StepShape shape = step_shape(config, 1);
  const TrainingMemory need = estimate_training_memory(config, vocab, shape, 0, true);
  // The attention probabilities alone: B x heads x T x T floats per block.
  const double attention = 1e8 * config.model.n_head * 50.0 * 50.0 * 4 * config.model.n_layer;
  EXPECT_GT(need.activations, attention);
  const std::string error =
      user_error_of([&] { require_training_memory(config, vocab, shape, 0, true); });
  EXPECT_EQ(error.rfind("cfg.yaml: this run needs about ", 0), 0u) << error;
  EXPECT_NE(error.find("train.micro_batch 100000000 x model.max_len 50"), std::string::npos)
      << error;
  // On a GPU the activations are not on the host: the same config fits.
  require_training_memory(config, vocab, shape, 0, false);
}

}  // namespace
}  // namespace cf::trainer
