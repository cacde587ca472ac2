#include "trainer/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "trainer/backend/training_backend.h"
#include "unit/user_error_of.h"

namespace cf::trainer {
namespace {

using cf::testing::user_error_of;

const char* kMinimal = "data:\n  corpus: runs/x/corpus.h5\n";

std::string parse_error(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return user_error_of([&] { parse_config(yaml, "configs/x.yaml", overrides); });
}

TEST(Config, ReadsEveryKindOfValue) {
  Config c = parse_config(R"(
run:
  out_dir: runs/demo
  seed: 18446744073709551615
data:
  corpus: "runs/demo/corpus.h5"
model:
  n_layer: 3
  n_head: 4
  d_model: 128
  dropout: 0.25
  tied_item_head: false
  use_activity: no
task:
  kind: next_item
  init_from: runs/demo/pretrain
  freeze_blocks: 2
  body_lr_scale: 0.1
  purchases_only: true
train:
  steps: 1e4
  lr: 3e-4
  schedule: linear
  warmup_steps: 10
checkpoint:
  keep_last: 5
)",
                          "configs/x.yaml");
  EXPECT_EQ(c.source_path, "configs/x.yaml");
  EXPECT_EQ(c.run.out_dir, "runs/demo");
  EXPECT_EQ(c.run.seed, 18446744073709551615ull);
  EXPECT_EQ(c.data.corpus, "runs/demo/corpus.h5");
  EXPECT_EQ(c.model.n_layer, 3);
  EXPECT_EQ(c.model.n_head, 4);
  EXPECT_EQ(c.model.d_model, 128);
  EXPECT_EQ(c.model.dropout, 0.25f);
  EXPECT_FALSE(c.model.tied_item_head);
  EXPECT_FALSE(c.model.use_activity);
  EXPECT_TRUE(c.model.use_action);  // default kept
  EXPECT_EQ(c.task.kind, TaskKind::kNextItem);
  EXPECT_EQ(c.task.init_from, "runs/demo/pretrain");
  EXPECT_EQ(c.task.freeze_blocks, 2);
  EXPECT_EQ(c.task.body_lr_scale, 0.1f);
  EXPECT_TRUE(c.task.purchases_only);
  EXPECT_EQ(c.train.steps, 10000);
  EXPECT_EQ(c.train.lr, 3e-4f);
  EXPECT_EQ(c.train.schedule, LrSchedule::kLinear);
  EXPECT_EQ(c.train.warmup_steps, 10);
  EXPECT_EQ(c.train.micro_batch, TrainSection{}.micro_batch);
  EXPECT_EQ(c.checkpoint.keep_last, 5);
}

TEST(Config, UnknownKeyNamesFileKeyAndSuggestion) {
  std::string msg = parse_error(std::string(kMinimal) + "train:\n  stpes: 5\n");
  EXPECT_EQ(msg, "configs/x.yaml: unknown key 'train.stpes' (did you mean 'train.steps'?)");
  msg = parse_error(std::string(kMinimal) + "trian:\n  steps: 5\n");
  EXPECT_EQ(msg, "configs/x.yaml: unknown key 'trian' (did you mean 'train'?)");
  // A key that exists in another section is suggested there.
  msg = parse_error(std::string(kMinimal) + "model:\n  lr: 0.1\n");
  EXPECT_EQ(msg, "configs/x.yaml: unknown key 'model.lr' (did you mean 'train.lr'?)");
  // Nothing close: no suggestion.
  msg = parse_error(std::string(kMinimal) + "train:\n  completely_unrelated: 1\n");
  EXPECT_EQ(msg, "configs/x.yaml: unknown key 'train.completely_unrelated'");
}

TEST(Config, WrongTypeNamesKeyAndValue) {
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train:\n  lr: abc\n"),
            "configs/x.yaml: key 'train.lr' expects a number, got 'abc'");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train:\n  steps: 2.5\n"),
            "configs/x.yaml: key 'train.steps' expects an integer, got '2.5'");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "model:\n  tied_item_head: maybe\n"),
            "configs/x.yaml: key 'model.tied_item_head' expects true or false, got 'maybe'");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "task:\n  kind: pretraining\n"),
            "configs/x.yaml: key 'task.kind' expects one of pretrain, next_item, propensity, "
            "copy, got 'pretraining'");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train:\n  schedule: [cosine]\n"),
            "configs/x.yaml: key 'train.schedule' expects one of cosine, linear, constant, got "
            "a list");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train:\n  lr:\n"),
            "configs/x.yaml: key 'train.lr' expects a number, got nothing");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "run:\n  seed: -1\n"),
            "configs/x.yaml: key 'run.seed' expects a non-negative integer, got '-1'");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "model:\n  n_layer: 99999999999\n"),
            "configs/x.yaml: key 'model.n_layer' expects an integer in range, got '99999999999'");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train: 5\n"),
            "configs/x.yaml: key 'train' expects a map of keys, got '5'");
}

TEST(Config, ModelBlockChoosesTheBlockAndNamesAnUnknownOne) {
  // A config (or an old checkpoint's resolved config) without the key is a gpt model.
  EXPECT_EQ(parse_config(kMinimal, "a.yaml").model.block, BlockKind::kGpt);
  EXPECT_EQ(parse_config(std::string(kMinimal) + "model:\n  block: ligr\n", "a.yaml").model.block,
            BlockKind::kLigr);
  EXPECT_EQ(parse_config(kMinimal, "a.yaml", {"model.block=hstu"}).model.block, BlockKind::kHstu);
  EXPECT_EQ(parse_error(std::string(kMinimal) + "model:\n  block: bert\n"),
            "configs/x.yaml: key 'model.block' expects one of gpt, ligr, hstu, got 'bert'");
  // The resolved config (config.resolved.yaml, the checkpoint manifest) carries the block.
  Config c = parse_config(kMinimal, "a.yaml");
  c.model.block = BlockKind::kHstu;
  const std::string yaml = to_yaml(c);
  EXPECT_NE(yaml.find("block: hstu"), std::string::npos) << yaml;
  EXPECT_EQ(parse_config(yaml, "resolved.yaml").model.block, BlockKind::kHstu);
}

TEST(Config, ModelItemFeaturesChoosesTheSideAndNamesAnUnknownOne) {
  EXPECT_EQ(parse_config(kMinimal, "a.yaml").model.item_features, ItemFeatureUse::kNone);
  EXPECT_EQ(parse_config(std::string(kMinimal) + "model:\n  item_features: both\n", "a.yaml")
                .model.item_features,
            ItemFeatureUse::kBoth);
  EXPECT_EQ(parse_config(kMinimal, "a.yaml", {"model.item_features=input"}).model.item_features,
            ItemFeatureUse::kInput);
  EXPECT_EQ(parse_error(std::string(kMinimal) + "model:\n  item_features: all\n"),
            "configs/x.yaml: key 'model.item_features' expects one of none, input, output, both, "
            "got 'all'");
  Config c = parse_config(kMinimal, "a.yaml");
  c.model.item_features = ItemFeatureUse::kOutput;
  const std::string yaml = to_yaml(c);
  EXPECT_NE(yaml.find("item_features: output"), std::string::npos) << yaml;
  EXPECT_EQ(parse_config(yaml, "resolved.yaml").model.item_features, ItemFeatureUse::kOutput);
}

// Seen while writing tests/fuzz/fuzz_train_config and confirmed by UBSan under it
// (regressions/fuzz_train_config/steps_two_to_the_63, seed_two_to_the_64):
// an integer just past the type's range passed the exponent-form check, because INT64_MAX
// rounds up to 2^63 as a double, and 2^63 was then converted to int64 (undefined behaviour).
TEST(Config, IntegersJustPastTheRangeAreRefused) {
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train:\n  steps: 9223372036854775808\n"),
            "configs/x.yaml: key 'train.steps' expects an integer in range, got "
            "'9223372036854775808'");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "run:\n  seed: 1.8446744073709552e19\n"),
            "configs/x.yaml: key 'run.seed' expects a non-negative integer, got "
            "'1.8446744073709552e19'");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "model:\n  n_layer: 2.147483648e9\n"),
            "configs/x.yaml: key 'model.n_layer' expects an integer, got '2.147483648e9'");
  // The largest doubles below the bounds are still exact integers and read as such.
  const Config c = parse_config(std::string(kMinimal) +
                                    "train:\n  steps: 9.2233720368547748e18\n"
                                    "run:\n  seed: 1.8446744073709550e19\n",
                                "configs/x.yaml");
  EXPECT_EQ(c.train.steps, 9223372036854774784);
  EXPECT_EQ(c.run.seed, 18446744073709549568u);
}

TEST(Config, OutOfRangeNamesKeyAndFile) {
  auto with = [](const std::string& section_and_key) {
    return parse_error(std::string(kMinimal) + section_and_key);
  };
  EXPECT_EQ(with("model:\n  n_layer: 0\n"),
            "configs/x.yaml: key 'model.n_layer' must be in [1, 1024], got 0");
  EXPECT_EQ(with("model:\n  n_layer: 1025\n"),
            "configs/x.yaml: key 'model.n_layer' must be in [1, 1024], got 1025");
  EXPECT_EQ(with("model:\n  d_model: 64\n  n_head: 3\n"),
            "configs/x.yaml: key 'model.d_model' (64) must be divisible by 'model.n_head' (3)");
  EXPECT_EQ(with("model:\n  dropout: 1\n"),
            "configs/x.yaml: key 'model.dropout' must be in [0, 1), got 1");
  EXPECT_EQ(with("model:\n  dropout: -0.1\n"),
            "configs/x.yaml: key 'model.dropout' must be in [0, 1), got -0.1");
  EXPECT_EQ(with("train:\n  lr: 0\n"), "configs/x.yaml: key 'train.lr' must be > 0, got 0");
  EXPECT_EQ(with("train:\n  steps: 0\n"), "configs/x.yaml: key 'train.steps' must be >= 1, got 0");
  EXPECT_EQ(with("train:\n  micro_batch: 0\n"),
            "configs/x.yaml: key 'train.micro_batch' must be >= 1, got 0");
  EXPECT_EQ(with("checkpoint:\n  keep_last: 0\n"),
            "configs/x.yaml: key 'checkpoint.keep_last' must be >= 1, got 0");
  EXPECT_EQ(with("train:\n  warmup_steps: -1\n"),
            "configs/x.yaml: key 'train.warmup_steps' must be >= 0, got -1");
  EXPECT_EQ(with("train:\n  min_lr_ratio: 1.5\n"),
            "configs/x.yaml: key 'train.min_lr_ratio' must be in [0, 1], got 1.5");
  EXPECT_EQ(with("model:\n  n_layer: 2\ntask:\n  freeze_blocks: 3\n"),
            "configs/x.yaml: key 'task.freeze_blocks' must be in [0, 2], got 3");
  EXPECT_EQ(with("run:\n  device: tpu\n"),
            "configs/x.yaml: key 'run.device' must be one of auto, cpu, cuda, got 'tpu'");
  EXPECT_EQ(with("run:\n  precision: fp16\n"),
            "configs/x.yaml: key 'run.precision' must be one of auto, fp32, bf16, got 'fp16'");
  EXPECT_EQ(parse_error("train:\n  steps: 5\n"),
            "configs/x.yaml: key 'data.corpus' is required (path to the corpus .h5 written by "
            "prep)");
}

// Settings a backend cannot honour are refused before anything is allocated, naming the config
// and its keys: checked here without a GPU, since the check does not need one.
TEST(Config, SettingsTheCudaBackendContradictsAreRefusedOnlyThere) {
  const auto options = [](const std::string& yaml, int world_size) {
    return backend_options(parse_config(std::string(kMinimal) + yaml, "configs/x.yaml"), 1,
                           world_size);
  };
  const BackendOptions zero1 = options("comm:\n  zero1: true\n", 2);
  const BackendOptions bf16 = options("run:\n  precision: bf16\ncuda:\n  precision: fp32\n", 1);
  check_backend_options(zero1, /*cuda=*/true);  // both backends shard the optimizer state
  EXPECT_EQ(user_error_of([&] { check_backend_options(bf16, /*cuda=*/true); }),
            "configs/x.yaml: run.precision: bf16 applies to the CPU backend; on the GPU set "
            "cuda.precision: bf16 (now fp32)");
  // The CPU backend takes run.precision; bf16 with cuda.precision: bf16 (its default) is
  // consistent.
  check_backend_options(zero1, /*cuda=*/false);
  check_backend_options(bf16, /*cuda=*/false);
  check_backend_options(options("run:\n  precision: bf16\n", 1), /*cuda=*/true);
}

TEST(Config, StructuralErrors) {
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train:\n  lr: 0.1\n  lr: 0.2\n"),
            "configs/x.yaml: key 'train.lr' appears twice");
  EXPECT_EQ(parse_error("- a\n- b\n"),
            "configs/x.yaml: expected a map of sections (run, data, model, task, loss, train, "
            "checkpoint, validation, comm, cuda) at the top level");
  std::string msg = parse_error("train:\n  lr: [1, 2\n");
  EXPECT_EQ(msg.rfind("configs/x.yaml:", 0), 0u) << msg;
  EXPECT_NE(msg.find("YAML syntax error"), std::string::npos) << msg;
}

TEST(Config, OverridesApplyBeforeValidation) {
  // The file alone is invalid (steps 0); the override fixes it before validation runs.
  Config c =
      parse_config(std::string(kMinimal) + "train:\n  steps: 0\n", "configs/x.yaml",
                   {"train.steps=20", "model.dropout=0", "run.out_dir='runs/a b'",
                    "task.kind=propensity", "model.propensity_head=true", "task.init_from="});
  EXPECT_EQ(c.train.steps, 20);
  EXPECT_EQ(c.model.dropout, 0.0f);
  EXPECT_EQ(c.run.out_dir, "runs/a b");
  EXPECT_EQ(c.task.kind, TaskKind::kPropensity);
  EXPECT_TRUE(c.model.propensity_head);
  EXPECT_EQ(c.task.init_from, "");
  // A later override wins.
  c = parse_config(kMinimal, "configs/x.yaml", {"train.lr=0.5", "train.lr=0.25"});
  EXPECT_EQ(c.train.lr, 0.25f);
}

TEST(Config, OverrideErrorsNameSetAndKey) {
  EXPECT_EQ(parse_error(kMinimal, {"train.stpes=5"}),
            "configs/x.yaml: --set train.stpes=5: unknown key 'train.stpes' (did you mean "
            "'train.steps'?)");
  EXPECT_EQ(parse_error(kMinimal, {"train.lr=abc"}),
            "configs/x.yaml: --set train.lr=abc: key 'train.lr' expects a number, got 'abc'");
  EXPECT_EQ(parse_error(kMinimal, {"train.lr"}),
            "configs/x.yaml: --set train.lr: expected key=value, e.g. --set train.lr=0.001");
  EXPECT_EQ(parse_error(kMinimal, {"train=3"}),
            "configs/x.yaml: --set train=3: unknown key 'train' (a section: name one of its "
            "keys, e.g. 'train.steps')");
  // Range violations introduced by an override are caught too.
  EXPECT_EQ(parse_error(kMinimal, {"model.n_head=0"}),
            "configs/x.yaml: key 'model.n_head' must be >= 1, got 0");
}

TEST(Config, CheckOverrideNamesTheGivenContext) {
  // One override alone, as another flag than --set gives it (cartformer sweep's --grid).
  check_override("train.lr=0.5", "x.yaml: --grid train.lr=0.5,abc");
  check_override("task.init_from=", "x.yaml: --grid task.init_from=");
  EXPECT_EQ(
      user_error_of([] { check_override("train.lr=abc", "x.yaml: --grid train.lr=0.5,abc"); }),
      "x.yaml: --grid train.lr=0.5,abc: key 'train.lr' expects a number, got 'abc'");
  EXPECT_EQ(user_error_of([] { check_override("train.stpes=5", "x.yaml: --grid train.stpes=5"); }),
            "x.yaml: --grid train.stpes=5: unknown key 'train.stpes' (did you mean "
            "'train.steps'?)");
  // Ranges need the whole config: a value of the right type passes here.
  check_override("model.dropout=1.5", "x.yaml: --grid model.dropout=1.5");
}

TEST(Config, LossSectionReadsItsKindsAndRefusesBadValues) {
  Config c = parse_config(std::string(kMinimal) +
                              "loss:\n  kind: gbce\n  negatives: 64\n  sampler: popularity\n"
                              "  popularity_alpha: 0.5\n  in_batch_negatives: 32\n"
                              "  logq_correction: false\n  gbce_t: 0.9\n",
                          "configs/x.yaml");
  EXPECT_EQ(c.loss.kind, ItemLoss::kGbce);
  EXPECT_EQ(c.loss.negatives, 64);
  EXPECT_EQ(c.loss.sampler, NegativeSampling::kPopularity);
  EXPECT_FLOAT_EQ(c.loss.popularity_alpha, 0.5f);
  EXPECT_EQ(c.loss.in_batch_negatives, 32);
  EXPECT_FALSE(c.loss.logq_correction);
  EXPECT_FLOAT_EQ(c.loss.gbce_t, 0.9f);

  EXPECT_EQ(parse_error(kMinimal, {"loss.kind=bpr"}),
            "configs/x.yaml: --set loss.kind=bpr: key 'loss.kind' expects one of full_softmax, "
            "sampled_softmax, gbce, got 'bpr'");
  EXPECT_EQ(parse_error(kMinimal, {"loss.sampler=zipf"}),
            "configs/x.yaml: --set loss.sampler=zipf: key 'loss.sampler' expects one of "
            "uniform, popularity, got 'zipf'");
  EXPECT_EQ(parse_error(kMinimal, {"loss.kind=sampled_softmax", "loss.negatives=0"}),
            "configs/x.yaml: key 'loss.negatives' must be >= 1, got 0");
  EXPECT_NE(parse_error(kMinimal, {"loss.gbce_t=1.5"}).find("loss.gbce_t"), std::string::npos);
  EXPECT_EQ(parse_error(kMinimal, {"loss.in_batch_negatives=8"}),
            "configs/x.yaml: key 'loss.in_batch_negatives' applies only to 'loss.kind: "
            "sampled_softmax' or 'loss.kind: gbce'");
  EXPECT_EQ(parse_error(kMinimal, {"task.copy_input_noise=0.1"}),
            "configs/x.yaml: key 'task.copy_input_noise' applies only to 'task.kind: copy'");
  EXPECT_NE(parse_error(kMinimal, {"task.copy_input_noise=1"}).find("task.copy_input_noise"),
            std::string::npos);
}

// Configs and manifests from before the loss section wrote task.sampled_negatives.
TEST(Config, LegacySampledNegativesIsReadAsTheLossSection) {
  Config c = parse_config(kMinimal, "configs/x.yaml", {"task.sampled_negatives=128"});
  EXPECT_EQ(c.loss.kind, ItemLoss::kSampledSoftmax);
  EXPECT_EQ(c.loss.negatives, 128);
  c = parse_config(kMinimal, "configs/x.yaml", {"task.sampled_negatives=0"});
  EXPECT_EQ(c.loss.kind, ItemLoss::kFullSoftmax);
  EXPECT_EQ(to_yaml(c).find("sampled_negatives"), std::string::npos);
  EXPECT_NE(parse_error(kMinimal, {"task.sampled_negatives=-3"}).find("task.sampled_negatives"),
            std::string::npos);
}

TEST(Config, ToYamlRoundTripsEveryField) {
  Config c = parse_config(kMinimal, "a.yaml");
  c.run.out_dir = "runs/with \"quotes\" and: colon";
  c.run.seed = 42;
  c.data.corpus = "123";  // looks like a number: must stay a string
  c.model.n_layer = 3;
  c.model.n_head = 3;
  c.model.d_model = 96;
  c.model.dropout = 0.1f;  // not exactly representable: the shortest form must read back exactly
  c.model.action_head = true;
  c.model.use_time_gap = false;
  c.task.kind = TaskKind::kPropensity;
  c.validation.metric = ValidationMetric::kLoss;  // the one metric a propensity task may follow
  c.task.init_from = "yes";
  c.task.body_lr_scale = 1.0f / 3.0f;
  c.loss.kind = ItemLoss::kGbce;
  c.loss.negatives = 17;
  c.loss.sampler = NegativeSampling::kPopularity;
  c.loss.popularity_alpha = 0.3f;
  c.loss.in_batch_negatives = 5;
  c.loss.logq_correction = false;
  c.loss.gbce_t = 0.6f;
  c.task.action_loss_weight = 0.3f;
  c.train.steps = 123456789012;
  c.train.lr = 7.77e-5f;
  c.train.schedule = LrSchedule::kConstant;
  c.train.eps = 1e-12f;
  c.train.decay_embeddings = true;
  c.checkpoint.every = 7;
  const std::string yaml = to_yaml(c);
  Config back = parse_config(yaml, "resolved.yaml");
  EXPECT_EQ(to_yaml(back), yaml);
  EXPECT_EQ(back.run.out_dir, c.run.out_dir);
  EXPECT_EQ(back.data.corpus, "123");
  EXPECT_EQ(back.model.dropout, 0.1f);
  EXPECT_EQ(back.task.body_lr_scale, 1.0f / 3.0f);
  EXPECT_EQ(back.task.init_from, "yes");
  EXPECT_EQ(back.train.steps, 123456789012);
  EXPECT_EQ(back.train.lr, 7.77e-5f);
  EXPECT_EQ(back.train.eps, 1e-12f);
  EXPECT_EQ(back.train.schedule, LrSchedule::kConstant);
  EXPECT_EQ(back.task.kind, TaskKind::kPropensity);
  EXPECT_TRUE(back.train.decay_embeddings);
  EXPECT_FALSE(back.model.use_time_gap);
  EXPECT_EQ(back.checkpoint.every, 7);
  // Every field is written: each line "  key: value" under its section.
  for (const char* key : {"out_dir:", "seed:", "device:", "corpus:", "n_layer:", "use_activity:",
                          "purchases_only:", "eval_batches:", "keep_last:", "beta2:"}) {
    EXPECT_NE(yaml.find(std::string("  ") + key), std::string::npos) << key;
  }
}

// Paths are written with YAML::Emitter, which quotes whatever needs it: each of these must read
// back unchanged, and the resolved YAML of the result must be the same text.
TEST(Config, ToYamlRoundTripsStringsThatNeedQuoting) {
  for (const std::string& path :
       {std::string("runs/a: b"), std::string("runs/#3 # not a comment"),
        std::string("runs/\"double\" and 'single'"), std::string("  runs/leading spaces"),
        std::string("runs/caf\xc3\xa9/\xe2\x82\xac/\xe6\x97\xa5\xe6\x9c\xac"),
        std::string("runs/trailing  "), std::string("null"), std::string("- [x]: {y}"),
        std::string("tab\tand\nnewline")}) {
    SCOPED_TRACE(path);
    Config c = parse_config(kMinimal, "a.yaml");
    c.run.out_dir = path;
    c.data.corpus = path + "/corpus.h5";
    c.task.init_from = path;
    const std::string yaml = to_yaml(c);
    const Config back = parse_config(yaml, "resolved.yaml");
    EXPECT_EQ(back.run.out_dir, path) << yaml;
    EXPECT_EQ(back.data.corpus, path + "/corpus.h5");
    EXPECT_EQ(back.task.init_from, path);
    EXPECT_EQ(to_yaml(back), yaml);
  }
}

TEST(Config, LoadConfigReadsFileAndNamesMissingOne) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("cf_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "c.yaml").string();
  auto write = [&](const std::string& text) {
    std::ofstream f(path, std::ios::trunc);
    f << text;
  };
  write(std::string(kMinimal) + "train:\n  stpes: 1\n");
  EXPECT_EQ(user_error_of([&] { load_config(path); }),
            path + ": unknown key 'train.stpes' (did you mean 'train.steps'?)");
  write(std::string(kMinimal) + "train:\n  steps: 3\n");
  Config c = load_config(path, {"train.lr=0.5"});
  EXPECT_EQ(c.source_path, path);
  EXPECT_EQ(c.train.steps, 3);
  EXPECT_EQ(c.train.lr, 0.5f);
  const std::string missing = (dir / "absent.yaml").string();
  EXPECT_EQ(user_error_of([&] { load_config(missing); }), missing + ": config file not found");
  fs::remove_all(dir);
}

// Every config shipped in configs/ must pass strict validation (a typo there would only show
// up when someone runs it).
TEST(Config, ShippedConfigsAreValid) {
  const char* fixtures = std::getenv("CARTFORMER_FIXTURES");
  if (!fixtures) GTEST_SKIP() << "CARTFORMER_FIXTURES not set (run through ctest)";
  namespace fs = std::filesystem;
  const fs::path configs = fs::path(fixtures) / ".." / ".." / "configs";
  int checked = 0;
  for (const char* folder : {"demo", "pretrain", "finetune", "recipes"}) {
    if (!fs::is_directory(configs / folder)) continue;
    for (const auto& entry : fs::directory_iterator(configs / folder)) {
      if (entry.path().extension() != ".yaml") continue;
      SCOPED_TRACE(entry.path().string());
      Config c = load_config(entry.path().string());
      EXPECT_EQ(to_yaml(parse_config(to_yaml(c), "resolved")), to_yaml(c));
      ++checked;
    }
  }
  EXPECT_GT(checked, 0) << "no configs found under " << configs;
}

}  // namespace
}  // namespace cf::trainer

namespace cf::trainer {
namespace {

TEST(Config, CommSectionAndGlobalBatch) {
  Config c = parse_config(std::string(kMinimal) +
                              "train:\n  global_batch: 64\ncomm:\n  timeout_s: 30\n"
                              "  bucket_mb: 0.5\n  zero1: true\n",
                          "configs/x.yaml");
  EXPECT_EQ(c.train.global_batch, 64);
  EXPECT_EQ(c.comm.timeout_s, 30.f);
  EXPECT_EQ(c.comm.bucket_mb, 0.5f);
  EXPECT_TRUE(c.comm.zero1);
  // Round trip through the resolved YAML.
  Config back = parse_config(to_yaml(c), "resolved");
  EXPECT_EQ(back.comm.zero1, true);
  EXPECT_EQ(back.train.global_batch, 64);
  EXPECT_EQ(parse_error(std::string(kMinimal) + "comm:\n  bucket_mb: 0\n"),
            "configs/x.yaml: key 'comm.bucket_mb' must be > 0, got 0");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "comm:\n  timeout_s: -1\n"),
            "configs/x.yaml: key 'comm.timeout_s' must be >= 0, got -1");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train:\n  global_batch: -8\n"),
            "configs/x.yaml: key 'train.global_batch' must be >= 0, got -8");
  EXPECT_NE(parse_error(std::string(kMinimal) + "comm:\n  zero: true\n").find("comm.zero1"),
            std::string::npos);
}

TEST(Config, EpochsOrStepsSetTheRunLength) {
  const Config by_steps = parse_config(kMinimal, "configs/x.yaml");
  EXPECT_EQ(by_steps.train.steps, 1000);
  EXPECT_EQ(by_steps.train.epochs, 0);
  // Epochs alone: steps is not the run length any more (0), in the resolved YAML too.
  const Config by_epochs = parse_config(std::string(kMinimal) + "train:\n  epochs: 3\n", "x.yaml");
  EXPECT_EQ(by_epochs.train.epochs, 3);
  EXPECT_EQ(by_epochs.train.steps, 0);
  const Config back = parse_config(to_yaml(by_epochs), "resolved.yaml");
  EXPECT_EQ(back.train.steps, 0);
  EXPECT_EQ(back.train.epochs, 3);
  EXPECT_EQ(to_yaml(back), to_yaml(by_epochs));
  // Both given: refused, naming both keys and the file; in the file or through --set alike.
  const std::string both =
      "configs/x.yaml: keys 'train.steps' and 'train.epochs' both set the run length; give one "
      "of them (train.steps 1000, train.epochs 2)";
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train:\n  steps: 1000\n  epochs: 2\n"), both);
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train:\n  steps: 1000\n", {"train.epochs=2"}),
            both);
  EXPECT_EQ(parse_error(kMinimal, {"train.epochs=-1"}),
            "configs/x.yaml: key 'train.epochs' must be >= 0, got -1");
  // steps: 0 is still refused when it is the run length.
  EXPECT_EQ(parse_error(std::string(kMinimal) + "train:\n  steps: 0\n  epochs: 0\n"),
            "configs/x.yaml: key 'train.steps' must be >= 1, got 0");
}

TEST(Config, ValidationSectionDefaultsAndChecks) {
  const Config c = parse_config(kMinimal, "configs/x.yaml");
  EXPECT_EQ(c.validation.metric, ValidationMetric::kNdcgAt10);
  EXPECT_EQ(c.validation.every, 0);
  EXPECT_EQ(c.validation.users, 0);
  EXPECT_EQ(c.validation.patience, 0);
  EXPECT_EQ(c.validation.min_delta, 0.0f);
  EXPECT_EQ(c.validation.holdout, ValidationHoldout::kAllUsers);
  EXPECT_TRUE(c.checkpoint.keep_best);
  const Config set =
      parse_config(kMinimal, "configs/x.yaml",
                   {"validation.metric=hr@10", "validation.every=50", "validation.users=1000",
                    "validation.patience=3", "validation.min_delta=0.001",
                    "checkpoint.keep_best=false", "validation.holdout=validation_users"});
  EXPECT_EQ(set.validation.metric, ValidationMetric::kHrAt10);
  EXPECT_EQ(set.validation.every, 50);
  EXPECT_EQ(set.validation.users, 1000);
  EXPECT_EQ(set.validation.patience, 3);
  EXPECT_EQ(set.validation.min_delta, 0.001f);
  EXPECT_FALSE(set.checkpoint.keep_best);
  EXPECT_EQ(set.validation.holdout, ValidationHoldout::kValidationUsers);
  EXPECT_EQ(to_yaml(parse_config(to_yaml(set), "resolved.yaml")), to_yaml(set));
  EXPECT_EQ(
      parse_error(kMinimal, {"validation.holdout=validation_users", "validation.metric=loss"}),
      "configs/x.yaml: key 'validation.holdout: validation_users' needs a ranking metric "
      "(validation.metric ndcg@10 or hr@10): the validation loss samples its own users");
  // The co-occurrence prior's weight is chosen on the validation ranking.
  EXPECT_FALSE(parse_config(kMinimal, "configs/x.yaml").model.cooccurrence_prior);
  EXPECT_TRUE(parse_config(kMinimal, "configs/x.yaml", {"model.cooccurrence_prior=true"})
                  .model.cooccurrence_prior);
  EXPECT_EQ(parse_error(kMinimal, {"model.cooccurrence_prior=true", "validation.metric=loss"}),
            "configs/x.yaml: key 'model.cooccurrence_prior' needs a ranking metric "
            "(validation.metric ndcg@10 or hr@10): its weight is chosen on the validation ranking");
  EXPECT_EQ(parse_error(kMinimal, {"validation.holdout=some"}),
            "configs/x.yaml: --set validation.holdout=some: key 'validation.holdout' expects one "
            "of all_users, validation_users, got 'some'");
  // The propensity task ranks no items: its default is the loss, and a ranking metric is refused.
  const Config propensity =
      parse_config(std::string(kMinimal) + "task:\n  kind: propensity\n", "configs/x.yaml");
  EXPECT_EQ(propensity.validation.metric, ValidationMetric::kLoss);
  EXPECT_EQ(parse_error(std::string(kMinimal) + "task:\n  kind: propensity\n",
                        {"validation.metric=ndcg@10"}),
            "configs/x.yaml: key 'validation.metric' ndcg@10 ranks items, which 'task.kind: "
            "propensity' does not; use loss");
  // So does the copy task, which also takes only the full softmax and no item features.
  const Config copy =
      parse_config(std::string(kMinimal) + "task:\n  kind: copy\n", "configs/x.yaml");
  EXPECT_EQ(copy.validation.metric, ValidationMetric::kLoss);
  EXPECT_EQ(parse_error(std::string(kMinimal) + "task:\n  kind: copy\nloss:\n  kind: gbce\n"),
            "configs/x.yaml: 'task.kind: copy' trains the full softmax over the text vocabulary; "
            "set loss.kind: full_softmax");
  EXPECT_EQ(
      parse_error(std::string(kMinimal) + "task:\n  kind: copy\n", {"model.item_features=input"}),
      "configs/x.yaml: 'task.kind: copy': a text corpus has no item features; set "
      "model.item_features: none");
  EXPECT_EQ(
      parse_error(std::string(kMinimal) + "validation:\n  metric: mrr\n"),
      "configs/x.yaml: key 'validation.metric' expects one of ndcg@10, hr@10, loss, got 'mrr'");
  EXPECT_EQ(parse_error(kMinimal, {"validation.patience=-1"}),
            "configs/x.yaml: key 'validation.patience' must be >= 0, got -1");
  EXPECT_EQ(parse_error(kMinimal, {"validation.users=-5"}),
            "configs/x.yaml: key 'validation.users' must be >= 0, got -5");
  EXPECT_EQ(parse_error(kMinimal, {"validation.every=-1"}),
            "configs/x.yaml: key 'validation.every' must be >= 0, got -1");
  EXPECT_EQ(parse_error(kMinimal, {"validation.min_delta=-0.5"}),
            "configs/x.yaml: key 'validation.min_delta' must be >= 0, got -0.5");
  EXPECT_EQ(parse_error(std::string(kMinimal) + "validation:\n  patiense: 2\n"),
            "configs/x.yaml: unknown key 'validation.patiense' (did you mean "
            "'validation.patience'?)");
}

}  // namespace
}  // namespace cf::trainer
