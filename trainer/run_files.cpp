#include "trainer/run_files.h"

#include <filesystem>
#include <fstream>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/atomic_file.h"
#include "core/error.h"

namespace cf::trainer {
namespace fs = std::filesystem;

namespace {
constexpr const char* kResolvedConfigFile = "config.resolved.yaml";
constexpr const char* kRunInfoFile = "run.json";
constexpr const char* kMetricsFile = "metrics.jsonl";
}  // namespace

RunFiles::RunFiles(std::string out_dir)
    : out_dir_(std::move(out_dir)), metrics_path_((fs::path(out_dir_) / kMetricsFile).string()) {}

std::string RunFiles::checkpoints_root() const {
  return (fs::path(out_dir_) / "checkpoints").string();
}

void RunFiles::start(const Config& config, const Json& run_info, int64_t start_step) {
  std::error_code ec;
  created_dir_ = !fs::exists(out_dir_, ec);
  fs::create_directories(out_dir_, ec);
  if (ec) throw UserError(out_dir_ + ": cannot create the run directory: " + ec.message());
  write_file_atomically((fs::path(out_dir_) / kResolvedConfigFile).string(), to_yaml(config));
  write_file_atomically((fs::path(out_dir_) / kRunInfoFile).string(), run_info.dump(2) + "\n");
  truncate_metrics_after(metrics_path_, start_step);
}

void RunFiles::append_metrics(const Json& row) {
  std::ofstream f(metrics_path_, std::ios::app);
  f << row.dump() << "\n";
  f.flush();
  if (!f) throw UserError(metrics_path_ + ": cannot append metrics (disk full?)");
}

void RunFiles::abandon(int64_t last_checkpoint_step) noexcept {
  try {
    if (last_checkpoint_step >= 0) {
      truncate_metrics_after(metrics_path_, last_checkpoint_step);
      return;
    }
    std::error_code ec;
    for (const char* name : {kResolvedConfigFile, kRunInfoFile, kMetricsFile})
      fs::remove(fs::path(out_dir_) / name, ec);
    if (created_dir_) {
      fs::remove(fs::path(out_dir_) / "checkpoints", ec);  // only if empty
      fs::remove(out_dir_, ec);                            // only if empty
    }
  } catch (const std::exception&) {
    // Cleaning up after a failure must not hide the failure itself.
  }
}

void truncate_metrics_after(const std::string& path, int64_t step) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot read metrics");
  std::string line;
  uint64_t keep = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a last row without its newline was cut short
    const Json row = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!row.is_object() || !row.contains("step") || !row["step"].is_number_integer() ||
        row["step"].get<int64_t>() > step) {
      break;
    }
    keep += line.size() + 1;
  }
  in.close();
  if (keep == fs::file_size(path, ec)) return;
  fs::resize_file(path, keep, ec);
  if (ec)
    throw UserError(path + ": cannot drop metrics rows after step " + std::to_string(step) + ": " +
                    ec.message());
}

std::string host_cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown";
  int logical = 0;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("processor", 0) == 0) ++logical;
    if (model == "unknown" && line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return model + " (" + std::to_string(logical) + " logical CPUs)";
}

int threads_per_rank() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace cf::trainer
