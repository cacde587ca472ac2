// Synthetic behaviour logs: options, summary and the streaming generator behind `cartformer synth`.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace cf::synth {

// What to generate. The defaults are the demo's embedded data set (~200k events); the knobs
// below the first block shape the behaviour model described in docs/synthetic-data.md.
struct SynthOptions {
  int64_t users = 3000;
  int64_t items = 2000;
  int32_t categories = 20;
  int32_t campaigns = 6;  // activities (coupons and campaigns); 0 disables exposure
  double events_per_user_mean = 60.0;
  uint64_t seed = 42;

  // Time window of the log: [start_timestamp, start_timestamp + window_days).
  int64_t start_timestamp = 1767225600;  // 2026-01-01T00:00:00Z
  int32_t window_days = 90;

  // Sequential structure: each item has a few "related next items" in its category; the next
  // view follows one of them with this probability (the signal a sequence model can learn).
  int32_t successors_per_item = 4;
  double follow_probability = 0.65;
  double views_per_session_mean = 8.0;

  // Coupons and campaigns: share of users exposed to one activity, and the share of users in a
  // randomised experiment (exposure is a coin flip there; elsewhere heavy buyers are targeted).
  double exposure_fraction = 0.4;
  double randomized_fraction = 0.5;
};

// Throws cf::UserError naming the first option that is out of range.
void validate_synth_options(const SynthOptions& options);

// Sets the size of the log from a target total number of events: with keep_users the number of
// users stays and events_per_user_mean becomes target/users; otherwise the mean stays and the
// number of users becomes target/mean. The realised total is random and lands near the target.
void apply_event_target(SynthOptions& options, int64_t target_events, bool keep_users);

// File names inside the output directory ("trio" format plus ground truth).
inline constexpr const char* kSynthBehaviorFile = "behavior_data.csv";
inline constexpr const char* kSynthItemFile = "item_data.csv";
inline constexpr const char* kSynthActivityFile = "activity_data.csv";
inline constexpr const char* kSynthGroundTruthFile = "ground_truth.json";
inline constexpr const char* kSynthUserTruthFile = "ground_truth_users.csv";
// Marks a folder as written by synth: only a folder carrying it (or an empty one) is replaced.
inline constexpr const char* kSynthMarkerFile = ".cartformer-synth";

struct SynthSummary {
  std::string output_dir;
  int64_t users = 0;
  int64_t items = 0;
  int32_t categories = 0;
  int32_t activities = 0;
  int64_t events = 0;  // rows of behavior_data.csv (header excluded)
  int64_t views = 0, favs = 0, carts = 0, buys = 0;
  int64_t exposed_users = 0;   // users assigned an activity
  int64_t tagged_events = 0;   // rows with a non-empty activity_id
  int64_t behavior_bytes = 0;  // size of behavior_data.csv
};

// Called every few hundred users with (users done, events written so far).
using SynthProgress = std::function<void(int64_t users_done, int64_t events_done)>;

// Generates the log into `output_dir` (a directory holding the files named above). Users are
// generated one at a time and rows are streamed through a fixed-size buffer, so memory depends
// on the catalog size, never on the number of events. The directory appears only when complete
// (written under a temporary name, then renamed). An existing directory is replaced only if it
// is empty, or carries kSynthMarkerFile and holds nothing else than the files named above;
// anything else throws UserError naming it. Same options (seed included) -> identical bytes.
SynthSummary generate_synthetic_logs(const SynthOptions& options, const std::string& output_dir,
                                     const SynthProgress& progress = {});

}  // namespace cf::synth
