#include "trainer/memory_estimate.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "core/progress.h"
#include "trainer/model/activation_arena.h"
#include "trainer/model/model_core.h"
#include "trainer/model/model_layout.h"
#include "trainer/task_rows.h"

namespace cf::trainer {
namespace {

// Bytes per event of a corpus held in memory (CorpusReader::load_all: the int32 channels).
constexpr double kCorpusBytesPerEvent = 25;

// A number read from the first line of `path`, or +inf when absent ("max", unreadable).
double read_limit(const std::string& path) {
  std::ifstream f(path);
  double value = 0;
  if (f >> value) return value;
  return std::numeric_limits<double>::infinity();
}

}  // namespace

double parameter_count(const ModelConfig& model, const data::VocabSizes& vocab) {
  // The layout is linear in n_layer: lay out one and two blocks and extrapolate.
  auto params_at = [&](int layers) {
    ModelConfig shallow = model;
    shallow.n_layer = layers;
    return double(build_model_layout(shallow, vocab).num_params);
  };
  const double one = params_at(1);
  return one + (params_at(2) - one) * double(model.n_layer - 1);
}

TrainingMemory estimate_training_memory(const Config& config, const data::VocabSizes& vocab,
                                        const StepShape& shape, int64_t events_in_memory,
                                        bool activations_on_host) {
  const ModelConfig model = model_config_for_task(config.model, task_spec(config.task));
  const double params = parameter_count(model, vocab);
  TrainingMemory m;
  const double copies = shape.micro_batches > 1 ? 3 : 2;  // params, grads, earlier micro-batches
  m.parameters = params * sizeof(float) * copies;
  m.optimizer = params * sizeof(float) * 2;
  if (activations_on_host) {
    m.activations = ActivationArena<float>::bytes_needed(model, double(shape.micro_batch),
                                                         double(shape.max_len)) +
                    // the item-softmax chunk: its logits and their gradients
                    2 * double(kItemSoftmaxChunkRows) * double(vocab.items + 1) * sizeof(float);
  }
  m.corpus = double(events_in_memory) * kCorpusBytesPerEvent;
  return m;
}

double available_memory_bytes() {
  double available = std::numeric_limits<double>::infinity();
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemAvailable:", 0) == 0) {
      std::istringstream fields(line.substr(13));
      double kib = 0;
      if (fields >> kib) available = kib * 1024;
    }
  }
  // A container's limit (cgroup v2) is what the OOM killer enforces, whatever the host has.
  const double limit = read_limit("/sys/fs/cgroup/memory.max");
  const double used = read_limit("/sys/fs/cgroup/memory.current");
  if (std::isfinite(limit) && std::isfinite(used)) available = std::min(available, limit - used);
  return available;
}

void require_training_memory(const Config& config, const data::VocabSizes& vocab,
                             const StepShape& shape, int64_t events_in_memory,
                             bool activations_on_host) {
  const TrainingMemory need =
      estimate_training_memory(config, vocab, shape, events_in_memory, activations_on_host);
  const double available = available_memory_bytes();
  if (need.total() <= available) return;
  const ModelConfig& m = config.model;
  std::string cause;
  if (need.activations >= need.parameters + need.optimizer && need.activations >= need.corpus) {
    cause = "the activations of train.micro_batch " + std::to_string(shape.micro_batch) +
            " x model.max_len " + std::to_string(m.max_len) + " (model.n_layer " +
            std::to_string(m.n_layer) + ", model.d_model " + std::to_string(m.d_model) +
            ", model.d_ff " + std::to_string(m.d_ff) + ", model.n_head " +
            std::to_string(m.n_head) + ") take " + human_bytes(need.activations) +
            "; lower train.micro_batch or model.max_len";
  } else if (need.parameters + need.optimizer >= need.corpus) {
    cause = "the parameters, gradients and optimizer state of model.d_model " +
            std::to_string(m.d_model) + ", model.d_ff " + std::to_string(m.d_ff) +
            ", model.n_layer " + std::to_string(m.n_layer) + ", model.max_len " +
            std::to_string(m.max_len) + " over " + std::to_string(vocab.items) + " items take " +
            human_bytes(need.parameters + need.optimizer) + "; make the model smaller";
  } else {
    cause = "the corpus (" + config.data.corpus + ") held in memory takes " +
            human_bytes(need.corpus) + "; train on several ranks, which read it in slices";
  }
  throw UserError(config.source_path + ": this run needs about " + human_bytes(need.total()) +
                  " of memory where " + human_bytes(std::max(0.0, available)) +
                  " is available: " + cause);
}

}  // namespace cf::trainer
