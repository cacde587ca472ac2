// fuzz_seeds: writes the starting corpus of every fuzz target in the targets' input encodings.
//
//   fuzz_seeds SOURCE_ROOT OUT_DIR
//
// Readers and config loaders start from the repository's own files (tests/fixtures, configs/);
// safetensors files, a checkpoint and an HDF5 corpus are made with the library's writers (the
// corpus as `cartformer synth` + `cartformer prep --format trio` would make it, 30 users).
// OUT_DIR/<target>/ receives the seeds; the repository is only read.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/prep.h"
#include "data/synth/synth.h"
#include "fuzz_support.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/model/model.h"
#include "trainer/safetensors.h"

namespace fs = std::filesystem;
namespace {

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw cf::UserError(path.string() + ": cannot read seed source");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void write_seed(const fs::path& out, const std::string& target, const std::string& name,
                const std::string& bytes) {
  fs::create_directories(out / target);
  std::ofstream file(out / target / name, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file) throw cf::UserError((out / target / name).string() + ": cannot write seed");
}

size_t format_byte(cf::data::RawFormat format) {
  for (size_t i = 0; i < cf::fuzz::kRawFormatCount; ++i) {
    if (cf::fuzz::kRawFormats[i] == format) return i;
  }
  throw cf::UserError("fuzz_seeds: format missing from kRawFormats");
}

void raw_log_seeds(const fs::path& fixtures, const fs::path& out) {
  using cf::data::RawFormat;
  const std::vector<std::pair<RawFormat, std::vector<std::string>>> sources = {
      {RawFormat::kTrio,
       {"trio/behavior_data.csv", "trio/item_data.csv", "trio/activity_data.csv"}},
      {RawFormat::kTaobao, {"taobao/UserBehavior.csv"}},
      {RawFormat::kRees46, {"rees46/events.csv"}},
      {RawFormat::kUserItem, {"user_item/beauty.txt"}},
      {RawFormat::kUserItems, {"user_items/Beauty.txt", "user_items/item2attributes.json"}},
      {RawFormat::kUserItems, {"user_items/Beauty.txt"}},
      {RawFormat::kYoochoose, {"yoochoose/clicks.tsv"}},
      {RawFormat::kDiginetica, {"diginetica/item-views.csv"}},
  };
  int index = 0;
  for (const auto& [format, files] : sources) {
    std::vector<std::string> parts;
    for (const auto& file : files) parts.push_back(read_bytes(fixtures / file));
    const std::string input =
        std::string(1, static_cast<char>(format_byte(format))) + cf::fuzz::join_parts(parts);
    write_seed(out, "fuzz_raw_log_readers",
               std::to_string(index++) + "_" + cf::data::raw_format_name(format), input);
  }
}

void config_seeds(const fs::path& configs, const fs::path& out) {
  for (const auto& entry : fs::recursive_directory_iterator(configs)) {
    if (entry.path().extension() != ".yaml") continue;
    const bool prep = entry.path().parent_path().filename() == "data";
    const std::string name =
        entry.path().parent_path().filename().string() + "_" + entry.path().filename().string();
    write_seed(out, prep ? "fuzz_prep_config" : "fuzz_train_config", name,
               read_bytes(entry.path()));
  }
  // Overrides as `--set` gives them, after the separator.
  write_seed(out, "fuzz_train_config", "with_overrides.yaml",
             cf::fuzz::join_parts({"data:\n  corpus: c.h5\n",
                                   "train.lr=0.01\nrun.out_dir='a b'\nmodel.dropout=\n"}));
}

cf::trainer::ModelConfig tiny_model() {
  cf::trainer::ModelConfig model;
  model.n_layer = 1;
  model.n_head = 1;
  model.d_model = 2;
  model.d_ff = 2;
  model.max_len = 3;
  return model;
}

void tensor_file_seeds(const fs::path& scratch, const fs::path& out) {
  const std::vector<float> values = {1.0f, -2.5f, 0.0f, 3.25f, 1e-3f, -0.0f};
  const fs::path path = scratch / "seed.safetensors";
  cf::trainer::write_safetensors(path.string(),
                                 {{"matrix", {2, 2}, values.data()},
                                  {"vector", {2}, values.data() + 4},
                                  {"empty", {0, 3}, nullptr}},
                                 {{"format", "pt"}, {"producer", "fuzz_seeds"}});
  write_seed(out, "fuzz_safetensors", "three_tensors", read_bytes(path));
  cf::trainer::write_safetensors(path.string(), {});
  write_seed(out, "fuzz_safetensors", "no_tensors", read_bytes(path));

  // A whole checkpoint of a tiny model, with and without optimizer state.
  const cf::data::VocabSizes vocab{5, 5, 3, cf::data::kNumTimeGapBuckets, 2};
  cf::trainer::Model model(tiny_model(), vocab);
  model.init_weights(7);
  cf::trainer::Config config =
      cf::trainer::parse_config("data:\n  corpus: corpus.h5\n", "seed.yaml");
  config.model = tiny_model();
  cf::trainer::TrainState state;
  state.step = 3;
  state.tokens_seen = 42;
  state.sampler_step = 3;
  state.seed = 1234;
  const std::vector<float> adam(model.params().size(), 0.5f);
  const std::string dir = cf::trainer::write_checkpoint((scratch / "checkpoints").string(), model,
                                                        adam, adam, config, state, "seed-fp");
  const std::string manifest = read_bytes(fs::path(dir) / "manifest.json");
  const std::string weights = read_bytes(fs::path(dir) / "model.safetensors");
  const std::string optimizer = read_bytes(fs::path(dir) / "optimizer.safetensors");
  write_seed(out, "fuzz_safetensors", "checkpoint_weights", weights);
  write_seed(out, "fuzz_safetensors", "checkpoint_optimizer", optimizer);
  // Flag byte: bit 0 fixes checksums, bit 1 loads the optimizer state.
  const std::string verbatim(1, '\0'), fixed(1, '\1'), fixed_with_optimizer(1, '\3');
  write_seed(out, "fuzz_checkpoint_manifest", "verbatim",
             verbatim + cf::fuzz::join_parts({manifest, weights, optimizer}));
  write_seed(out, "fuzz_checkpoint_manifest", "fixed",
             fixed + cf::fuzz::join_parts({manifest, weights, optimizer}));
  write_seed(out, "fuzz_checkpoint_manifest", "fixed_with_optimizer",
             fixed_with_optimizer + cf::fuzz::join_parts({manifest, weights, optimizer}));
  write_seed(out, "fuzz_checkpoint_manifest", "manifest_only", fixed + manifest);
}

void corpus_seed(const fs::path& scratch, const fs::path& out) {
  cf::synth::SynthOptions synth;
  synth.users = 30;
  synth.items = 20;
  synth.seed = 1;
  const fs::path logs = scratch / "synth";
  cf::synth::generate_synthetic_logs(synth, logs.string());
  cf::data::PrepOptions prep;
  prep.sources.push_back({cf::data::RawFormat::kTrio, logs.string(), "", {}});
  prep.output_path = (scratch / "corpus.h5").string();
  prep.user_key = "fuzz-seed-key-0123456789abcdef01";  // 32 bytes, like a --key-file key
  prep.user_key_source = "key-file";
  cf::data::run_prep(prep);
  write_seed(out, "fuzz_corpus_reader", "synth_30_users.h5", read_bytes(prep.output_path));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SOURCE_ROOT OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path source = argv[1], out = argv[2];
  const fs::path scratch = out / ".scratch";
  try {
    fs::remove_all(scratch);
    fs::create_directories(scratch);
    raw_log_seeds(source / "tests" / "fixtures", out);
    config_seeds(source / "configs", out);
    tensor_file_seeds(scratch, out);
    corpus_seed(scratch, out);
    fs::remove_all(scratch);
  } catch (const cf::UserError& error) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", error.what());
    return 1;
  }
  return 0;
}
