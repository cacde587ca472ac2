// bench_blocks: milliseconds per CPU training step (forward + backward) of the same model with
// each block kind (model.block: gpt, ligr, hstu), and one table to compare them; then the gpt
// model with each model.item_features setting (every item with 1-4 of 200 feature tokens), with
// its cost as a ratio to the same model without features, measured in the same run.
//
//   bench_blocks [--quick] [--layers L] [--heads H] [--d-model C] [--len T] [--batch B]
//                [--items V]
//
// Defaults: 1 layer, 1 head, d_model 64 (d_ff 4x), max_len 50, 128 full-length sequences,
// 1,000 items with the full item softmax (small, so the blocks rather than the head dominate;
// the same head for every kind). Dropout 0.1 as in training. Threads come from
// OMP_NUM_THREADS. Each kind runs 3 warm-up steps, then steps for about two seconds; the
// median step is reported (a shared machine makes the mean noisy).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "data/batch.h"
#include "kernels/cpu/blas_kernel_choice.h"
#include "tools/bench/machine.h"
#include "trainer/model/model.h"
#include "trainer/model/model_random.h"
#include "trainer/run_files.h"

namespace {

using cf::trainer::BlockKind;

struct Shape {
  int layers = 1, heads = 1, d_model = 64, len = 50, batch = 128, items = 1000;
};

cf::data::Batch full_batch(const Shape& s, const cf::data::VocabSizes& v) {
  cf::data::Batch b;
  b.B = s.batch;
  b.T = s.len;
  const size_t n = size_t(s.batch) * s.len;
  for (auto* channel : {&b.item, &b.action, &b.category, &b.time_gap, &b.activity, &b.target_item,
                        &b.target_action})
    channel->assign(n, 0);
  b.length.assign(s.batch, s.len);
  b.label.assign(s.batch, -1.f);
  b.sequence_index.resize(s.batch);
  cf::trainer::SplitMix64 rng(1);
  for (int r = 0; r < s.batch; ++r) {
    b.sequence_index[r] = r;
    for (int t = 0; t < s.len; ++t) {
      const size_t i = size_t(r) * s.len + t;
      b.item[i] = 1 + int32_t(rng.next() % uint64_t(v.items - 1));
      b.action[i] = 1 + int32_t(rng.next() % uint64_t(v.actions - 1));
      b.category[i] = 1 + int32_t(rng.next() % uint64_t(v.categories - 1));
      b.time_gap[i] = 1 + int32_t(rng.next() % uint64_t(v.time_gaps - 1));
      b.activity[i] = 1 + int32_t(rng.next() % uint64_t(v.activities - 1));
    }
    for (int t = 0; t + 1 < s.len; ++t) b.target_item[size_t(r) * s.len + t] = b.item[size_t(r) * s.len + t + 1];
  }
  return b;
}

struct Result {
  double median_ms, tokens_per_s;
  int64_t params;
};

// Every item 1-4 distinct feature tokens out of 200, drawn from a fixed seed.
std::shared_ptr<const cf::data::ItemFeatures> synthetic_item_features(int items) {
  auto f = std::make_shared<cf::data::ItemFeatures>();
  f->vocab_size = 201;
  f->offsets.push_back(0);
  cf::trainer::SplitMix64 rng(3);
  for (int v = 0; v < items; ++v) {
    if (v > 0) {
      const int count = 1 + int(rng.next() % 4);
      for (int k = 0; k < count; ++k) f->ids.push_back(1 + int32_t(rng.next() % 200));
      std::sort(f->ids.begin() + f->offsets.back(), f->ids.end());
      f->ids.erase(std::unique(f->ids.begin() + f->offsets.back(), f->ids.end()), f->ids.end());
    }
    f->offsets.push_back(int64_t(f->ids.size()));
  }
  return f;
}

Result time_block(BlockKind kind, const Shape& s, bool quick,
                  cf::trainer::ItemFeatureUse features = cf::trainer::ItemFeatureUse::kNone) {
  cf::trainer::ModelConfig c;
  c.block = kind;
  c.item_features = features;
  c.n_layer = s.layers;
  c.n_head = s.heads;
  c.d_model = s.d_model;
  c.d_ff = 4 * s.d_model;
  c.max_len = s.len;
  c.dropout = 0.1f;
  cf::data::VocabSizes v;
  v.items = s.items;
  v.actions = 4;
  v.categories = 50;
  v.time_gaps = 20;
  v.activities = 3;
  std::shared_ptr<const cf::data::ItemFeatures> table;
  if (features != cf::trainer::ItemFeatureUse::kNone) {
    table = synthetic_item_features(s.items);
    v.item_features = table->vocab_size;
  }
  cf::trainer::Model model(c, v, table);
  model.init_weights(7);
  const cf::data::Batch batch = full_batch(s, v);
  cf::trainer::LossOptions loss;
  loss.item_grad_scale = 1.f / float(batch.num_targets());
  std::vector<double> ms;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (int step = 0;; ++step) {
    const auto t0 = Clock::now();
    model.forward_backward(batch, loss, uint64_t(step));
    const double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (step >= 3 || quick) ms.push_back(elapsed);
    const double total = std::chrono::duration<double>(Clock::now() - start).count();
    if (quick || (ms.size() >= 5 && total > 2.0)) break;
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  int64_t params = 0;
  for (const auto& t : model.tensors()) params += t.numel();
  return {median, double(s.batch) * s.len / (median / 1e3), params};
}

}  // namespace

int main(int argc, char** argv) {
  cf::ops::cpu::use_matching_openblas_kernels(argv);  // may start this program again
  Shape s;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    auto value = [&](int& field) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_blocks: %s needs a value\n", argv[i]);
        std::exit(1);
      }
      field = std::atoi(argv[++i]);
    };
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--layers") == 0) value(s.layers);
    else if (std::strcmp(argv[i], "--heads") == 0) value(s.heads);
    else if (std::strcmp(argv[i], "--d-model") == 0) value(s.d_model);
    else if (std::strcmp(argv[i], "--len") == 0) value(s.len);
    else if (std::strcmp(argv[i], "--batch") == 0) value(s.batch);
    else if (std::strcmp(argv[i], "--items") == 0) value(s.items);
    else {
      std::printf(
          "usage: bench_blocks [--quick] [--layers L] [--heads H] [--d-model C] [--len T] "
          "[--batch B] [--items V]\nTimes a CPU forward+backward step per model.block kind.\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 1;
    }
  }
  std::printf("%s\n", cf::bench::machine_line().c_str());
  std::printf("bench_blocks: %d layer(s), %d head(s), d_model %d, d_ff %d, T %d, batch %d, "
              "%d items, %d thread(s)\n\n",
              s.layers, s.heads, s.d_model, 4 * s.d_model,
              s.len, s.batch, s.items, omp_get_max_threads());
  std::printf("| block | parameters | ms / step (median) | tokens/s |\n|---|---:|---:|---:|\n");
  for (BlockKind kind : cf::trainer::kBlockKinds) {
    const Result r = time_block(kind, s, quick);
    std::printf("| %s | %lld | %.2f | %.0f |\n", cf::trainer::block_kind_name(kind),
                static_cast<long long>(r.params), r.median_ms, r.tokens_per_s);
  }
  std::printf("\nmodel.item_features (gpt; %d items with 1-4 of 200 feature tokens each)\n\n",
              s.items);
  std::printf("| item_features | parameters | ms / step (median) | x none |\n|---|---:|---:|---:|\n");
  double none_ms = 0;
  for (cf::trainer::ItemFeatureUse use : cf::trainer::kItemFeatureUses) {
    const Result r = time_block(BlockKind::kGpt, s, quick, use);
    if (use == cf::trainer::ItemFeatureUse::kNone) none_ms = r.median_ms;
    std::printf("| %s | %lld | %.2f | %.2f |\n", cf::trainer::item_feature_use_name(use),
                static_cast<long long>(r.params), r.median_ms, r.median_ms / none_ms);
  }
  return 0;
}
