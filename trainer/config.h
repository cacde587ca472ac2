// Config: the typed training configuration read once from YAML with strict validation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "trainer/model/model_types.h"

namespace cf::trainer {

// kCopy: a text model on a text corpus (copy generation, issue 16): next-token loss on the
// description tokens of each `segment aspect <s> title <sep> description </s>` sequence.
enum class TaskKind { kPretrain, kNextItem, kPropensity, kCopy };
enum class LrSchedule { kCosine, kLinear, kConstant };
// What validation during training scores, and what early stopping and the best checkpoint
// follow: full-rank NDCG@10 / HR@10 of the validation targets (history filtered out, as eval's
// main protocol), or the validation loss (the propensity task's, which ranks no items).
enum class ValidationMetric { kNdcgAt10, kHrAt10, kLoss };
// Whose validation event (second-to-last) training leaves out. all_users: everyone's, the
// classic leave-one-out split. validation_users: only the users validation ranks
// (validation.users); every other user trains through its second-to-last event, as the
// leave-one-out protocols of the gSASRec/eSASRec line do. The test event is never trained on.
enum class ValidationHoldout { kAllUsers, kValidationUsers };

struct RunSection {
  std::string out_dir = "runs/default";  // checkpoints/, metrics.jsonl, config.resolved.yaml
  uint64_t seed = 1234;
  std::string device = "auto";  // auto (GPU when one is found) | cpu | cuda
  // The CPU backend's matrix products: fp32 | bf16 (bf16 inputs, fp32 sums, fp32 weights and
  // optimizer) | auto (bf16 where the CPU has bf16 units, else fp32). The GPU: cuda.precision.
  std::string precision = "fp32";
};

struct DataSection {
  std::string corpus;  // path to corpus .h5 (relative paths resolve against the working dir)
};

struct TaskSection {
  TaskKind kind = TaskKind::kPretrain;
  std::string init_from;            // fine-tuning: checkpoint dir (or run dir: newest valid one)
  int freeze_blocks = 0;            // fine-tuning: first k blocks (and embeddings if k > 0) frozen
  float body_lr_scale = 1.0f;       // fine-tuning: LR multiplier for everything but the task head
  float action_loss_weight = 0.0f;  // pretraining: weight of the next-action loss (0 = off)
  bool purchases_only = false;      // next_item: targets are only "buy" events (next-purchase)
  float copy_input_noise = 0.0f;    // copy: share of description inputs replaced (task_rows.h)
};

enum class NegativeSampling { kUniform, kPopularity };

// The next-item loss (pretraining and next_item fine-tuning). Sampled kinds score each target
// against `negatives` items drawn once per step and shared by the whole global batch, plus
// `in_batch_negatives` targets of the micro-batch (trainer/negative_sampler.h).
struct LossSection {
  ItemLoss kind = ItemLoss::kFullSoftmax;  // full_softmax | sampled_softmax | gbce
  int negatives = 256;
  NegativeSampling sampler = NegativeSampling::kUniform;  // uniform | popularity
  float popularity_alpha = 0.75f;  // popularity sampler: P(item) proportional to count^alpha
  int in_batch_negatives = 0;
  bool logq_correction = true;  // subtract log(expected count) from every logit (sampled_softmax)
  float gbce_t = 0.75f;         // gbce calibration: 0 = plain BCE, 1 = fully calibrated
};

struct TrainSection {
  // The run length is exactly one of these: `steps`, or `epochs` > 0, which makes it
  // epochs x the sampler's steps per epoch (and requires steps 0 or not given).
  int64_t steps = 1000;
  int64_t epochs = 0;
  int micro_batch = 64;  // sequences per micro-batch per rank
  int grad_accum = 1;    // micro-batches per rank per step; global batch = micro*accum*ranks
  // > 0: the global batch (sequences per step) to keep at any number of ranks; grad_accum is
  // then derived as global_batch / (micro_batch * ranks), which must divide exactly. This is
  // what lets a run written at N ranks resume at M ranks with the same sample stream.
  int64_t global_batch = 0;
  float lr = 1e-3f;
  LrSchedule schedule = LrSchedule::kCosine;
  int64_t warmup_steps = 100;
  float min_lr_ratio = 0.1f;  // floor of cosine/linear decay, as a fraction of lr
  float weight_decay = 0.1f;
  bool decay_embeddings = false;  // weight decay on embedding tables (matrices always decay)
  float beta1 = 0.9f, beta2 = 0.98f, eps = 1e-8f;
  float grad_clip = 1.0f;  // max global gradient norm; 0 = off
  int log_every = 10;      // progress line + metrics.jsonl row every N steps
  int eval_every = 0;      // validation loss every N steps (0 = at the end only)
  int eval_batches = 8;    // micro-batches of validation sequences per evaluation
};

struct CheckpointSection {
  int64_t every = 500;  // steps between checkpoints (and one at the end)
  int keep_last = 3;    // older checkpoints are deleted once a newer one is verified
  // The checkpoint of the best validation metric so far is marked (best.json) and kept past
  // keep_last; eval/generate/report/init_from take it when given a run directory.
  bool keep_best = true;
};

// Validation during training: the metric that chooses the best checkpoint and stops early.
struct ValidationSection {
  // Default ndcg@10; the propensity task (no item ranking) defaults to loss.
  ValidationMetric metric = ValidationMetric::kNdcgAt10;
  int64_t every = 0;       // steps between evaluations; 0 = once per epoch (and at the end)
  int64_t users = 0;       // 0 = every eligible validation user; N = a fixed evenly spread sample
  int patience = 0;        // 0 = off; else stop after this many evaluations without improvement
  float min_delta = 0.0f;  // an improvement must beat the best by more than this
  ValidationHoldout holdout = ValidationHoldout::kAllUsers;
};

// Data-parallel communication (trainer/comm/): used when the job runs on more than one rank.
struct CommSection {
  float timeout_s =
      600;              // a collective waiting longer ends the job naming the late rank; 0 = never
  float bucket_mb = 4;  // gradients are all-reduced in buckets of about this size during backward
  bool zero1 = false;   // ZeRO-1: shard the AdamW state across ranks (reduce-scatter, all-gather)
};

// The CUDA backend's settings (ignored on the CPU).
struct CudaSection {
  std::string precision = "bf16";  // bf16 (fp32 master weights and optimizer) | fp32 (checking)
  // flash (custom kernel; tensor cores in bf16) | flash_cuda_cores | cudnn | reference (T x T)
  std::string attention = "flash";
  bool deterministic = true;  // fixed summation order in backward (same bits every run)
};

// Differentially private training (DP-SGD, trainer/privacy/): users sampled by Poisson
// sampling, each user's gradient clipped to clip_norm, Gaussian noise on the sum, the noise
// calibrated before training so that the run spends at most target_epsilon.
struct PrivacySection {
  bool enabled = false;
  float target_epsilon = 0;  // > 0 when enabled: (epsilon, delta) of the whole run
  float delta = 0;           // 0 = 1 / (10 x training users); must be below 1 / users
  float clip_norm = 1.0f;    // the L2 norm one user's gradient is clipped to
  // With task.init_from: the checkpoint's users were not this corpus's (public or other data),
  // so its training is not counted. Otherwise a private run refuses a checkpoint trained
  // without privacy and composes a private one's spend with its own (target_epsilon covers
  // both).
  bool init_from_public = false;
  // The secret the user sampling and noise are keyed by (trainer/privacy/noise_key.h); empty:
  // the run's own <run.out_dir>/privacy_noise.key, created from the OS's random source.
  std::string noise_key_file;
};

struct Config {
  std::string source_path;  // the YAML file it was read from (for messages)
  RunSection run;
  DataSection data;
  ModelConfig model;
  TaskSection task;
  LossSection loss;
  TrainSection train;
  CheckpointSection checkpoint;
  ValidationSection validation;
  CommSection comm;
  CudaSection cuda;
  PrivacySection privacy;
};

// Reads `path`, applies `overrides` ("a.b=value", as given by --set), validates everything.
// Unknown key, wrong type or out-of-range value -> UserError naming the key and file, e.g.
// "configs/x.yaml: unknown key 'train.stpes'".
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Parses a config from YAML text (source_name used in messages).
Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::vector<std::string>& overrides = {});
// Checks one "key=value" override alone, as parse_config reads a --set: the key must exist
// and the value must have its type. Otherwise a UserError opening with `context`, e.g.
// "x.yaml: --grid train.lr=0.1,abc: key 'train.lr' expects a number, got 'abc'" or
// "...: unknown key 'train.stpes' (did you mean 'train.steps'?)". Ranges and the rules between
// keys need the whole config: parse_config checks those.
void check_override(const std::string& assignment, const std::string& context);
// The fully resolved config as YAML (saved as config.resolved.yaml and in checkpoint manifests);
// parse_config(to_yaml(c)) == c.
std::string to_yaml(const Config& config);

const char* task_kind_name(TaskKind kind);
const char* lr_schedule_name(LrSchedule schedule);
const char* item_loss_name(ItemLoss kind);
const char* negative_sampling_name(NegativeSampling sampling);
const char* validation_metric_name(ValidationMetric metric);     // "ndcg@10", "hr@10", "loss"
const char* validation_holdout_name(ValidationHoldout holdout);  // "all_users", ...

}  // namespace cf::trainer
