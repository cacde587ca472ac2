#include "trainer/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "core/sha256.h"
#include "trainer/best_checkpoint.h"
#include "trainer/model/model_layout.h"
#include "trainer/safetensors.h"

namespace cf::trainer {
namespace fs = std::filesystem;
namespace {

constexpr const char* kModelFile = "model.safetensors";
constexpr const char* kOptimizerFile = "optimizer.safetensors";
constexpr const char* kManifestFile = "manifest.json";
// The manifest carries a checksum of its own content (this key removed, compact dump), so a
// flipped byte there is caught like one in the tensor files.
constexpr const char* kManifestChecksumKey = "manifest_sha256";

std::string join(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Json vocab_to_json(const data::VocabSizes& v) {
  Json j = {{"items", v.items},
            {"actions", v.actions},
            {"categories", v.categories},
            {"time_gaps", v.time_gaps},
            {"activities", v.activities}};
  // Only when present, so manifests of feature-less corpora stay as they were.
  if (v.item_features > 0) j["item_features"] = v.item_features;
  return j;
}

// `value` as the integer type T when it is a JSON integer within T's range. nlohmann's get<T>()
// would convert a float or an out-of-range integer with a plain C++ cast instead (undefined
// behaviour for a float beyond T's range, a silently different value otherwise).
template <class T>
std::optional<T> exact_integer(const Json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (std::in_range<T>(v)) return static_cast<T>(v);
  } else if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if (std::in_range<T>(v)) return static_cast<T>(v);
  }
  return std::nullopt;
}

// Field `key` of the JSON object `object` (found at `where` inside the manifest at `path`) as a
// T: an integer type (exact, within range), double, bool or std::string. UserError otherwise.
template <class T>
T get_field(const Json& object, const std::string& key, const std::string& path,
            const std::string& where = "") {
  if (object.is_object() && object.contains(key)) {
    const Json& value = object[key];
    if constexpr (std::is_same_v<T, bool>) {
      if (value.is_boolean()) return value.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (const std::optional<T> v = exact_integer<T>(value)) return *v;
    } else if constexpr (std::is_same_v<T, double>) {
      if (value.is_number()) return value.get<double>();
    } else {
      static_assert(std::is_same_v<T, std::string>, "unhandled manifest field type");
      if (value.is_string()) return value.get<std::string>();
    }
  }
  throw UserError(path + ": malformed manifest (field '" + where + key +
                  "' missing, mistyped or out of range)");
}

data::VocabSizes vocab_from_json(const Json& j, const std::string& path) {
  data::VocabSizes v;
  v.items = get_field<int32_t>(j, "items", path, "vocab_sizes.");
  v.actions = get_field<int32_t>(j, "actions", path, "vocab_sizes.");
  v.categories = get_field<int32_t>(j, "categories", path, "vocab_sizes.");
  v.time_gaps = get_field<int32_t>(j, "time_gaps", path, "vocab_sizes.");
  v.activities = get_field<int32_t>(j, "activities", path, "vocab_sizes.");
  // Absent in manifests from before item features: such a corpus had none.
  if (j.contains("item_features"))
    v.item_features = get_field<int32_t>(j, "item_features", path, "vocab_sizes.");
  return v;
}

std::vector<SafetensorsTensorView> views_of(const std::vector<ParamTensor>& tensors,
                                            const std::vector<float>& buffer,
                                            const std::string& prefix) {
  std::vector<SafetensorsTensorView> views;
  for (const auto& t : tensors) {
    CF_CHECK(t.offset >= 0 && t.offset + t.numel() <= static_cast<int64_t>(buffer.size()),
             "tensor " + t.name + " outside its buffer");
    views.push_back({prefix + t.name, t.shape, buffer.data() + t.offset});
  }
  return views;
}

// Parses manifest.json and checks its self-checksum; UserError naming the file otherwise.
Json read_manifest(const std::string& dir) {
  const std::string path = join(dir, kManifestFile);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw UserError(path + ": missing (not a checkpoint directory, or an unfinished one)");
  }
  Json manifest;
  try {
    manifest = Json::parse(read_text_file(path));
  } catch (const Json::exception& e) {
    throw UserError(path + ": malformed manifest (" + std::string(e.what()) + ")");
  }
  if (!manifest.is_object() || !manifest.contains(kManifestChecksumKey) ||
      !manifest[kManifestChecksumKey].is_string()) {
    throw UserError(path + ": malformed manifest (no " + kManifestChecksumKey + ")");
  }
  std::string recorded = manifest[kManifestChecksumKey].get<std::string>();
  Json content = manifest;
  content.erase(kManifestChecksumKey);
  if (sha256_hex(content.dump()) != recorded) {
    throw UserError(path + ": checksum mismatch (file corrupt)");
  }
  const std::optional<int> version = manifest.contains("format_version")
                                         ? exact_integer<int>(manifest["format_version"])
                                         : std::nullopt;
  if (!version) throw UserError(path + ": malformed manifest (no format_version)");
  if (*version != kCheckpointFormatVersion) {
    throw UserError(path + ": checkpoint format version " + std::to_string(*version) +
                    " is not supported (this build reads version " +
                    std::to_string(kCheckpointFormatVersion) + ")");
  }
  return manifest;
}

void verify_files(const std::string& dir, const Json& manifest) {
  const std::string manifest_path = join(dir, kManifestFile);
  if (!manifest.contains("files") || !manifest["files"].is_object() ||
      !manifest["files"].contains(kModelFile)) {
    throw UserError(manifest_path + ": malformed manifest (no files." + kModelFile + ")");
  }
  for (auto it = manifest["files"].begin(); it != manifest["files"].end(); ++it) {
    const std::string path = join(dir, it.key());
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw UserError(path + ": missing from the checkpoint");
    if (!it.value().is_string() || sha256_file_hex(path) != it.value().get<std::string>()) {
      throw UserError(path + ": checksum mismatch (file corrupt)");
    }
  }
}

// step_<digits> directories under `root`, newest (largest step) first.
std::vector<std::pair<int64_t, std::string>> step_directories(const std::string& root) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return found;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step_", 0) != 0 || !entry.is_directory()) continue;
    const char* begin = name.data() + 5;
    const char* end = name.data() + name.size();
    int64_t step = 0;
    auto [ptr, parse_ec] = std::from_chars(begin, end, step);
    // Anything but step_<digits> (step_N.tmp.<pid>, step_N.deleting...) is not a checkpoint.
    if (parse_ec != std::errc() || ptr != end || begin == end) continue;
    found.emplace_back(step, entry.path().string());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a > b; });
  return found;
}

// Verifies a scanned step_N directory, also requiring that its manifest agrees on N.
bool verify_scanned(int64_t step, const std::string& dir, bool warn) {
  try {
    Json manifest = read_manifest(dir);
    verify_files(dir, manifest);
    if (!manifest.contains("step") || manifest["step"] != step) {
      throw UserError(join(dir, kManifestFile) + ": records a step other than " +
                      std::to_string(step));
    }
    return true;
  } catch (const UserError& e) {
    if (warn) std::fprintf(stderr, "warning: skipping checkpoint %s: %s\n", dir.c_str(), e.what());
    return false;
  }
}

}  // namespace

const ParamTensor* LoadedCheckpoint::find_tensor(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {

// The TrainState's fields, at the top level of a manifest (or of the object ranks broadcast).
void add_train_state(Json& out, const TrainState& state) {
  out["step"] = state.step;
  out["tokens_seen"] = state.tokens_seen;
  out["sampler_step"] = state.sampler_step;
  out["seed"] = state.seed;
  out["rng_state"] = state.rng_state;
  out["elapsed_seconds"] = state.elapsed_seconds;
  out["global_batch"] = state.global_batch;
  // Values only mean something once their step is set (and JSON holds no NaN/inf).
  const EarlyStoppingState& es = state.early_stopping;
  out["early_stopping"] = {
      {"best_step", es.best_step},
      {"best_value", es.best_step >= 0 ? es.best_value : 0.0},
      {"evaluations_without_improvement", es.evaluations_without_improvement},
      {"best_learning_step", es.best_learning_step},
      {"best_learning_value", es.best_learning_step >= 0 ? es.best_learning_value : 0.0}};
  out["cooccurrence_prior_weight"] = state.cooccurrence_prior_weight;
  if (state.privacy.enabled) out["privacy"] = privacy_spent_json(state.privacy);
}

TrainState read_train_state(const Json& in, const std::string& source) {
  TrainState state;
  state.step = get_field<int64_t>(in, "step", source);
  state.tokens_seen = get_field<int64_t>(in, "tokens_seen", source);
  state.sampler_step = get_field<int64_t>(in, "sampler_step", source);
  state.seed = get_field<uint64_t>(in, "seed", source);
  state.rng_state = get_field<std::string>(in, "rng_state", source);
  state.elapsed_seconds = get_field<double>(in, "elapsed_seconds", source);
  // Absent from checkpoints written before it was recorded.
  state.global_batch =
      in.contains("global_batch") ? get_field<int64_t>(in, "global_batch", source) : 0;
  // Absent from checkpoints written before early stopping: a fresh state.
  if (in.contains("early_stopping")) {
    const Json& es = in["early_stopping"];
    EarlyStoppingState& out = state.early_stopping;
    out.best_step = get_field<int64_t>(es, "best_step", source, "early_stopping.");
    out.best_value = get_field<double>(es, "best_value", source, "early_stopping.");
    out.evaluations_without_improvement =
        get_field<int64_t>(es, "evaluations_without_improvement", source, "early_stopping.");
    // Absent from checkpoints written before the second metric existed: none seen yet.
    if (es.contains("best_learning_step")) {
      out.best_learning_step =
          get_field<int64_t>(es, "best_learning_step", source, "early_stopping.");
      out.best_learning_value =
          get_field<double>(es, "best_learning_value", source, "early_stopping.");
    }
  }
  // Absent from checkpoints written before the prior existed: none.
  state.cooccurrence_prior_weight = in.contains("cooccurrence_prior_weight")
                                        ? get_field<double>(in, "cooccurrence_prior_weight", source)
                                        : 0.0;
  // Absent from runs trained without privacy.
  if (in.contains("privacy")) {
    const Json& p = in["privacy"];
    PrivacySpent& out = state.privacy;
    out.enabled = true;
    out.epsilon = get_field<double>(p, "epsilon", source, "privacy.");
    out.delta = get_field<double>(p, "delta", source, "privacy.");
    out.clip_norm = get_field<double>(p, "clip_norm", source, "privacy.");
    out.noise_multiplier = get_field<double>(p, "noise_multiplier", source, "privacy.");
    out.sampling_rate = get_field<double>(p, "sampling_rate", source, "privacy.");
    out.steps = get_field<int64_t>(p, "steps", source, "privacy.");
    // Absent before composition existed: none.
    if (p.contains("earlier_phases"))
      out.earlier = privacy_phases_from_json(p["earlier_phases"], source);
  }
  return state;
}

}  // namespace

std::string write_checkpoint(const std::string& checkpoints_root,
                             const std::vector<ParamTensor>& tensors,
                             const std::vector<float>& params, const data::VocabSizes& vocab,
                             const std::vector<float>& adam_m, const std::vector<float>& adam_v,
                             const Config& config, const TrainState& state,
                             const std::string& vocab_fingerprint) {
  CF_CHECK(adam_m.size() == adam_v.size(), "optimizer m and v differ in size");
  CF_CHECK(adam_m.empty() || adam_m.size() == params.size(),
           "optimizer state laid out unlike the parameters");
  const std::string final_dir = join(checkpoints_root, "step_" + std::to_string(state.step));
  // A checkpoint is something to resume or evaluate from: weights that are NaN or infinite
  // are neither, and would only hide the good checkpoint before them.
  for (const ParamTensor& t : tensors) {
    const float* values = params.data() + t.offset;
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (!std::isfinite(values[i])) {
        throw UserError(final_dir + ": not written: tensor " + t.name +
                        " holds non-finite values (the training diverged)");
      }
    }
  }
  std::error_code ec;
  fs::create_directories(checkpoints_root, ec);
  if (ec) throw UserError(checkpoints_root + ": cannot create directory: " + ec.message());

  PendingOutput out(final_dir, /*is_directory=*/true);
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"producer", "cartformer"}, {"step", std::to_string(state.step)}};
  write_safetensors(join(out.temp_path(), kModelFile), views_of(tensors, params, ""), metadata);
  if (!adam_m.empty()) {
    std::vector<SafetensorsTensorView> views = views_of(tensors, adam_m, "m.");
    for (auto& view : views_of(tensors, adam_v, "v.")) views.push_back(std::move(view));
    write_safetensors(join(out.temp_path(), kOptimizerFile), views, metadata);
  }

  Json manifest = Json::object();
  manifest["format_version"] = kCheckpointFormatVersion;
  add_train_state(manifest, state);
  manifest["config_yaml"] = to_yaml(config);
  manifest["vocab_sizes"] = vocab_to_json(vocab);
  manifest["vocab_fingerprint"] = vocab_fingerprint;
  Json tensor_list = Json::array();
  for (const auto& t : tensors) {
    tensor_list.push_back({{"name", t.name},
                           {"shape", t.shape},
                           {"offset", t.offset},
                           {"matrix", t.is_matrix_weight},
                           {"block", t.block}});
  }
  manifest["model"] = {{"n_params", params.size()}, {"tensors", std::move(tensor_list)}};
  Json files = Json::object();
  files[kModelFile] = sha256_file_hex(join(out.temp_path(), kModelFile));
  if (!adam_m.empty())
    files[kOptimizerFile] = sha256_file_hex(join(out.temp_path(), kOptimizerFile));
  manifest["files"] = std::move(files);
  manifest[kManifestChecksumKey] = sha256_hex(manifest.dump());

  const std::string manifest_path = join(out.temp_path(), kManifestFile);
  {
    std::ofstream f(manifest_path, std::ios::binary | std::ios::trunc);
    f << manifest.dump(2) << "\n";
    f.flush();
    if (!f) throw UserError(manifest_path + ": write failed (disk full?)");
  }
  out.commit();  // fsyncs every file and the directory, renames, fsyncs the parent
  return final_dir;
}

std::string write_checkpoint(const std::string& checkpoints_root, const Model& model,
                             const std::vector<float>& adam_m, const std::vector<float>& adam_v,
                             const Config& config, const TrainState& state,
                             const std::string& vocab_fingerprint) {
  // The saved config describes the model actually built (the trainer may switch on heads the
  // task needs), so model_from_checkpoint rebuilds exactly these tensors.
  Config resolved = config;
  resolved.model = model.config();
  return write_checkpoint(checkpoints_root, model.tensors(), model.params(), model.vocab(), adam_m,
                          adam_v, resolved, state, vocab_fingerprint);
}

void verify_checkpoint(const std::string& dir) {
  Json manifest = read_manifest(dir);
  verify_files(dir, manifest);
}

LoadedCheckpoint load_checkpoint(const std::string& dir, bool load_optimizer) {
  const Json manifest = read_manifest(dir);
  verify_files(dir, manifest);
  const std::string manifest_path = join(dir, kManifestFile);

  LoadedCheckpoint ckpt;
  ckpt.dir = dir;
  ckpt.state = read_train_state(manifest, manifest_path);
  ckpt.vocab_fingerprint = get_field<std::string>(manifest, "vocab_fingerprint", manifest_path);
  if (!manifest.contains("vocab_sizes") || !manifest["vocab_sizes"].is_object()) {
    throw UserError(manifest_path + ": malformed manifest (vocab_sizes)");
  }
  ckpt.vocab = vocab_from_json(manifest["vocab_sizes"], manifest_path);
  ckpt.config = parse_config(get_field<std::string>(manifest, "config_yaml", manifest_path),
                             manifest_path + " (config_yaml)");

  if (!manifest.contains("model") || !manifest["model"].is_object() ||
      !manifest["model"].contains("tensors") || !manifest["model"]["tensors"].is_array()) {
    throw UserError(manifest_path + ": malformed manifest (model tensors)");
  }
  const Json& model = manifest["model"];
  const int64_t n_params = get_field<int64_t>(model, "n_params", manifest_path, "model.");
  if (n_params < 0) throw UserError(manifest_path + ": malformed manifest (negative n_params)");
  for (size_t i = 0; i < model["tensors"].size(); ++i) {
    const Json& j = model["tensors"][i];
    const std::string where = "model.tensors[" + std::to_string(i) + "].";
    ParamTensor t;
    t.name = get_field<std::string>(j, "name", manifest_path, where);
    t.offset = get_field<int64_t>(j, "offset", manifest_path, where);
    t.is_matrix_weight = get_field<bool>(j, "matrix", manifest_path, where);
    t.block = get_field<int>(j, "block", manifest_path, where);
    if (!j.contains("shape") || !j["shape"].is_array()) {
      throw UserError(manifest_path + ": malformed manifest (field '" + where + "shape')");
    }
    for (const Json& d : j["shape"]) {
      const std::optional<int64_t> dim = exact_integer<int64_t>(d);
      if (!dim || *dim < 0) {
        throw UserError(manifest_path + ": malformed manifest (tensor '" + t.name +
                        "' has a dimension that is not a non-negative integer)");
      }
      t.shape.push_back(*dim);
    }
    // Multiplied only while the product stays within n_params, so it never overflows.
    const bool empty = std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end();
    bool outside = t.offset < 0 || t.offset > n_params;
    int64_t numel = empty ? 0 : 1;
    for (size_t k = 0; k < t.shape.size() && !empty && !outside; ++k) {
      if (t.shape[k] > n_params / numel) outside = true;
      numel *= outside ? 1 : t.shape[k];
    }
    if (outside || numel > n_params - t.offset) {
      throw UserError(manifest_path + ": tensor '" + t.name + "' lies outside the parameters");
    }
    ckpt.tensors.push_back(std::move(t));
  }

  auto fill = [&](const std::string& file, const std::string& prefix, std::vector<float>& out) {
    const std::string path = join(dir, file);
    SafetensorsFile st = read_safetensors(path);
    // n_params sizes the buffer: it must not ask for more than the file holds (the writer
    // stores every parameter once per prefix), or a wrong count would allocate without bound.
    int64_t stored = 0;
    for (const auto& t : st.tensors) stored += static_cast<int64_t>(t.data.size());
    if (n_params > stored) {
      throw UserError(path + ": holds " + std::to_string(stored) + " values, fewer than the " +
                      std::to_string(n_params) + " parameters the manifest records");
    }
    out.assign(static_cast<size_t>(n_params), 0.0f);
    for (const auto& t : ckpt.tensors) {
      const SafetensorsTensor* found = st.find(prefix + t.name);
      if (!found) throw UserError(path + ": tensor '" + prefix + t.name + "' missing");
      if (found->shape != t.shape) {
        throw UserError(path + ": tensor '" + prefix + t.name + "' has shape " +
                        shape_string(found->shape) + ", the manifest says " +
                        shape_string(t.shape));
      }
      std::copy(found->data.begin(), found->data.end(), out.begin() + t.offset);
    }
  };
  fill(kModelFile, "", ckpt.params);
  // Written before non-finite weights were refused (or by another tool): scores from them
  // would be NaN, so they are not loaded at all.
  for (const auto& t : ckpt.tensors) {
    const auto first = ckpt.params.begin() + t.offset;
    if (!std::all_of(first, first + t.numel(), [](float x) { return std::isfinite(x); })) {
      throw UserError(join(dir, kModelFile) + ": tensor '" + t.name +
                      "' holds non-finite values (the run that wrote it diverged)");
    }
  }
  if (load_optimizer && manifest.at("files").contains(kOptimizerFile)) {
    fill(kOptimizerFile, "m.", ckpt.adam_m);
    fill(kOptimizerFile, "v.", ckpt.adam_v);
  }
  return ckpt;
}

std::optional<std::string> find_latest_valid_checkpoint(const std::string& checkpoints_root) {
  for (const auto& [step, dir] : step_directories(checkpoints_root)) {
    if (verify_scanned(step, dir, /*warn=*/true)) return dir;
  }
  return std::nullopt;
}

int64_t count_checkpoint_directories(const std::string& checkpoints_root) {
  return int64_t(step_directories(checkpoints_root).size());
}

std::string resolve_checkpoint_dir(const std::string& path, std::string* why) {
  auto note = [&](const std::string& text) {
    if (why) *why = text;
  };
  std::error_code ec;
  if (fs::is_regular_file(join(path, kManifestFile), ec)) {
    note("as given");
    return path;
  }
  if (!fs::is_directory(path, ec)) throw UserError(path + ": no such checkpoint or run directory");
  std::string root =
      fs::is_directory(join(path, "checkpoints"), ec) ? join(path, "checkpoints") : path;
  // The run's best checkpoint by its validation metric, when it has one that verifies: that is
  // the model the run chose. Otherwise the newest, as before best.json existed.
  try {
    if (const auto best = read_best_mark(root)) {
      const std::string dir = join(root, "step_" + std::to_string(best->step));
      if (verify_scanned(best->step, dir, /*warn=*/true)) {
        char value[32];
        std::snprintf(value, sizeof value, "%.6g", best->value);
        note("best validation " + best->metric + " " + value + " at step " +
             std::to_string(best->step));
        return dir;
      }
      std::fprintf(stderr,
                   "warning: %s names step %lld, which is not a valid checkpoint; "
                   "taking the newest valid one\n",
                   best_mark_path(root).c_str(), static_cast<long long>(best->step));
    }
  } catch (const UserError& e) {
    std::fprintf(stderr, "warning: %s; taking the newest valid checkpoint\n", e.what());
  }
  note("newest valid");
  if (auto latest = find_latest_valid_checkpoint(root)) return *latest;
  throw UserError(path + ": no valid checkpoint found (expected a checkpoint directory with " +
                  kManifestFile + ", or a run directory with checkpoints/step_N/)");
}

void prune_checkpoints(const std::string& checkpoints_root, int keep_last) {
  keep_last = std::max(keep_last, 1);
  // The checkpoint best.json names is the run's chosen model: never pruned. An unreadable mark
  // protects nothing (the newest keep_last still are).
  std::optional<int64_t> best_step;
  try {
    if (const auto best = read_best_mark(checkpoints_root)) best_step = best->step;
  } catch (const UserError& e) {
    std::fprintf(stderr, "warning: %s\n", e.what());
  }
  int valid_kept = 0;
  for (const auto& [step, dir] : step_directories(checkpoints_root)) {
    if (valid_kept < keep_last) {
      if (verify_scanned(step, dir, /*warn=*/false)) ++valid_kept;
      continue;
    }
    if (best_step && step == *best_step) continue;  // kept past keep_last
    // Older than the newest keep_last valid checkpoints: renamed first so that an interrupted
    // delete never leaves a half-removed step_N that looks like a (corrupt) checkpoint.
    std::error_code ec;
    std::string doomed = dir + ".deleting." + std::to_string(::getpid());
    fs::rename(dir, doomed, ec);
    if (ec) throw UserError(dir + ": cannot remove old checkpoint: " + ec.message());
    fs::remove_all(doomed, ec);
    if (ec) throw UserError(doomed + ": cannot remove old checkpoint: " + ec.message());
  }
}

void require_behaviour_model(const LoadedCheckpoint& ckpt, const std::string& command) {
  if (ckpt.config.task.kind != TaskKind::kCopy) return;
  throw UserError(ckpt.dir + ": a copy (text) model (task.kind: copy): cartformer " + command +
                  " needs a behaviour model; write and evaluate copy with cartformer copy");
}

void require_same_vocab(const LoadedCheckpoint& ckpt, const std::string& corpus_path,
                        const std::string& corpus_fingerprint) {
  if (corpus_fingerprint == ckpt.vocab_fingerprint) return;
  throw UserError(corpus_path + ": vocabulary differs from the checkpoint's (" + ckpt.dir +
                  "): fingerprint " + corpus_fingerprint.substr(0, 12) + " vs " +
                  ckpt.vocab_fingerprint.substr(0, 12) + " (the checkpoint has " +
                  std::to_string(ckpt.vocab.items) + " items); use the corpus it was trained on");
}

void require_same_vocab(const LoadedCheckpoint& ckpt, const std::string& corpus_path,
                        const std::string& corpus_fingerprint,
                        const data::VocabSizes& corpus_vocab) {
  if (corpus_fingerprint == ckpt.vocab_fingerprint) return;
  std::string differences;
  auto compare = [&](const char* what, int32_t corpus, int32_t checkpoint) {
    if (corpus == checkpoint) return;
    if (!differences.empty()) differences += ", ";
    differences +=
        std::string(what) + " " + std::to_string(corpus) + " vs " + std::to_string(checkpoint);
  };
  compare("items", corpus_vocab.items, ckpt.vocab.items);
  compare("actions", corpus_vocab.actions, ckpt.vocab.actions);
  compare("categories", corpus_vocab.categories, ckpt.vocab.categories);
  compare("time gaps", corpus_vocab.time_gaps, ckpt.vocab.time_gaps);
  compare("activities", corpus_vocab.activities, ckpt.vocab.activities);
  compare("item features", corpus_vocab.item_features, ckpt.vocab.item_features);
  if (differences.empty()) {
    differences = "same sizes but different tokens (fingerprint " +
                  corpus_fingerprint.substr(0, 12) + " vs " + ckpt.vocab_fingerprint.substr(0, 12) +
                  ")";
  } else {
    differences += " (corpus vs checkpoint)";
  }
  throw UserError(corpus_path + ": vocabulary differs from the checkpoint's (" + ckpt.dir +
                  "): " + differences);
}

Model model_from_checkpoint(const LoadedCheckpoint& ckpt, const data::CorpusReader& corpus) {
  if (ckpt.config.model.item_features == ItemFeatureUse::kNone) return model_from_checkpoint(ckpt);
  return model_from_checkpoint(ckpt,
                               std::make_shared<const data::ItemFeatures>(corpus.item_features()));
}

Model model_from_checkpoint(const LoadedCheckpoint& ckpt,
                            std::shared_ptr<const data::ItemFeatures> item_features) {
  if (ckpt.config.model.item_features != ItemFeatureUse::kNone &&
      (!item_features || item_features->vocab_size != ckpt.vocab.item_features))
    throw UserError(ckpt.dir + ": the model uses item features (model.item_features: " +
                    item_feature_use_name(ckpt.config.model.item_features) +
                    "); give it the corpus it was trained on");
  // The config and vocabulary of a damaged manifest can describe a model of any size, so the
  // layout they describe is compared with the tensors really loaded before a Model (and its
  // buffers) is allocated; the allocation is then bounded by the checkpoint's files.
  ModelLayout layout;
  try {
    layout = build_model_layout(ckpt.config.model, ckpt.vocab);
  } catch (const UserError& e) {
    throw UserError(ckpt.dir + ": " + e.what());
  }
  const auto& wanted = layout.tensors;
  for (const auto& t : ckpt.tensors) {
    bool known = std::any_of(wanted.begin(), wanted.end(),
                             [&](const ParamTensor& w) { return w.name == t.name; });
    if (!known) {
      throw UserError(ckpt.dir + ": checkpoint tensor '" + t.name +
                      "' is not part of the model its config describes");
    }
  }
  for (const auto& t : wanted) {
    const ParamTensor* s = ckpt.find_tensor(t.name);
    if (!s) {
      throw UserError(ckpt.dir + ": checkpoint lacks tensor '" + t.name +
                      "' of the model its config describes");
    }
    if (s->shape != t.shape) {
      throw UserError(ckpt.dir + ": tensor '" + t.name + "' has shape " + shape_string(s->shape) +
                      " in the checkpoint but " + shape_string(t.shape) + " in the model");
    }
  }
  Model model(ckpt.config.model, ckpt.vocab, std::move(item_features));
  load_matching_weights(model, ckpt, nullptr);
  return model;
}

void load_matching_weights(Model& dst, const LoadedCheckpoint& src,
                           std::vector<std::string>* missing) {
  std::vector<float>& params = dst.params();
  for (const auto& t : dst.tensors()) {
    const ParamTensor* s = src.find_tensor(t.name);
    if (!s) {
      if (missing) missing->push_back(t.name);
      continue;
    }
    if (s->shape != t.shape) {
      throw UserError(src.dir + ": tensor '" + t.name + "' has shape " + shape_string(s->shape) +
                      " in the checkpoint but " + shape_string(t.shape) + " in the model");
    }
    CF_CHECK(s->offset + s->numel() <= static_cast<int64_t>(src.params.size()),
             "checkpoint tensor outside its parameters");
    std::copy_n(src.params.begin() + s->offset, t.numel(), params.begin() + t.offset);
  }
}

Json privacy_spent_json(const PrivacySpent& p) {
  return {{"epsilon", p.epsilon},
          {"delta", p.delta},
          {"clip_norm", p.clip_norm},
          {"noise_multiplier", p.noise_multiplier},
          {"sampling_rate", p.sampling_rate},
          {"steps", p.steps},
          {"earlier_phases", privacy_phases_json(p.earlier)},
          {"accountant", "RDP, Poisson-sampled Gaussian, add/remove one user"}};
}

Json privacy_phases_json(const std::vector<privacy::MechanismPhase>& phases) {
  Json out = Json::array();
  for (const privacy::MechanismPhase& phase : phases)
    out.push_back({{"sampling_rate", phase.sampling_rate},
                   {"noise_multiplier", phase.noise_multiplier},
                   {"steps", phase.steps}});
  return out;
}

std::vector<privacy::MechanismPhase> privacy_phases_from_json(const Json& phases,
                                                              const std::string& source) {
  if (!phases.is_array()) throw UserError(source + ": privacy.earlier_phases is not a list");
  std::vector<privacy::MechanismPhase> out;
  for (const Json& phase : phases) {
    privacy::MechanismPhase p{
        get_field<double>(phase, "sampling_rate", source, "privacy.earlier_phases[]."),
        get_field<double>(phase, "noise_multiplier", source, "privacy.earlier_phases[]."),
        get_field<int64_t>(phase, "steps", source, "privacy.earlier_phases[].")};
    if (!(p.sampling_rate > 0 && p.sampling_rate <= 1) || !(p.noise_multiplier > 0) || p.steps < 0)
      throw UserError(source + ": privacy.earlier_phases holds an impossible phase");
    out.push_back(p);
  }
  return out;
}

std::string train_state_to_json(const TrainState& state) {
  Json out = Json::object();
  add_train_state(out, state);
  return out.dump();
}

TrainState train_state_from_json(const std::string& text, const std::string& source) {
  Json in;
  try {
    in = Json::parse(text);
  } catch (const Json::exception& e) {
    throw UserError(source + ": not a training state: " + e.what());
  }
  return read_train_state(in, source);
}

}  // namespace cf::trainer
