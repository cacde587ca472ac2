#include "trainer/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/json.h"
#include "core/sha256.h"
#include "trainer/best_checkpoint.h"
#include "trainer/safetensors.h"
#include "unit/user_error_of.h"

namespace cf::trainer {
namespace {

using cf::testing::user_error_of;
namespace fs = std::filesystem;

ModelConfig small_model() {
  ModelConfig m;
  m.n_layer = 2;
  m.n_head = 2;
  m.d_model = 8;
  m.d_ff = 16;
  m.max_len = 6;
  m.dropout = 0.1f;
  return m;
}

data::VocabSizes small_vocab() { return {11, 4, 5, 16, 3}; }

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (fs::temp_directory_path() /
             ("cf_checkpoint_test_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                .string();
    fs::remove_all(root_);
    config_ = parse_config("data:\n  corpus: runs/t/corpus.h5\n", "test.yaml");
    config_.model = small_model();
  }
  void TearDown() override { fs::remove_all(root_); }

  Model make_model(uint64_t seed, ModelConfig mc = small_model()) {
    Model model(mc, small_vocab());
    model.init_weights(seed);
    return model;
  }
  // Optimizer-like state with distinct values per step so files differ between checkpoints.
  static std::vector<float> state_vector(size_t n, float base) {
    std::vector<float> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = base + 1e-3f * static_cast<float>(i % 97);
    return out;
  }
  std::string write_step(Model& model, int64_t step) {
    TrainState state;
    state.step = step;
    state.tokens_seen = 1000 * step;
    state.sampler_step = step;
    state.seed = 99;
    auto m = state_vector(model.params().size(), 0.1f * static_cast<float>(step));
    auto v = state_vector(model.params().size(), 0.2f * static_cast<float>(step));
    return write_checkpoint(root_, model, m, v, config_, state, "fp-abc");
  }
  static void flip_byte(const std::string& path, int64_t from_end) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    int64_t size = f.tellg();
    f.seekg(size - from_end);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x01;
    f.seekp(size - from_end);
    f.write(&c, 1);
  }
  std::set<std::string> entries() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(root_)) out.insert(e.path().filename().string());
    return out;
  }
  std::string dir(int64_t step) const { return root_ + "/step_" + std::to_string(step); }
  // Changes manifest.json of `checkpoint` with `edit` and re-signs it the way the writer does
  // (manifest_sha256 over the compact dump of everything else), so that only the edited
  // content, not a checksum, can make loading fail.
  template <class Edit>
  static void edit_manifest(const std::string& checkpoint, Edit&& edit) {
    const std::string path = checkpoint + "/manifest.json";
    std::ifstream in(path);
    Json manifest = Json::parse(in);
    in.close();
    edit(manifest);
    manifest.erase("manifest_sha256");
    manifest["manifest_sha256"] = sha256_hex(manifest.dump());
    std::ofstream(path, std::ios::trunc) << manifest.dump(2) << "\n";
  }

  std::string root_;
  Config config_;
};

TEST_F(CheckpointTest, WriteLoadRoundTripIsBitExact) {
  Model model = make_model(7);
  const size_t n = model.params().size();
  std::vector<float> m = state_vector(n, -0.5f), v = state_vector(n, 0.25f);
  TrainState state;
  state.step = 12;
  state.tokens_seen = 123456789012345;
  state.sampler_step = 13;
  state.seed = std::numeric_limits<uint64_t>::max();
  state.rng_state = "mt19937:1 2 3\n\"quoted\"";
  state.elapsed_seconds = 12.345678901234567;
  state.cooccurrence_prior_weight = 0.25;
  std::string written = write_checkpoint(root_, model, m, v, config_, state, "fingerprint-1");
  EXPECT_EQ(written, dir(12));
  EXPECT_EQ(entries(), (std::set<std::string>{"step_12"}));  // no temporary left behind
  EXPECT_EQ(fs::exists(written + "/model.safetensors"), true);
  EXPECT_EQ(fs::exists(written + "/optimizer.safetensors"), true);

  LoadedCheckpoint ckpt = load_checkpoint(written);
  EXPECT_EQ(ckpt.dir, written);
  ASSERT_EQ(ckpt.params.size(), n);
  EXPECT_EQ(0, std::memcmp(ckpt.params.data(), model.params().data(), n * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(ckpt.adam_m.data(), m.data(), n * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(ckpt.adam_v.data(), v.data(), n * sizeof(float)));
  EXPECT_EQ(ckpt.state.step, 12);
  EXPECT_EQ(ckpt.state.tokens_seen, 123456789012345);
  EXPECT_EQ(ckpt.state.sampler_step, 13);
  EXPECT_EQ(ckpt.state.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ckpt.state.rng_state, state.rng_state);
  EXPECT_EQ(ckpt.state.elapsed_seconds, state.elapsed_seconds);
  EXPECT_EQ(ckpt.state.cooccurrence_prior_weight, 0.25);
  EXPECT_EQ(ckpt.vocab_fingerprint, "fingerprint-1");
  EXPECT_EQ(ckpt.vocab, small_vocab());
  EXPECT_EQ(to_yaml(ckpt.config), to_yaml(config_));
  ASSERT_EQ(ckpt.tensors.size(), model.tensors().size());
  for (size_t i = 0; i < ckpt.tensors.size(); ++i) {
    EXPECT_EQ(ckpt.tensors[i].name, model.tensors()[i].name);
    EXPECT_EQ(ckpt.tensors[i].shape, model.tensors()[i].shape);
    EXPECT_EQ(ckpt.tensors[i].offset, model.tensors()[i].offset);
    EXPECT_EQ(ckpt.tensors[i].is_matrix_weight, model.tensors()[i].is_matrix_weight);
    EXPECT_EQ(ckpt.tensors[i].block, model.tensors()[i].block);
  }

  Model rebuilt = model_from_checkpoint(ckpt);
  EXPECT_EQ(rebuilt.params(), model.params());
  EXPECT_EQ(rebuilt.vocab(), small_vocab());

  LoadedCheckpoint weights_only = load_checkpoint(written, /*load_optimizer=*/false);
  EXPECT_TRUE(weights_only.adam_m.empty());
  EXPECT_EQ(weights_only.params, ckpt.params);
}

TEST_F(CheckpointTest, ConfigSavedDescribesTheModelBuilt) {
  // The trainer may switch on a head the task needs; the saved config must say so.
  ModelConfig with_head = small_model();
  with_head.propensity_head = true;
  Model model = make_model(3, with_head);
  std::string written = write_step(model, 1);
  LoadedCheckpoint ckpt = load_checkpoint(written);
  EXPECT_TRUE(ckpt.config.model.propensity_head);
  EXPECT_EQ(model_from_checkpoint(ckpt).params(), model.params());
}

TEST_F(CheckpointTest, FlippedByteIsDetectedAndSkipped) {
  Model model = make_model(1);
  write_step(model, 1);
  write_step(model, 2);
  flip_byte(dir(2) + "/model.safetensors", 10);  // inside the tensor data
  EXPECT_EQ(user_error_of([&] { load_checkpoint(dir(2)); }),
            dir(2) + "/model.safetensors: checksum mismatch (file corrupt)");
  EXPECT_EQ(user_error_of([&] { verify_checkpoint(dir(2)); }),
            dir(2) + "/model.safetensors: checksum mismatch (file corrupt)");

  ::testing::internal::CaptureStderr();
  auto latest = find_latest_valid_checkpoint(root_);
  std::string warnings = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(*latest, dir(1));
  EXPECT_NE(warnings.find("warning: skipping checkpoint " + dir(2) + ": " + dir(2) +
                          "/model.safetensors: checksum mismatch (file corrupt)"),
            std::string::npos)
      << warnings;
}

TEST_F(CheckpointTest, FlippedByteInOptimizerOrManifestIsDetected) {
  Model model = make_model(1);
  write_step(model, 1);
  flip_byte(dir(1) + "/optimizer.safetensors", 3);
  EXPECT_EQ(user_error_of([&] { load_checkpoint(dir(1), false); }),
            dir(1) + "/optimizer.safetensors: checksum mismatch (file corrupt)");

  write_step(model, 2);
  // Change one digit of a value: still valid JSON, but no longer what was written.
  const std::string manifest_path = dir(2) + "/manifest.json";
  std::string text;
  {
    std::ifstream f(manifest_path);
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  size_t at = text.find("\"tokens_seen\": 2000");
  ASSERT_NE(at, std::string::npos) << text;
  text[at + std::strlen("\"tokens_seen\": ")] = '3';
  {
    std::ofstream f(manifest_path, std::ios::trunc);
    f << text;
  }
  EXPECT_EQ(user_error_of([&] { load_checkpoint(dir(2)); }),
            manifest_path + ": checksum mismatch (file corrupt)");
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(find_latest_valid_checkpoint(root_).has_value());
  std::string warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warnings.find(dir(1)), std::string::npos);
  EXPECT_NE(warnings.find(dir(2)), std::string::npos);
}

TEST_F(CheckpointTest, NonFiniteWeightsAreNeverWritten) {
  Model model = make_model(5);
  write_step(model, 1);
  model.params()[3] = std::numeric_limits<float>::quiet_NaN();
  const std::string error = user_error_of([&] { write_step(model, 2); });
  EXPECT_NE(error.find("step_2: not written: tensor "), std::string::npos) << error;
  EXPECT_NE(error.find("non-finite"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(root_ + "/step_2"));
  EXPECT_EQ(find_latest_valid_checkpoint(root_), root_ + "/step_1");
}

// A checkpoint with consistent checksums but an infinite weight (as another tool, or a version
// before the write check, could leave) is refused when loaded, naming the tensor.
TEST_F(CheckpointTest, NonFiniteWeightsAreNotLoaded) {
  Model model = make_model(5);
  const std::string dir = write_step(model, 1);
  const std::string model_path = dir + "/model.safetensors";
  SafetensorsFile st = read_safetensors(model_path);
  std::vector<SafetensorsTensorView> views;
  for (SafetensorsTensor& t : st.tensors) {
    if (t.name == model.tensors()[1].name) t.data[0] = std::numeric_limits<float>::infinity();
    views.push_back({t.name, t.shape, t.data.data()});
  }
  write_safetensors(model_path, views, {});
  Json manifest = Json::parse(std::ifstream(dir + "/manifest.json"));
  manifest["files"]["model.safetensors"] = sha256_file_hex(model_path);
  manifest.erase("manifest_sha256");
  manifest["manifest_sha256"] = sha256_hex(manifest.dump());
  std::ofstream(dir + "/manifest.json") << manifest.dump(2);
  const std::string error = user_error_of([&] { load_checkpoint(dir); });
  EXPECT_NE(error.find("model.safetensors: tensor '" + model.tensors()[1].name +
                       "' holds non-finite values"),
            std::string::npos)
      << error;
}

TEST_F(CheckpointTest, MissingFilesAreNamed) {
  Model model = make_model(1);
  write_step(model, 4);
  fs::remove(dir(4) + "/optimizer.safetensors");
  EXPECT_EQ(user_error_of([&] { load_checkpoint(dir(4)); }),
            dir(4) + "/optimizer.safetensors: missing from the checkpoint");
  fs::remove(dir(4) + "/manifest.json");
  EXPECT_EQ(user_error_of([&] { load_checkpoint(dir(4)); }),
            dir(4) + "/manifest.json: missing (not a checkpoint directory, or an unfinished one)");
}

TEST_F(CheckpointTest, TemporaryAndForeignDirectoriesAreIgnored) {
  Model model = make_model(1);
  write_step(model, 3);
  // A complete-looking but unrenamed write of a newer step, and other look-alikes.
  fs::copy(dir(3), root_ + "/step_9.tmp.4242");
  fs::copy(dir(3), root_ + "/step_8.tmp");
  fs::copy(dir(3), root_ + "/step_x7");
  std::ofstream(root_ + "/step_10") << "a file, not a directory";
  EXPECT_EQ(find_latest_valid_checkpoint(root_), dir(3));
  EXPECT_FALSE(find_latest_valid_checkpoint(root_ + "/absent").has_value());
  // A step_N whose manifest records another step (renamed by hand) is not trusted.
  fs::copy(dir(3), dir(5));
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(find_latest_valid_checkpoint(root_), dir(3));
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("records a step other than 5"),
            std::string::npos);
}

TEST_F(CheckpointTest, NumericOrderNotLexicographic) {
  Model model = make_model(1);
  write_step(model, 9);
  write_step(model, 10);
  EXPECT_EQ(find_latest_valid_checkpoint(root_), dir(10));
}

TEST_F(CheckpointTest, PruneKeepsNewestValidOnes) {
  Model model = make_model(1);
  for (int s = 1; s <= 5; ++s) write_step(model, s);
  fs::create_directories(root_ + "/step_6.tmp.77");  // an in-flight write is left alone
  flip_byte(dir(4) + "/model.safetensors", 1);
  prune_checkpoints(root_, 2);
  // Valid 5 and 3 are kept; corrupt 4 is newer than them and stays for inspection.
  EXPECT_EQ(entries(), (std::set<std::string>{"step_3", "step_4", "step_5", "step_6.tmp.77"}));
  prune_checkpoints(root_, 10);  // fewer than keep_last: nothing to delete
  EXPECT_EQ(entries().size(), 4u);
}

TEST_F(CheckpointTest, PruneNeverDeletesTheOnlyValidCheckpoint) {
  Model model = make_model(1);
  write_step(model, 1);
  write_step(model, 2);
  write_step(model, 3);
  flip_byte(dir(3) + "/model.safetensors", 1);
  flip_byte(dir(2) + "/model.safetensors", 1);
  prune_checkpoints(root_, 1);
  EXPECT_EQ(entries(), (std::set<std::string>{"step_1", "step_2", "step_3"}));
  flip_byte(dir(1) + "/model.safetensors", 1);  // now none is valid: nothing is deleted
  prune_checkpoints(root_, 1);
  EXPECT_EQ(entries().size(), 3u);
}

TEST_F(CheckpointTest, RewritingAStepReplacesIt) {
  Model a = make_model(1), b = make_model(2);
  write_step(a, 7);
  write_step(b, 7);
  EXPECT_EQ(load_checkpoint(dir(7)).params, b.params());
  EXPECT_EQ(entries(), (std::set<std::string>{"step_7"}));
}

TEST_F(CheckpointTest, VocabularyMismatchIsClear) {
  Model model = make_model(1);
  LoadedCheckpoint ckpt = load_checkpoint(write_step(model, 1));
  require_same_vocab(ckpt, "c.h5", "fp-abc");  // same: no error
  require_same_vocab(ckpt, "c.h5", "fp-abc", {99, 1, 1, 1, 1});
  data::VocabSizes other = small_vocab();
  other.items = 1234;
  other.categories = 7;
  EXPECT_EQ(user_error_of([&] { require_same_vocab(ckpt, "runs/b/corpus.h5", "fp-xyz", other); }),
            "runs/b/corpus.h5: vocabulary differs from the checkpoint's (" + dir(1) +
                "): items 1234 vs 11, categories 7 vs 5 (corpus vs checkpoint)");
  EXPECT_EQ(user_error_of([&] { require_same_vocab(ckpt, "c.h5", "fp-xyz", small_vocab()); }),
            "c.h5: vocabulary differs from the checkpoint's (" + dir(1) +
                "): same sizes but different tokens (fingerprint fp-xyz vs fp-abc)");
  std::string msg = user_error_of([&] { require_same_vocab(ckpt, "c.h5", "fp-xyz"); });
  EXPECT_EQ(msg.rfind("c.h5: vocabulary differs from the checkpoint's (" + dir(1) + ")", 0), 0u)
      << msg;
  EXPECT_NE(msg.find("11 items"), std::string::npos) << msg;
}

TEST_F(CheckpointTest, MismatchedTensorsAreRefused) {
  Model model = make_model(1);
  LoadedCheckpoint ckpt = load_checkpoint(write_step(model, 1));
  LoadedCheckpoint fewer_layers = ckpt;
  fewer_layers.config.model.n_layer = 1;
  std::string msg = user_error_of([&] { model_from_checkpoint(fewer_layers); });
  EXPECT_EQ(msg.rfind(dir(1) + ": checkpoint tensor 'blocks.1.", 0), 0u) << msg;

  LoadedCheckpoint more_layers = ckpt;
  more_layers.config.model.n_layer = 3;
  msg = user_error_of([&] { model_from_checkpoint(more_layers); });
  EXPECT_EQ(msg.rfind(dir(1) + ": checkpoint lacks tensor 'blocks.2.", 0), 0u) << msg;

  ModelConfig wider = small_model();
  wider.d_ff = 32;
  Model dst = make_model(5, wider);
  msg = user_error_of([&] { load_matching_weights(dst, ckpt, nullptr); });
  EXPECT_EQ(msg, dir(1) +
                     ": tensor 'blocks.0.mlp.fc1.weight' has shape [16, 8] in the "
                     "checkpoint but [32, 8] in the model");
}

// Reached through tests/fuzz/fuzz_checkpoint_manifest with a hand-made input (regressions/
// fuzz_checkpoint_manifest/huge_vocabulary): model_from_checkpoint allocated the model its
// manifest's vocabulary and config describe before comparing it with the tensors loaded, so a
// damaged manifest could ask for any amount of memory (here 2^31 x 8 floats, twice).
TEST_F(CheckpointTest, ModelIsComparedWithTheCheckpointBeforeItIsAllocated) {
  Model model = make_model(1);
  LoadedCheckpoint ckpt = load_checkpoint(write_step(model, 1));
  LoadedCheckpoint huge_vocabulary = ckpt;
  huge_vocabulary.vocab.items = std::numeric_limits<int32_t>::max();
  EXPECT_EQ(user_error_of([&] { model_from_checkpoint(huge_vocabulary); }),
            dir(1) +
                ": tensor 'item_emb.weight' has shape [11, 8] in the checkpoint but "
                "[2147483647, 8] in the model");
  LoadedCheckpoint deep = ckpt;
  deep.config.model.n_layer = 5000;
  EXPECT_EQ(user_error_of([&] { model_from_checkpoint(deep); }),
            dir(1) + ": model config: model.n_layer must be in [1, 1024] (got 5000)");
}

TEST_F(CheckpointTest, MatchingWeightsKeepNewHeadsInitialised) {
  Model pretrained = make_model(1);
  LoadedCheckpoint ckpt = load_checkpoint(write_step(pretrained, 1));
  ModelConfig with_head = small_model();
  with_head.propensity_head = true;
  Model dst = make_model(2, with_head);
  const std::vector<float> init = dst.params();
  std::vector<std::string> missing;
  load_matching_weights(dst, ckpt, &missing);
  EXPECT_EQ(missing, (std::vector<std::string>{"propensity_head.weight", "propensity_head.bias"}));
  for (const auto& t : dst.tensors()) {
    const bool new_head = t.name.rfind("propensity_head", 0) == 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      float expected =
          new_head ? init[t.offset + i] : pretrained.params()[pretrained.tensor(t.name).offset + i];
      ASSERT_EQ(dst.params()[t.offset + i], expected) << t.name << "[" << i << "]";
    }
  }
}

TEST_F(CheckpointTest, ResolvesRunAndCheckpointDirectories) {
  Model model = make_model(1);
  const std::string run = root_ + "/run";
  root_ = run + "/checkpoints";
  write_step(model, 2);
  write_step(model, 4);
  EXPECT_EQ(resolve_checkpoint_dir(run), dir(4));
  EXPECT_EQ(resolve_checkpoint_dir(root_), dir(4));
  EXPECT_EQ(resolve_checkpoint_dir(dir(2)), dir(2));
  fs::create_directories(run + "/empty");
  EXPECT_EQ(user_error_of([&] { resolve_checkpoint_dir(run + "/empty"); }),
            run +
                "/empty: no valid checkpoint found (expected a checkpoint directory with "
                "manifest.json, or a run directory with checkpoints/step_N/)");
  EXPECT_EQ(user_error_of([&] { resolve_checkpoint_dir(run + "/absent"); }),
            run + "/absent: no such checkpoint or run directory");
  root_ = run.substr(0, run.size() - 4);  // TearDown removes the whole tree
}

// Found by tests/fuzz/fuzz_checkpoint_manifest (regressions/fuzz_checkpoint_manifest/
// float_dimension): numbers of the manifest were read with nlohmann's get<T>(), which casts a
// float such as 9.2e19 to int64 (undefined behaviour) and lets a mistyped optional field's
// json::type_error escape. Every integer must now be an exact integer within its type's range.
TEST_F(CheckpointTest, ManifestIntegersMustBeExactAndInRange) {
  Model model = make_model(1);
  const std::string written = write_step(model, 1);
  const std::string manifest = written + "/manifest.json";
  struct Case {
    const char* what;
    void (*edit)(Json&);
    std::string error;
  };
  const Case cases[] = {
      {"float dimension", [](Json& m) { m["model"]["tensors"][0]["shape"][0] = 9.2e19; },
       ": malformed manifest (tensor 'item_emb.weight' has a dimension that is not a "
       "non-negative integer)"},
      {"negative dimension", [](Json& m) { m["model"]["tensors"][0]["shape"][1] = -8; },
       ": malformed manifest (tensor 'item_emb.weight' has a dimension that is not a "
       "non-negative integer)"},
      {"float step", [](Json& m) { m["step"] = 1e300; },
       ": malformed manifest (field 'step' missing, mistyped or out of range)"},
      {"negative seed", [](Json& m) { m["seed"] = -1; },
       ": malformed manifest (field 'seed' missing, mistyped or out of range)"},
      {"vocabulary beyond int32", [](Json& m) { m["vocab_sizes"]["items"] = 4294967307ull; },
       ": malformed manifest (field 'vocab_sizes.items' missing, mistyped or out of range)"},
      {"mistyped optional field", [](Json& m) { m["global_batch"] = "64"; },
       ": malformed manifest (field 'global_batch' missing, mistyped or out of range)"},
      {"fractional offset", [](Json& m) { m["model"]["tensors"][1]["offset"] = 0.5; },
       ": malformed manifest (field 'model.tensors[1].offset' missing, mistyped or out of "
       "range)"},
      {"block beyond int", [](Json& m) { m["model"]["tensors"][2]["block"] = 1ll << 40; },
       ": malformed manifest (field 'model.tensors[2].block' missing, mistyped or out of "
       "range)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string copy = root_ + "/copy";
    fs::remove_all(copy);
    fs::copy(written, copy);
    edit_manifest(copy, c.edit);
    EXPECT_EQ(user_error_of([&] { load_checkpoint(copy); }), copy + "/manifest.json" + c.error);
  }
}

// Found by tests/fuzz/fuzz_checkpoint_manifest: a tensor's shape product overflowed int64 and
// n_params alone sized the parameter buffer, so a manifest could ask for any allocation.
TEST_F(CheckpointTest, ManifestSizesCannotExceedTheStoredWeights) {
  Model model = make_model(1);
  const std::string written = write_step(model, 1);
  const int64_t stored = static_cast<int64_t>(model.params().size());

  edit_manifest(written, [](Json& m) {
    m["model"]["n_params"] = std::numeric_limits<int64_t>::max();
    m["model"]["tensors"][0]["shape"] = {int64_t{1} << 62, 4};
  });
  EXPECT_EQ(user_error_of([&] { load_checkpoint(written); }),
            written + "/manifest.json: tensor 'item_emb.weight' lies outside the parameters");

  edit_manifest(written, [&](Json& m) {
    m["model"]["n_params"] = int64_t{1} << 50;
    m["model"]["tensors"][0]["shape"] = {small_vocab().items, small_model().d_model};
  });
  EXPECT_EQ(user_error_of([&] { load_checkpoint(written); }),
            written + "/model.safetensors: holds " + std::to_string(stored) +
                " values, fewer than the 1125899906842624 parameters the manifest records");
}

// The checkpoint best.json names outlives keep_last pruning and is what a run directory
// resolves to; the newest is taken again once the mark is gone or names a broken checkpoint.
TEST_F(CheckpointTest, BestCheckpointSurvivesPruningAndIsResolved) {
  Model model = make_model(1);
  const std::string run = root_ + "/run";
  root_ = run + "/checkpoints";
  for (int s = 1; s <= 3; ++s) write_step(model, s);
  write_best_mark(root_, {2, "ndcg@10", 0.25});
  for (int s = 4; s <= 6; ++s) {
    write_step(model, s);
    prune_checkpoints(root_, 2);
  }
  EXPECT_EQ(entries(), (std::set<std::string>{"best.json", "step_2", "step_5", "step_6"}));
  std::string why;
  EXPECT_EQ(resolve_checkpoint_dir(run, &why), dir(2));
  EXPECT_EQ(why, "best validation ndcg@10 0.25 at step 2");
  EXPECT_EQ(resolve_checkpoint_dir(root_), dir(2));
  EXPECT_EQ(resolve_checkpoint_dir(dir(5), &why), dir(5));  // a step_N directory means that one
  EXPECT_EQ(why, "as given");
  // A newer best: the old one is an ordinary old checkpoint again and goes at the next prune.
  write_best_mark(root_, {6, "ndcg@10", 0.5});
  write_step(model, 7);
  prune_checkpoints(root_, 2);
  EXPECT_EQ(entries(), (std::set<std::string>{"best.json", "step_6", "step_7"}));
  EXPECT_EQ(resolve_checkpoint_dir(run), dir(6));
  // A best checkpoint that no longer verifies is not taken: the newest valid one is.
  flip_byte(dir(6) + "/model.safetensors", 1);
  EXPECT_EQ(resolve_checkpoint_dir(run, &why), dir(7));
  EXPECT_EQ(why, "newest valid");
  root_ = run.substr(0, run.size() - 4);  // TearDown removes the whole tree
}

TEST_F(CheckpointTest, EarlyStoppingStateRoundTripsBitExactly) {
  Model model = make_model(1);
  TrainState state;
  state.step = 30;
  state.early_stopping = {20, 0.1 / 3.0, 1, 30, 0.2 / 7.0};
  state.cooccurrence_prior_weight = 0.25;
  std::vector<float> m(model.params().size(), 0.f), v = m;
  const std::string written = write_checkpoint(root_, model, m, v, config_, state, "fp");
  const LoadedCheckpoint back = load_checkpoint(written);
  EXPECT_EQ(back.state.early_stopping, state.early_stopping);
  EXPECT_EQ(back.state.cooccurrence_prior_weight, 0.25);
  // The text ranks broadcast on resume carries the same state.
  const TrainState broadcast = train_state_from_json(train_state_to_json(state), "test");
  EXPECT_EQ(broadcast.early_stopping, state.early_stopping);
  EXPECT_EQ(broadcast.cooccurrence_prior_weight, 0.25);
  EXPECT_EQ(broadcast.step, 30);
  // Nothing evaluated yet (best_step -1) reads back as the fresh state.
  state.step = 31;
  state.early_stopping = {};
  EXPECT_EQ(load_checkpoint(write_checkpoint(root_, model, m, v, config_, state, "fp"))
                .state.early_stopping,
            EarlyStoppingState{});
}

}  // namespace
}  // namespace cf::trainer
