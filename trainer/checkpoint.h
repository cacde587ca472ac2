// Checkpoint: directory layout (safetensors weights + optimizer state + manifest), atomic
// writing, verification, retention and discovery for --resume.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trainer/config.h"
#include "trainer/model.h"

namespace cf::trainer {

// Everything besides tensors needed to continue a run bit for bit.
struct TrainState {
  int64_t step = 0;            // optimizer steps completed
  int64_t tokens_seen = 0;     // target positions trained on
  int64_t sampler_step = 0;    // next global step of the BatchSampler stream
  uint64_t seed = 0;           // run seed (dropout / negatives derive from (seed, step))
  std::string rng_state;       // any extra RNG state, serialised (empty if none)
  double elapsed_seconds = 0;  // wall time trained so far
};

// What a checkpoint directory holds once loaded.
struct LoadedCheckpoint {
  std::string dir;
  Config config;                 // resolved config the run was trained with
  TrainState state;
  std::string vocab_fingerprint; // of the corpus it was trained on
  data::VocabSizes vocab;
  std::vector<float> params;     // model weights, laid out as Model::tensors() describes
  std::vector<float> adam_m, adam_v;  // optimizer state (empty if load_optimizer == false)
};

// Layout:  <dir>/model.safetensors      every ParamTensor by name, F32
//          <dir>/optimizer.safetensors  "m.<name>", "v.<name>", F32
//          <dir>/manifest.json          format version, state, config YAML, vocab sizes and
//                                       fingerprint, {"files": {name: sha256}}
// Written into "<checkpoints_root>/step_<N>.tmp/", each file fsynced, then renamed to
// "step_<N>/" and the parent fsynced. Returns the final directory.
std::string write_checkpoint(const std::string& checkpoints_root, const Model& model,
                             const std::vector<float>& adam_m, const std::vector<float>& adam_v,
                             const Config& config, const TrainState& state,
                             const std::string& vocab_fingerprint);

// Verifies sha256 of every file listed in the manifest and parses it. Throws UserError naming
// the file on a mismatch, a missing file or a malformed manifest.
LoadedCheckpoint load_checkpoint(const std::string& dir, bool load_optimizer = true);

// Newest "step_N" under `checkpoints_root` that verifies; corrupt ones are skipped with a
// warning on stderr. nullopt when none is valid.
std::optional<std::string> find_latest_valid_checkpoint(const std::string& checkpoints_root);

// Deletes all but the newest `keep_last` verified checkpoints; never deletes the newest valid
// one and never deletes anything when fewer than two valid checkpoints exist.
void prune_checkpoints(const std::string& checkpoints_root, int keep_last);

// Throws UserError if `fingerprint` (of the corpus being used) differs from the checkpoint's.
void require_same_vocab(const LoadedCheckpoint& ckpt, const std::string& corpus_path,
                        const std::string& corpus_fingerprint);

// Builds a Model from a loaded checkpoint (config + weights).
Model model_from_checkpoint(const LoadedCheckpoint& ckpt);

}  // namespace cf::trainer
