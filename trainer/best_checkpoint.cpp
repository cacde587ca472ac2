#include "trainer/best_checkpoint.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"

namespace cf::trainer {

std::string best_mark_path(const std::string& checkpoints_root) {
  return (std::filesystem::path(checkpoints_root) / "best.json").string();
}

void write_best_mark(const std::string& checkpoints_root, const BestCheckpointMark& mark) {
  const Json doc = {{"step", mark.step},
                    {"checkpoint", "step_" + std::to_string(mark.step)},
                    {"metric", mark.metric},
                    {"value", mark.value}};
  write_file_atomically(best_mark_path(checkpoints_root), doc.dump(2) + "\n");
}

std::optional<BestCheckpointMark> read_best_mark(const std::string& checkpoints_root) {
  const std::string path = best_mark_path(checkpoints_root);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  Json doc;
  try {
    doc = Json::parse(read_text_file(path));
  } catch (const Json::exception& e) {
    throw UserError(path + ": malformed best-checkpoint mark (" + std::string(e.what()) + ")");
  }
  const bool well_formed = doc.is_object() && doc.contains("step") &&
                           doc["step"].is_number_integer() && doc["step"].get<int64_t>() >= 0 &&
                           doc.contains("metric") && doc["metric"].is_string() &&
                           doc.contains("value") && doc["value"].is_number();
  if (!well_formed) {
    throw UserError(path + ": malformed best-checkpoint mark (needs step, metric and value)");
  }
  return BestCheckpointMark{doc["step"].get<int64_t>(), doc["metric"].get<std::string>(),
                            doc["value"].get<double>()};
}

}  // namespace cf::trainer
