// The generator's ground truth: ground_truth.json and ground_truth_users.csv.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/synth/catalog.h"
#include "data/synth/generator.h"
#include "data/synth/synth.h"
#include "data/synth/writer.h"

namespace cf::synth {

// ground_truth_users.csv: the header on construction, then one row per user as it is drawn.
class UserTruthFile {
 public:
  UserTruthFile(const std::string& path, const std::vector<Activity>& activities);
  void write(int64_t user, const UserState& state);
  void close() { file_.close(); }

 private:
  CsvFile file_;
  const std::vector<Activity>& activities_;
};

// Writes ground_truth.json to `path` once every user has been generated.
void write_ground_truth(const std::string& path, const SynthOptions& options,
                        const Catalog& catalog, const std::vector<Activity>& activities,
                        const Generator& generator);

}  // namespace cf::synth
