// ArgParser: the small flag parser every subcommand uses (--name value, --flag, --help).
#pragma once
#include <cfloat>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cf::cli {

// Declare options, then parse(). Unknown flags and missing values are UserErrors naming the
// flag. Repeatable options (e.g. --set) collect every value.
class ArgParser {
 public:
  ArgParser(std::string command, std::string summary);
  void option(const std::string& name, const std::string& value_name, const std::string& help,
              const std::string& default_value = "", bool repeatable = false);
  void flag(const std::string& name, const std::string& help);
  // Returns false if --help was given (help already printed to stdout).
  bool parse(int argc, char** argv);

  bool has(const std::string& name) const;  // given on the command line (or has a default)
  std::string get(const std::string& name) const;
  std::vector<std::string> get_all(const std::string& name) const;
  // Typed values, each a UserError naming the flag unless it parses whole and lies within
  // [min, max]; numbers must also be finite (no nan, no inf).
  int64_t get_int(const std::string& name, int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;
  double get_double(const std::string& name, double min = -DBL_MAX, double max = DBL_MAX) const;
  bool get_flag(const std::string& name) const;
  std::string require(const std::string& name) const;  // UserError if absent
  std::string help_text() const;

 private:
  struct Spec {
    std::string value_name, help, default_value;
    bool is_flag = false, repeatable = false;
  };
  std::string command_, summary_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
  std::map<std::string, std::vector<std::string>> values_;
};

}  // namespace cf::cli
