// Sweep axes: the config keys a sweep varies and the values each takes, from repeated
// `--grid key=v1,v2,v3` flags.
#pragma once
#include <string>
#include <vector>

namespace cf::sweep {

struct SweepAxis {
  std::string key;                  // a config key, e.g. "train.lr"
  std::vector<std::string> values;  // as given, read like --set values (YAML scalars)
  // How the command line gave it: "--grid train.lr=0.001,0.003" (for messages and tables).
  std::string flag_text() const;
};

// Parses one --grid argument "key=v1,v2,...": spaces around a value are dropped. UserError,
// naming the flag, for a missing '=' or key, an empty value list, an empty value between
// commas, or a value listed twice. Whether the key exists and the values have its type is the
// config's to say (trial_configs.h).
SweepAxis parse_grid_flag(const std::string& text);

// UserError when a key is on two --grid flags, or on a --grid flag and a --set (which value
// would a trial take?), or is run.out_dir (the sweep gives each trial its own).
// `set_assignments`: the --set flags ("key=value").
void require_distinct_keys(const std::vector<SweepAxis>& axes,
                           const std::vector<std::string>& set_assignments);

}  // namespace cf::sweep
