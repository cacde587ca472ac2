// ScaledModelTest: eval's 30-user test corpus (adjusted by the test first), written to HDF5 and
// read back, with a tiny model of both purchase heads whose weights are scaled up so scores
// clearly differ between users; and RecordedCallbacks, which keeps what a marketing call reports.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/corpus_writer.h"
#include "marketing/targeting.h"
#include "trainer/model/model.h"
#include "unit/eval/eval_test_corpus.h"

namespace cf::marketing::testing {

class ScaledModelTest : public ::testing::Test {
 protected:
  explicit ScaledModelTest(const std::string& scratch_tag)
      : dir_(scratch_tag), contents_(eval::testing::make_eval_corpus(30)) {}

  // Writes contents_ (as the test left it), opens it, and builds the model from `seed`.
  void open_corpus_and_model(uint64_t seed) {
    corpus_path_ = dir_.file("corpus.h5");
    data::write_corpus(corpus_path_, contents_);
    corpus_ = data::CorpusReader::open(corpus_path_);
    trainer::ModelConfig config = eval::testing::tiny_eval_model_config(/*propensity_head=*/true);
    config.action_head = true;
    model_ = std::make_unique<trainer::Model>(config, corpus_->vocab_sizes());
    model_->init_weights(seed);
    for (float& p : model_->params()) p *= 4.f;  // scores that clearly differ between users
  }

  eval::testing::ScratchDir dir_;
  data::CorpusContents contents_;
  std::string corpus_path_;
  std::unique_ptr<data::CorpusReader> corpus_;
  std::unique_ptr<trainer::Model> model_;
};

// The stages that finished (progress with done == total) and the notices, in order.
struct RecordedCallbacks {
  std::vector<std::string> finished_stages, notices;
  TargetingCallbacks callbacks() {
    TargetingCallbacks c;
    c.progress = [this](const std::string& stage, int64_t done, int64_t total) {
      if (done == total) finished_stages.push_back(stage);
    };
    c.notice = [this](const std::string& message) { notices.push_back(message); };
    return c;
  }
};

}  // namespace cf::marketing::testing
