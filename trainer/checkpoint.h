// Checkpoint: directory layout (safetensors weights + optimizer state + manifest), atomic
// writing, verification, retention and discovery for --resume.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "trainer/config.h"
#include "trainer/early_stopping.h"
#include "trainer/model/model.h"
#include "trainer/privacy/rdp_accountant.h"

namespace cf::trainer {

inline constexpr int kCheckpointFormatVersion = 1;

// Everything besides tensors needed to continue a run bit for bit.
// What a DP-SGD run has spent (privacy.enabled): the accountant's result after `steps` steps at
// (sampling_rate, noise_multiplier), for the manifest, inspect and eval; enabled = false for a
// run trained without privacy.
struct PrivacySpent {
  bool enabled = false;
  double epsilon = 0, delta = 0, clip_norm = 0, noise_multiplier = 0, sampling_rate = 0;
  int64_t steps = 0;
  // Private runs on the same users this run started from (task.init_from a private checkpoint,
  // and that run's own earlier phases), oldest first: epsilon covers them and this run.
  std::vector<privacy::MechanismPhase> earlier;
};

// The spend as the JSON object manifests, eval.json and reports show.
Json privacy_spent_json(const PrivacySpent& spent);
// PrivacySpent::earlier as JSON (a list of {sampling_rate, noise_multiplier, steps}), and back
// (UserError naming `source` for a malformed or impossible phase).
Json privacy_phases_json(const std::vector<privacy::MechanismPhase>& phases);
std::vector<privacy::MechanismPhase> privacy_phases_from_json(const Json& phases,
                                                              const std::string& source);

struct TrainState {
  int64_t step = 0;            // optimizer steps completed
  int64_t tokens_seen = 0;     // target positions trained on
  int64_t sampler_step = 0;    // next global step of the BatchSampler stream
  uint64_t seed = 0;           // run seed (dropout / negatives derive from (seed, step))
  std::string rng_state;       // any extra RNG state, serialised (empty if none)
  double elapsed_seconds = 0;  // wall time trained so far
  int64_t global_batch = 0;    // sequences per step (0: not recorded by older checkpoints)
  // The validation metric's best so far and the evaluations since (fresh in checkpoints written
  // before it was recorded).
  EarlyStoppingState early_stopping;
  // The co-occurrence prior's weight chosen at the last validation (0: none;
  // trainer/cooccurrence_prior.h).
  double cooccurrence_prior_weight = 0;
  PrivacySpent privacy;
};

// The state as the JSON object a manifest holds (ranks broadcast it on resume), and back;
// `source` names where the text came from in errors.
std::string train_state_to_json(const TrainState& state);
TrainState train_state_from_json(const std::string& text, const std::string& source);

// What a checkpoint directory holds once loaded.
struct LoadedCheckpoint {
  std::string dir;
  Config config;  // resolved config the run was trained with
  TrainState state;
  std::string vocab_fingerprint;  // of the corpus it was trained on
  data::VocabSizes vocab;
  std::vector<float> params;          // model weights, laid out as Model::tensors() describes
  std::vector<float> adam_m, adam_v;  // optimizer state (empty if load_optimizer == false)
  std::vector<ParamTensor> tensors;   // layout of `params` (and adam_m/v) as written
  const ParamTensor* find_tensor(const std::string& name) const;  // nullptr when absent
};

// Layout:  <dir>/model.safetensors      every ParamTensor by name, F32
//          <dir>/optimizer.safetensors  "m.<name>", "v.<name>", F32
//          <dir>/manifest.json          format version, state, config YAML, vocab sizes and
//                                       fingerprint, {"files": {name: sha256}}
// Written into "<checkpoints_root>/step_<N>.tmp/", each file fsynced, then renamed to
// "step_<N>/" and the parent fsynced. Returns the final directory. Refuses (UserError, nothing
// written) weights that are not all finite.
std::string write_checkpoint(const std::string& checkpoints_root, const Model& model,
                             const std::vector<float>& adam_m, const std::vector<float>& adam_v,
                             const Config& config, const TrainState& state,
                             const std::string& vocab_fingerprint);
// The same without a Model: `tensors` describe where each named tensor lives in `params`.
std::string write_checkpoint(const std::string& checkpoints_root,
                             const std::vector<ParamTensor>& tensors,
                             const std::vector<float>& params, const data::VocabSizes& vocab,
                             const std::vector<float>& adam_m, const std::vector<float>& adam_v,
                             const Config& config, const TrainState& state,
                             const std::string& vocab_fingerprint);

// Verifies sha256 of every file listed in the manifest and parses it. Throws UserError naming
// the file on a mismatch, a missing file or a malformed manifest.
LoadedCheckpoint load_checkpoint(const std::string& dir, bool load_optimizer = true);

// The checks of load_checkpoint (manifest well formed, every checksum) without reading the
// tensors into memory. Throws UserError naming the file.
void verify_checkpoint(const std::string& dir);

// The one place that decides which checkpoint a path means. A checkpoint directory (holding
// manifest.json) is returned as is; a run directory (with checkpoints/) or a checkpoints root
// resolves to the checkpoint its best.json names (best_checkpoint.h) when that one verifies,
// else (no mark, or a warning on stderr why it is unusable) to its newest valid step_N.
// UserError if none. `why`, when given, gets a short note of the choice for the user
// ("best validation ndcg@10 0.1234 at step 40", "newest valid", "as given").
std::string resolve_checkpoint_dir(const std::string& path, std::string* why = nullptr);

// Newest "step_N" under `checkpoints_root` that verifies; corrupt ones are skipped with a
// warning on stderr. nullopt when none is valid.
std::optional<std::string> find_latest_valid_checkpoint(const std::string& checkpoints_root);

// Number of step_N directories under `checkpoints_root`, valid or not.
int64_t count_checkpoint_directories(const std::string& checkpoints_root);

// Deletes all but the newest `keep_last` verified checkpoints and the one best.json names; never
// deletes the newest valid one and never deletes anything when fewer than two valid checkpoints
// exist.
// Walking from the newest step down, it verifies until `keep_last` valid ones are found and
// deletes every step_N older than those; corrupt ones newer than them and *.tmp* directories
// are left alone (the first may be inspected, the second may belong to a running writer).
void prune_checkpoints(const std::string& checkpoints_root, int keep_last);

// UserError naming the checkpoint when it is a copy (text) model (task.kind copy): `command`
// (eval, generate, target, report) ranks items for users, which a text model does not do.
void require_behaviour_model(const LoadedCheckpoint& ckpt, const std::string& command);

// Throws UserError if `fingerprint` (of the corpus being used) differs from the checkpoint's.
void require_same_vocab(const LoadedCheckpoint& ckpt, const std::string& corpus_path,
                        const std::string& corpus_fingerprint);
// The same, naming the sizes that differ: "<corpus>: vocabulary differs from the checkpoint's
// (<dir>): items 1234 vs 5678 (corpus vs checkpoint)".
void require_same_vocab(const LoadedCheckpoint& ckpt, const std::string& corpus_path,
                        const std::string& corpus_fingerprint,
                        const data::VocabSizes& corpus_vocab);

// Builds a Model from a loaded checkpoint (config + weights). UserError naming the checkpoint
// if its tensors do not match (names and shapes) what its config describes.
// A model with model.item_features also needs the item features of its corpus: the overload
// taking the corpus (whose vocabulary require_same_vocab has checked) passes them on; the other
// one is a UserError for such a model when `item_features` is null or of another size.
Model model_from_checkpoint(const LoadedCheckpoint& ckpt,
                            std::shared_ptr<const data::ItemFeatures> item_features = nullptr);
Model model_from_checkpoint(const LoadedCheckpoint& ckpt, const data::CorpusReader& corpus);

// Fine-tuning initialisation: copies every tensor of `dst` that `src` holds under the same name
// (shapes must agree, else UserError); names of dst tensors absent from src (new heads, which
// keep their initialisation) are appended to `missing` when it is non-null.
void load_matching_weights(Model& dst, const LoadedCheckpoint& src,
                           std::vector<std::string>* missing);

}  // namespace cf::trainer
