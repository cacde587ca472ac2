// Model: the public facade over ModelCore<float> (computation) and KvDecoder<float> (inference).
#include "trainer/model/model.h"

#include "trainer/model/model_core.h"
#include "trainer/model/model_decoder.h"

namespace cf::trainer {

struct Model::Impl {
  Impl(const ModelConfig& config, const data::VocabSizes& vocab,
       std::shared_ptr<const data::ItemFeatures> item_features)
      : core(config, vocab, std::move(item_features)),
        support(core.config(), core.layout(), core.vocab(), core.item_features().get()) {}
  ModelCore<float> core;
  GradientSupport support;  // reads core's config and layout: declared after it
};

Model::Model(const ModelConfig& config, const data::VocabSizes& vocab,
             std::shared_ptr<const data::ItemFeatures> item_features)
    : impl_(std::make_unique<Impl>(config, vocab, std::move(item_features))) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

const ModelConfig& Model::config() const { return impl_->core.config(); }
const data::VocabSizes& Model::vocab() const { return impl_->core.vocab(); }
const std::shared_ptr<const data::ItemFeatures>& Model::item_features() const {
  return impl_->core.item_features();
}
void Model::init_weights(uint64_t seed) { impl_->core.init_weights(seed); }
std::vector<float>& Model::params() { return impl_->core.params(); }
std::vector<float>& Model::grads() { return impl_->core.grads(); }
const std::vector<float>& Model::params() const { return impl_->core.params(); }
const std::vector<float>& Model::grads() const { return impl_->core.grads(); }
const std::vector<ParamTensor>& Model::tensors() const { return impl_->core.layout().tensors; }
const ParamTensor& Model::tensor(const std::string& name) const { return impl_->core.tensor(name); }

LossSums Model::forward_backward(const data::Batch& batch, const LossOptions& loss,
                                 uint64_t dropout_seed) {
  return impl_->core.forward_backward(batch, loss, dropout_seed);
}
void Model::set_grads_ready_hook(std::function<void(int64_t)> hook) {
  impl_->core.set_grads_ready_hook(std::move(hook));
}
const std::vector<GradientRange>& Model::gradient_support(const data::Batch& batch,
                                                          const LossOptions& loss) {
  return impl_->support.of(batch, loss);
}
LossSums Model::evaluate_loss(const data::Batch& batch, const LossOptions& loss) {
  return impl_->core.evaluate_loss(batch, loss);
}
void Model::last_hidden(const data::Batch& batch, std::vector<float>& out) {
  impl_->core.last_hidden(batch, out);
}
void Model::hidden_states(const data::Batch& batch, std::vector<float>& out) {
  impl_->core.hidden_states(batch, out);
}
void Model::item_scores(const float* hidden, int B, float* out) const {
  impl_->core.item_scores(hidden, B, out);
}
void Model::propensity_logits(const float* hidden, int B, float* out) const {
  impl_->core.propensity_logits(hidden, B, out);
}
void Model::action_logits(const float* hidden, int B, float* out) const {
  impl_->core.action_logits(hidden, B, out);
}
double Model::flops_per_token(int seq_len, int64_t item_logits) const {
  return impl_->core.flops_per_token(seq_len, item_logits);
}

namespace {

class CachedDecoder final : public Model::Decoder {
 public:
  CachedDecoder(const ModelCore<float>& core, int lanes) : decoder_(core, lanes) {}
  void reset() override { decoder_.reset(); }
  const std::vector<float>& append(int32_t item, int32_t action, int32_t category, int32_t time_gap,
                                   int32_t activity) override {
    return decoder_.append(item, action, category, time_gap, activity);
  }
  int length() const override { return decoder_.length(); }
  void truncate(int length) override { decoder_.truncate(length); }
  int lanes() const override { return decoder_.lanes(); }
  const std::vector<float>& append_lanes(int n, const int32_t* items, const int32_t* actions,
                                         const int32_t* categories, const int32_t* time_gaps,
                                         const int32_t* activities) override {
    return decoder_.append_lanes(n, items, actions, categories, time_gaps, activities);
  }
  void copy_lane(int from, int to) override { decoder_.copy_lane(from, to); }

 private:
  KvDecoder<float> decoder_;
};

}  // namespace

std::unique_ptr<Model::Decoder> Model::make_decoder(int lanes) const {
  return std::make_unique<CachedDecoder>(impl_->core, lanes);
}

}  // namespace cf::trainer
