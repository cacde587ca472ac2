// Test support for the eval layer: a small structured corpus written with the corpus writer,
// a tiny randomly initialised model, and a scratch directory.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/corpus_writer.h"
#include "data/raw_event.h"
#include "trainer/model/model.h"

namespace cf::eval::testing {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    path_ = std::filesystem::temp_directory_path() /
            ("cf_eval_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// `num_sequences` users over `items - 1` items: lengths cycle through 1..13 (so some users are
// too short to evaluate and some are longer than the model's max_len); items mostly walk a
// per-user stride through the catalogue (so co-occurrence has signal) with repeats; every 3rd
// event is a purchase. item_count counts the training part (visible_length(L, kTrain)).
inline data::CorpusContents make_eval_corpus(int num_sequences = 60, int items = 31) {
  data::CorpusContents c;
  c.offsets.push_back(0);
  int64_t e = 0;
  for (int s = 0; s < num_sequences; ++s) {
    const int length = 1 + (s * 5) % 13;
    const int stride = 1 + s % 4;
    int32_t item = 1 + (s * 7) % (items - 1);
    for (int k = 0; k < length; ++k, ++e) {
      if (k > 0 && (s + k) % 5 != 0) item = 1 + (item - 1 + stride) % (items - 1);  // else repeat
      c.item.push_back(item);
      const int32_t action = (e % 3 == 2) ? 4 : 1 + static_cast<int32_t>(e % 3);
      c.action.push_back(action);
      c.category.push_back(1 + item % 4);
      c.time_gap.push_back(k == 0 ? 1 : 2 + static_cast<int32_t>(e % 9));
      c.activity.push_back(static_cast<int32_t>(e % 2));
      c.timestamp.push_back(1'600'000'000 + e * 60);
      c.purchase.push_back(action == 4 ? 1 : 0);
    }
    c.offsets.push_back(e);
    char key[33];
    std::snprintf(key, sizeof key, "%032x", 0xabc00 + s);
    c.user_keys.push_back(key);
    c.label_loo.push_back(c.purchase.back());
    c.label_time.push_back(0);
    c.time_train_length.push_back(length / 2);
  }
  c.item_raw.push_back("<pad>");
  for (int i = 1; i < items; ++i) c.item_raw.push_back("sku-" + std::to_string(100 + i));
  c.category_raw = {"<pad>", "c1", "c2", "c3", "c4"};
  c.activity_raw = {"<pad>", "coupon"};
  c.action_names = data::canonical_actions();
  c.item_count.assign(static_cast<size_t>(items), 0);
  for (int s = 0; s < num_sequences; ++s) {
    const int32_t length = static_cast<int32_t>(c.offsets[s + 1] - c.offsets[s]);
    const int32_t train = data::visible_length(length, data::Split::kTrain);
    for (int64_t i = c.offsets[s]; i < c.offsets[s] + train; ++i) ++c.item_count[c.item[i]];
  }
  c.provenance.created_by = "eval tests";
  c.provenance.source_format = "trio";
  c.provenance.user_key_source = "demo-key";
  c.provenance.time_source = "timestamps";
  return c;
}

inline trainer::ModelConfig tiny_eval_model_config(bool propensity_head = true) {
  trainer::ModelConfig m;
  m.n_layer = 1;
  m.n_head = 2;
  m.d_model = 16;
  m.d_ff = 32;
  m.max_len = 5;  // shorter than many histories: truncation is exercised
  m.dropout = 0.f;
  m.tied_item_head = false;
  m.propensity_head = propensity_head;
  return m;
}

inline trainer::Model make_tiny_model(const data::VocabSizes& vocab, bool propensity_head = true,
                                      uint64_t seed = 11) {
  trainer::Model model(tiny_eval_model_config(propensity_head), vocab);
  model.init_weights(seed);
  // Random N(0, 0.02) weights give near-identical logits; scale the parameters up so scores
  // differ clearly between items and ranks are well defined.
  for (float& p : model.params()) p *= 25.f;
  return model;
}

}  // namespace cf::eval::testing
