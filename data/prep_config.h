// PrepConfig: prep settings from a YAML file (configs/data/*.yaml), strictly validated.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/prep_types.h"

namespace cf::data {

// Every key is optional; command-line flags override what the file sets. Relative paths
// (input, item_attributes, key_file, output) are resolved against the file's directory.
// Unknown keys, wrong types and out-of-range values are UserErrors naming the file and key.
struct PrepConfig {
  std::optional<std::string> format, input, item_attributes, key_file, output;
  std::optional<std::vector<std::string>> personal_columns;
  std::optional<double> max_reject_fraction, time_split_quantile;
  std::optional<int64_t> min_sequence_length, max_events_per_user, time_split_cutoff;
};

PrepConfig load_prep_config(const std::string& path);
// Parses YAML text; `origin` names the source in error messages and anchors relative paths
// (its directory).
PrepConfig parse_prep_config(const std::string& yaml_text, const std::string& origin);

// The keys load_prep_config accepts, in documentation order.
const std::vector<std::string>& prep_config_keys();

// The settings prep actually ran with, as YAML in the config file's own keys (recorded in the
// corpus as the prep_config attribute). Never contains the user-hash key.
std::string resolved_prep_yaml(const PrepOptions& options);

}  // namespace cf::data
