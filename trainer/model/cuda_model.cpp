// CudaModel: trainer/model/model_core.cpp's forward, losses and backward on the GPU.
//
// The structure follows ModelCore line for line so the two can be read side by side: the same
// packed rows (only real positions), the same padded layout around attention, the same
// per-sequence dropout streams and the same loss-head row selection. What differs is where
// numbers live (device buffers, T = bf16 or float for activations and the weight copy, fp32
// for gradients, statistics and losses) and which kernels compute them (kernels/cuda/).
#include "trainer/model/cuda_model.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/cudnn_attention.h"
#include "kernels/cuda/device_array.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/embedding_grad_plan.h"
#include "kernels/cuda/matmul_lt.h"
#include "kernels/dropout_mask.h"
#include "kernels/ops.h"
#include "trainer/model/model_layout.h"
#include "trainer/model/model_random.h"
#include "trainer/privacy/dp_sgd.h"

namespace cf::trainer {

namespace {

using cuda::DeviceArray;

// Logits held at once by the item softmax: rows per chunk = this / V (fp32 logits + T grads).
constexpr int64_t kLogitsPerChunk = int64_t(32) << 20;

// Dropout sites as in model_core.cpp: 0 = embedding sum, then (attention, MLP) per block.
int attention_site(int layer) { return 1 + 2 * layer; }
int mlp_site(int layer) { return 2 + 2 * layer; }

uint64_t sequence_key(const data::Batch& batch, int b) {
  return batch.sequence_index.size() == size_t(batch.B) ? uint64_t(batch.sequence_index[b])
                                                        : uint64_t(b);
}

// An input channel's packed ids on the device and its embedding-gradient plan.
struct DeviceChannel {
  std::vector<int32_t> host;  // packed ids of the current batch
  DeviceArray<int32_t> ids, unique_ids, offsets, rows;
  int unique = 0;

  void upload(cudaStream_t stream, bool with_plan) {
    ids.upload(host, stream);
    if (!with_plan) return;
    const cuda::EmbeddingGradPlan plan =
        cuda::make_embedding_grad_plan(host.data(), int(host.size()));
    unique = int(plan.unique_ids.size());
    unique_ids.upload(plan.unique_ids, stream);
    offsets.upload(plan.offsets, stream);
    rows.upload(plan.rows, stream);
    // The plan's vectors die here: wait until the copies have left them.
    CF_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
};

// (row, feature) pairs of model.item_features: the feature ids with their gradient plan, the
// row each pair reads its gradient from, and its weight (1 / the item's feature count).
struct FeaturePairs {
  DeviceChannel features;
  DeviceArray<int32_t> rows;
  DeviceArray<float> weights;
};

// The model's stream; created first and destroyed last, also when a constructor throws.
struct OwnedStream {
  OwnedStream() { CF_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)); }
  ~OwnedStream() {
    cudaStreamSynchronize(stream);
    cudaStreamDestroy(stream);
  }
  OwnedStream(const OwnedStream&) = delete;
  OwnedStream& operator=(const OwnedStream&) = delete;
  cudaStream_t stream = nullptr;
};

template <class T>
struct BlockBuffers {
  DeviceArray<T> ln1, qkv, att_out, proj, res_mid, ln2, fc1, gelu, fc2;
  DeviceArray<T> attn_gate, mlp_gate, gate_up, swiglu;  // ligr: sigmoid gates, SwiGLU FFN
  // hstu: f1 before and after SiLU (U|V|Q|K), A V, its LayerNorm, the U-gated rows; f2's output
  // goes to proj. hstu_scores: z of every (t, s) pair, [B, NH, T, T].
  DeviceArray<T> uvqk_linear, uvqk, av, av_normed, gated;
  DeviceArray<float> av_mean, av_rstd, hstu_scores;
  DeviceArray<float> ln1_mean, ln1_rstd, ln2_mean, ln2_rstd;
  DeviceArray<float> lse;  // flash: [B, NH, T]
  DeviceArray<float> att;  // reference: [B, NH, T, T]
};

}  // namespace

struct CudaModel::Impl {
  virtual ~Impl() = default;
  virtual int64_t num_params() const = 0;
  virtual void upload_params(const std::vector<float>& host) = 0;
  virtual void download_params(std::vector<float>& host) const = 0;
  virtual void zero_grads() = 0;
  virtual void download_grads(std::vector<float>& host) const = 0;
  virtual void upload_grads(const std::vector<float>& host) = 0;
  virtual float* device_grads() = 0;
  virtual cudaStream_t stream() const = 0;
  std::function<void(int64_t)> grads_ready;
  virtual LossSums forward_backward(const data::Batch& batch, const LossOptions& loss,
                                    uint64_t dropout_seed) = 0;
  virtual LossSums evaluate_loss(const data::Batch& batch, const LossOptions& loss) = 0;
  virtual void upload_optimizer_state(const std::vector<float>& m, const std::vector<float>& v) = 0;
  virtual void download_optimizer_state(std::vector<float>& m, std::vector<float>& v) const = 0;
  virtual double grad_sum_of_squares(const AdamW& optimizer) = 0;
  virtual double add_clipped_grads(double clip_norm, const std::vector<GradientRange>& support) = 0;
  virtual void take_clipped_sum(std::vector<double>& host) = 0;
  virtual void adamw_step(AdamW& optimizer, float lr, float grad_scale) = 0;
  virtual void shard_optimizer(int64_t begin, int64_t end) = 0;
  virtual float* device_params() = 0;
  virtual float* device_grad_shard() = 0;
  virtual void refresh_compute_copy() = 0;
};

namespace {

template <class T>
class CudaModelImpl final : public CudaModel::Impl {
 public:
  CudaModelImpl(const ModelConfig& config, const data::VocabSizes& vocab,
                const CudaModelOptions& options)
      : config_(config),
        vocab_(vocab),
        layout_(build_model_layout(config, vocab)),
        options_(options),
        stream_(owned_stream_.stream) {
    const int hs = config.d_model / config.n_head;
    // hstu has its own pointwise attention kernel, which takes any head dim.
    const bool softmax_attention = config.block != BlockKind::kHstu;
    const bool flash = options.attention == CudaAttention::kFlash ||
                       options.attention == CudaAttention::kFlashCudaCores;
    if (softmax_attention && flash && !cuda::flash_attention_supports(hs))
      throw UserError(
          "model: the flash attention kernel needs a head dim (d_model / n_head) of "
          "32, 64 or 128, this model has " +
          std::to_string(hs) + "; change the model or set cuda.attention: reference");
    if (softmax_attention && options.attention == CudaAttention::kCudnn) {
      if constexpr (!std::is_same_v<T, cuda::bf16>)
        throw UserError(
            "cuda.attention: cudnn needs cuda.precision: bf16 (cuDNN's fused "
            "attention takes 16-bit inputs)");
      cudnn_ = std::make_unique<cuda::CudnnAttention>(config.d_model, config.n_head);
    }
    if constexpr (std::is_same_v<T, cuda::bf16>) {
      int device = 0;
      CF_CUDA_CHECK(cudaGetDevice(&device));
      tensor_cores_ =
          options.attention == CudaAttention::kFlash &&
          cuda::tensor_core_flash_attention_available(cuda::query_cuda_device(device).major);
    }
    const int64_t P = layout_.num_params;
    master_.resize(P);
    grads_.resize(P);
    if constexpr (!std::is_same_v<T, float>) compute_.resize(P);
    m_.resize(P);
    v_.resize(P);
    m_.zero(stream_);
    v_.zero(stream_);
    grads_.zero(stream_);
    partials_.resize(cuda::sum_of_squares_partials());
    if (config.item_features != ItemFeatureUse::kNone) upload_item_features(options.item_features);
  }

  // model.item_features: the CSR table on the device, and for the output side the fixed
  // (item, feature) pairs with their weights and gradient plan (the same every step).
  void upload_item_features(const std::shared_ptr<const data::ItemFeatures>& features) {
    const data::ItemFeatures* f = features.get();
    if (f == nullptr || f->vocab_size != vocab_.item_features ||
        int64_t(f->offsets.size()) != int64_t(vocab_.items) + 1)
      throw UserError(
          "model: model.item_features needs the item features of the corpus it was laid out for");
    CF_CHECK(f->ids.size() < size_t(INT32_MAX), "item features: too many (item, feature) pairs");
    std::vector<int32_t> offsets(f->offsets.begin(), f->offsets.end());
    feature_offsets_.upload(offsets, stream_);
    feature_ids_.upload(f->ids, stream_);
    features_ = features;
    plan_feature_pairs(output_pairs_, nullptr, vocab_.items);
  }

  // The (row, feature) pairs of `items` (null: row n is item n), weighted 1 / the item's
  // feature count, with their per-feature gradient plan on the device.
  void plan_feature_pairs(FeaturePairs& pairs, const int32_t* items, int n) {
    const data::ItemFeatures& f = *features_;
    std::vector<int32_t> rows;
    std::vector<float> weights;
    pairs.features.host.clear();
    for (int r = 0; r < n; ++r) {
      const int32_t item = items ? items[r] : r;
      for (int64_t k = f.offsets[size_t(item)]; k < f.offsets[size_t(item) + 1]; ++k) {
        rows.push_back(r);
        weights.push_back(1.0f / float(f.count(item)));
        pairs.features.host.push_back(f.ids[size_t(k)]);
      }
    }
    pairs.rows.upload(rows, stream_);
    pairs.weights.upload(weights, stream_);
    pairs.features.upload(stream_, /*with_plan=*/true);  // waits, so rows/weights may die
  }

  // Adds to the feature table's gradient the share of `d_rows` (T activations or fp32 table
  // gradients) that `pairs` route to each feature, summed per feature in a fixed order.
  template <class D>
  void item_features_backward(FeaturePairs& pairs, const D* d_rows) {
    const int P = int(pairs.features.host.size()), C = config_.d_model;
    if (P == 0) return;
    pair_grads_.reserve(int64_t(P) * C);
    cuda::weighted_gather_rows<D>(pair_grads_.get(), d_rows, pairs.rows.get(), pairs.weights.get(),
                                  P, C, stream_);
    cuda::embedding_backward<float>(g(layout_.item_feature_emb), pairs.features.unique_ids.get(),
                                    pairs.features.offsets.get(), pairs.features.rows.get(),
                                    pairs.features.unique, pair_grads_.get(), C, stream_);
  }

  int64_t num_params() const override { return layout_.num_params; }

  void upload_params(const std::vector<float>& host) override {
    CF_CHECK(int64_t(host.size()) == layout_.num_params, "CudaModel: parameter count differs");
    master_.upload(host.data(), layout_.num_params, stream_);
    refresh_compute_copy();
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void download_params(std::vector<float>& host) const override {
    host.resize(size_t(layout_.num_params));
    master_.download(host.data(), layout_.num_params, stream_);
  }
  void zero_grads() override { grads_.zero(stream_); }
  void download_grads(std::vector<float>& host) const override {
    host.resize(size_t(layout_.num_params));
    grads_.download(host.data(), layout_.num_params, stream_);
  }
  void upload_grads(const std::vector<float>& host) override {
    CF_CHECK(int64_t(host.size()) == layout_.num_params, "CudaModel: gradient count differs");
    grads_.upload(host.data(), layout_.num_params, stream_);
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  float* device_grads() override { return grads_.get(); }
  cudaStream_t stream() const override { return stream_; }

  LossSums forward_backward(const data::Batch& batch, const LossOptions& loss,
                            uint64_t dropout_seed) override {
    validate_batch(config_, layout_, vocab_, batch, &loss);
    forward(batch, config_.dropout, dropout_seed, /*with_backward_plans=*/true);
    LossSums sums = losses(batch, loss, /*with_grad=*/true);
    backward(batch, config_.dropout);
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return sums;
  }

  LossSums evaluate_loss(const data::Batch& batch, const LossOptions& loss) override {
    validate_batch(config_, layout_, vocab_, batch, &loss);
    forward(batch, 0.f, 0, /*with_backward_plans=*/false);
    LossSums sums = losses(batch, loss, /*with_grad=*/false);
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return sums;
  }

  // ZeRO-1: m and v shrink to the parameters [begin, end); the update reads the summed
  // gradients of that range from grad_shard_ (where the backend reduce-scatters them).
  void shard_optimizer(int64_t begin, int64_t end) override {
    CF_CHECK(0 <= begin && begin <= end && end <= layout_.num_params,
             "CudaModel: optimizer shard outside the parameters");
    shard_begin_ = begin;
    shard_end_ = end;
    sharded_ = true;
    for (DeviceArray<float>* a : {&m_, &v_, &grad_shard_}) {
      a->resize(end - begin);
      a->zero(stream_);
    }
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  float* device_params() override { return master_.get(); }
  float* device_grad_shard() override { return sharded_ ? grad_shard_.get() : nullptr; }

  void upload_optimizer_state(const std::vector<float>& m, const std::vector<float>& v) override {
    CF_CHECK(int64_t(m.size()) == layout_.num_params && m.size() == v.size(),
             "CudaModel: optimizer state size differs from the parameters");
    const int64_t n = shard_end() - shard_begin_;
    m_.upload(m.data() + shard_begin_, n, stream_);
    v_.upload(v.data() + shard_begin_, n, stream_);
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void download_optimizer_state(std::vector<float>& m, std::vector<float>& v) const override {
    const int64_t n = shard_end() - shard_begin_;
    m.resize(size_t(n));
    v.resize(size_t(n));
    m_.download(m.data(), n, stream_);
    v_.download(v.data(), n, stream_);
  }

  double grad_sum_of_squares(const AdamW& optimizer) override {
    double sum = 0;
    for_each_update_range(optimizer, [&](const AdamW::Range&, int64_t begin, int64_t count) {
      sum += cuda::sum_of_squares(gradient_at(begin), count, partials_.get(), stream_);
    });
    return sum;
  }

  double add_clipped_grads(double clip_norm, const std::vector<GradientRange>& support) override {
    const int64_t P = layout_.num_params;
    if (clipped_sum_.size() != P) {
      clipped_sum_.resize(P);
      clipped_sum_.zero(stream_);
    }
    // The support in chunks of at most kSupportChunk elements, one block each.
    constexpr int64_t kSupportChunk = 4096;
    chunk_begin_.host.clear();
    chunk_end_.host.clear();
    for (const GradientRange& r : support) {
      CF_CHECK(r.begin >= 0 && r.end <= P, "CudaModel: gradient support outside the parameters");
      for (int64_t b = r.begin; b < r.end; b += kSupportChunk) {
        chunk_begin_.host.push_back(b);
        chunk_end_.host.push_back(std::min(r.end, b + kSupportChunk));
      }
    }
    const int chunks = int(chunk_begin_.host.size());
    chunk_begin_.device.upload(chunk_begin_.host, stream_);
    chunk_end_.device.upload(chunk_end_.host, stream_);
    chunk_partials_.reserve(chunks);
    const double norm = std::sqrt(
        cuda::chunk_sum_of_squares(grads_.get(), chunk_begin_.device.get(), chunk_end_.device.get(),
                                   chunks, chunk_partials_.get(), stream_));
    cuda::chunk_add_scaled_and_zero(clipped_sum_.get(), grads_.get(),
                                    privacy::clip_scale(norm, clip_norm), chunk_begin_.device.get(),
                                    chunk_end_.device.get(), chunks, stream_);
    return norm;
  }

  void take_clipped_sum(std::vector<double>& host) override {
    const int64_t P = layout_.num_params;
    host.assign(size_t(P), 0.0);
    if (clipped_sum_.size() != P) return;  // no user this step
    clipped_sum_.download(host.data(), P, stream_);
    clipped_sum_.zero(stream_);
  }

  void adamw_step(AdamW& optimizer, float lr, float grad_scale) override {
    const int64_t step = optimizer.count_external_step();
    const AdamWHyperparams& h = optimizer.hyperparams();
    for_each_update_range(optimizer, [&](const AdamW::Range& r, int64_t begin, int64_t count) {
      const int64_t state = begin - shard_begin_;
      cuda::adamw_update<T>(master_.get() + begin, compute_copy_or_null(begin), gradient_at(begin),
                            m_.get() + state, v_.get() + state, count, lr * r.rule.lr_scale,
                            h.beta1, h.beta2, h.eps, r.rule.weight_decay, step, grad_scale,
                            stream_);
    });
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  // The weights kernels read, from the fp32 master (after an all-gather wrote the master).
  void refresh_compute_copy() override {
    if constexpr (!std::is_same_v<T, float>)
      cuda::convert<T, float>(compute_.get(), master_.get(), layout_.num_params, stream_);
  }

 private:
  // ---- parameters -------------------------------------------------------------------------
  // The weights kernels read: the bf16 copy, or the fp32 master itself in fp32 mode.
  const T* p(int64_t offset) const {
    if (offset == kAbsent) return nullptr;
    if constexpr (std::is_same_v<T, float>)
      return master_.get() + offset;
    else
      return compute_.get() + offset;
  }
  float* g(int64_t offset) { return offset == kAbsent ? nullptr : grads_.get() + offset; }
  T* compute_copy_or_null(int64_t offset) {
    if constexpr (std::is_same_v<T, float>)
      return nullptr;  // the master is the copy
    else
      return compute_.get() + offset;
  }
  // ---- optimizer shard ----------------------------------------------------------------------
  int64_t shard_end() const { return sharded_ ? shard_end_ : layout_.num_params; }
  // The summed gradient of parameter `offset` (inside this rank's shard when sharded).
  float* gradient_at(int64_t offset) {
    return sharded_ ? grad_shard_.get() + (offset - shard_begin_) : grads_.get() + offset;
  }
  // f(range, begin, count) for the part of each trained update range inside the shard.
  template <class F>
  void for_each_update_range(const AdamW& optimizer, F&& f) {
    for (const AdamW::Range& r : optimizer.update_ranges()) {
      if (r.rule.frozen) continue;
      const int64_t begin = std::max(r.begin, shard_begin_);
      const int64_t end = std::min(r.begin + r.count, shard_end());
      if (end > begin) f(r, begin, end - begin);
    }
  }

  // ---- activations ------------------------------------------------------------------------
  // Sizes every buffer for at least B sequences of T positions; grows only.
  void ensure(int B, int Tlen) {
    if (B <= cap_B_ && Tlen <= cap_T_) return;
    cap_B_ = std::max(cap_B_, B);
    cap_T_ = std::max(cap_T_, Tlen);
    const int64_t N = int64_t(cap_B_) * cap_T_, C = config_.d_model, F = config_.d_ff;
    const int64_t NH = config_.n_head;
    encoded_.resize(N * C);
    residual_.resize(size_t(config_.n_layer) + 1);
    for (auto& r : residual_) r.resize(N * C);
    blocks_.resize(size_t(config_.n_layer));
    for (auto& l : blocks_) {
      for (auto* a : {&l.ln1, &l.att_out, &l.proj, &l.res_mid, &l.ln2, &l.fc2}) a->resize(N * C);
      l.qkv.resize(3 * N * C);
      if (config_.block == BlockKind::kHstu) {
        l.uvqk_linear.resize(4 * N * C);
        l.uvqk.resize(4 * N * C);
        for (auto* a : {&l.av, &l.av_normed, &l.gated}) a->resize(N * C);
        l.av_mean.resize(N);
        l.av_rstd.resize(N);
        l.hstu_scores.resize(int64_t(cap_B_) * NH * cap_T_ * cap_T_);
      }
      if (config_.block == BlockKind::kLigr) {
        l.attn_gate.resize(N * C);
        l.mlp_gate.resize(N * C);
        l.gate_up.resize(2 * N * F);
        l.swiglu.resize(N * F);
      } else {
        l.fc1.resize(N * F);
        l.gelu.resize(N * F);
      }
      for (auto* s : {&l.ln1_mean, &l.ln1_rstd, &l.ln2_mean, &l.ln2_rstd}) s->resize(N);
      if (options_.attention == CudaAttention::kReference)
        l.att.resize(int64_t(cap_B_) * NH * cap_T_ * cap_T_);
      else
        l.lse.resize(int64_t(cap_B_) * NH * cap_T_);
    }
    for (auto* a : {&hidden_, &dropout_out_, &padded_att_out_, &d_padded_att_out_, &d_residual_,
                    &d_hidden_, &d_ln_, &d_branch_, &gathered_, &d_gathered_})
      a->resize(N * C);
    for (auto* a : {&packed_qkv_, &d_padded_qkv_, &d_qkv_}) a->resize(3 * N * C);
    d_fc1_.resize(N * F);
    d_gelu_.resize(N * F);
    if (config_.block == BlockKind::kLigr) {
      d_gate_logit_.resize(N * C);
      d_gate_up_.resize(2 * N * F);
    }
    if (config_.block == BlockKind::kHstu) {
      d_uvqk_.resize(4 * N * C);
      d_uvqk_linear_.resize(4 * N * C);
      hstu_dscores_.resize(int64_t(cap_B_) * NH * cap_T_ * cap_T_);
    }
    hidden_mean_.resize(N);
    hidden_rstd_.resize(N);
    attention_scratch_.resize(
        tensor_cores_
            ? cuda::tensor_core_flash_attention_backward_scratch_floats(cap_B_, cap_T_, int(NH))
            : cuda::flash_attention_backward_scratch_floats(cap_B_, cap_T_, int(C), int(NH)));
    layernorm_scratch_.resize(cuda::layernorm_backward_scratch_floats(int(N), int(C)));
    for (auto* a : {&packed_origin_, &row_sequence_, &row_index_, &row_target_}) a->resize(N);
    row_loss_.resize(N);
    row_counted_.resize(N);
    lengths_.resize(cap_B_);
    dropout_seeds_.resize(int64_t(1 + 2 * config_.n_layer) * cap_B_);
  }

  // ---- packing (as ModelCore::pack) ---------------------------------------------------------
  void pack(const data::Batch& batch, bool with_backward_plans) {
    const ModelLayout& L = layout_;
    sequence_start_.assign(size_t(batch.B), 0);
    host_origin_.clear();
    host_row_sequence_.clear();
    for (auto* ch : {&item_, &action_, &category_, &time_gap_, &activity_, &position_})
      ch->host.clear();
    for (int b = 0; b < batch.B; ++b) {
      sequence_start_[size_t(b)] = int(host_origin_.size());
      for (int t = 0; t < batch.length[size_t(b)]; ++t) {
        const int n = b * batch.T + t;
        host_origin_.push_back(n);
        host_row_sequence_.push_back(b);
        position_.host.push_back(t);
        item_.host.push_back(batch.item[size_t(n)]);
        if (L.action_emb != kAbsent) action_.host.push_back(batch.action[size_t(n)]);
        if (L.category_emb != kAbsent) category_.host.push_back(batch.category[size_t(n)]);
        if (L.time_gap_emb != kAbsent) time_gap_.host.push_back(batch.time_gap[size_t(n)]);
        if (L.activity_emb != kAbsent) activity_.host.push_back(batch.activity[size_t(n)]);
      }
    }
    rows_ = int(host_origin_.size());
    packed_origin_.upload(host_origin_, stream_);
    row_sequence_.upload(host_row_sequence_, stream_);
    lengths_.upload(batch.length, stream_);
    if (config_.block == BlockKind::kHstu) {
      host_sequence_start_.assign(sequence_start_.begin(), sequence_start_.end());
      sequence_start_device_.upload(host_sequence_start_, stream_);
    }
    for (auto* ch : {&item_, &action_, &category_, &time_gap_, &activity_, &position_})
      if (!ch->host.empty()) ch->upload(stream_, with_backward_plans);
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));  // host vectors may change after this
  }

  // Mixed seeds of every (site, sequence) dropout stream, as model_core.cpp derives them.
  void upload_dropout_seeds(const data::Batch& batch, uint64_t dropout_seed) {
    const int sites = 1 + 2 * config_.n_layer;
    host_seeds_.assign(size_t(sites) * batch.B, 0);
    for (int site = 0; site < sites; ++site) {
      const uint64_t site_seed = derive_seed(dropout_seed, uint64_t(site));
      for (int b = 0; b < batch.B; ++b)
        host_seeds_[size_t(site) * batch.B + b] =
            ops::mix64(derive_seed(site_seed, sequence_key(batch, b)));
    }
    dropout_seeds_.upload(host_seeds_.data(), int64_t(host_seeds_.size()), stream_);
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  const uint64_t* site_seeds(int site, int B) const {
    return dropout_seeds_.get() + int64_t(site) * B;
  }

  void dropout_forward(T* out, const T* inp, float p, int site, int B) {
    cuda::dropout_rows_forward<T>(out, inp, p, site_seeds(site, B), row_sequence_.get(),
                                  position_.ids.get(), rows_, config_.d_model, stream_);
  }
  void dropout_backward(T* dinp, const T* dout, float p, int site, int B) {
    cuda::dropout_rows_backward<T>(dinp, dout, p, site_seeds(site, B), row_sequence_.get(),
                                   position_.ids.get(), rows_, config_.d_model, stream_);
  }

  // Packed rows <-> padded [B, T, width]; padding rows of the padded buffer are zero.
  void scatter_to_padded(T* padded, const T* packed, int width, int B, int Tlen) {
    CF_CUDA_CHECK(cudaMemsetAsync(padded, 0, sizeof(T) * int64_t(B) * Tlen * width, stream_));
    cuda::scatter_rows<T>(padded, packed, packed_origin_.get(), rows_, width, false, stream_);
  }
  void gather_from_padded(T* packed, const T* padded, int width) {
    cuda::gather_rows<T>(packed, padded, packed_origin_.get(), rows_, width, stream_);
  }

  void zero(DeviceArray<T>& a, int64_t n) {
    CF_CUDA_CHECK(cudaMemsetAsync(a.get(), 0, sizeof(T) * n, stream_));
  }

  // ---- attention: the kernel cuda.attention chose, on the padded [B, T, ...] buffers -------
  // act.qkv -> padded_att_out_, keeping act.lse (or act.att for the reference kernels).
  void attention_forward(BlockBuffers<T>& act, int B, int Tlen) {
    const int C = config_.d_model, NH = config_.n_head;
    T* out = padded_att_out_.get();
    if constexpr (std::is_same_v<T, cuda::bf16>) {
      if (tensor_cores_) {
        cuda::tensor_core_flash_attention_forward(out, act.lse.get(), act.qkv.get(), lengths_.get(),
                                                  B, Tlen, C, NH, stream_);
        return;
      }
      if (cudnn_) {
        cudnn_->forward(out, act.lse.get(), act.qkv.get(), lengths_.get(), B, Tlen, stream_);
        return;
      }
    }
    if (options_.attention == CudaAttention::kReference)
      cuda::reference_attention_forward<T>(out, act.att.get(), act.qkv.get(), lengths_.get(), B,
                                           Tlen, C, NH, stream_);
    else
      cuda::flash_attention_forward<T>(out, act.lse.get(), act.qkv.get(), lengths_.get(), B, Tlen,
                                       C, NH, stream_);
  }

  // d_padded_att_out_ -> d_padded_qkv_ (zero on entry).
  void attention_backward(BlockBuffers<T>& act, int B, int Tlen) {
    const int C = config_.d_model, NH = config_.n_head;
    if (options_.attention == CudaAttention::kReference) {
      cuda::reference_attention_backward<T>(d_padded_qkv_.get(), d_padded_att_out_.get(),
                                            act.qkv.get(), act.att.get(), lengths_.get(), B, Tlen,
                                            C, NH, stream_);
      return;
    }
    // The forward output, padded again (rows past a sequence's length are zero there, which
    // backward does not need: their output gradient is zero).
    scatter_to_padded(padded_att_out_.get(), act.att_out.get(), C, B, Tlen);
    const T* out = padded_att_out_.get();
    const T* dout = d_padded_att_out_.get();
    if constexpr (std::is_same_v<T, cuda::bf16>) {
      if (tensor_cores_) {
        cuda::tensor_core_flash_attention_backward(d_padded_qkv_.get(), attention_scratch_.get(),
                                                   dout, out, act.qkv.get(), act.lse.get(),
                                                   lengths_.get(), B, Tlen, C, NH, stream_);
        return;
      }
      if (cudnn_) {
        cudnn_->backward(d_padded_qkv_.get(), dout, out, act.qkv.get(), act.lse.get(),
                         lengths_.get(), B, Tlen, options_.deterministic, stream_);
        return;
      }
    }
    cuda::flash_attention_backward<T>(d_padded_qkv_.get(), attention_scratch_.get(), dout, out,
                                      act.qkv.get(), act.lse.get(), lengths_.get(), B, Tlen, C, NH,
                                      options_.deterministic, stream_);
  }

  // ---- forward (as ModelCore::forward) ------------------------------------------------------
  void forward(const data::Batch& batch, float dropout, uint64_t dropout_seed,
               bool with_backward_plans) {
    const int B = batch.B, Tlen = batch.T, C = config_.d_model, F = config_.d_ff;
    ensure(B, Tlen);
    pack(batch, with_backward_plans);
    upload_dropout_seeds(batch, dropout_seed);
    const ModelLayout& L = layout_;
    const int N = rows_;
    const int64_t NC = int64_t(N) * C;
    if (N == 0) return;

    zero(encoded_, NC);
    auto embed = [&](DeviceChannel& ch, int64_t table) {
      if (table != kAbsent)
        cuda::embedding_forward<T>(encoded_.get(), ch.ids.get(), p(table), N, C, stream_);
    };
    embed(item_, L.item_emb);
    if (features_on_input(config_.item_features)) {
      cuda::item_features_forward<T>(encoded_.get(), item_.ids.get(), feature_offsets_.get(),
                                     feature_ids_.get(), p(L.item_feature_emb), N, C, stream_);
      if (with_backward_plans) plan_feature_pairs(input_pairs_, item_.host.data(), N);
    }
    embed(action_, L.action_emb);
    embed(category_, L.category_emb);
    embed(time_gap_, L.time_gap_emb);
    embed(activity_, L.activity_emb);
    embed(position_, L.pos_emb);
    dropout_forward(residual_[0].get(), encoded_.get(), dropout, 0, B);

    for (int l = 0; l < config_.n_layer; ++l) {
      const BlockOffsets& w = L.blocks[size_t(l)];
      BlockBuffers<T>& act = blocks_[size_t(l)];
      const T* x = residual_[size_t(l)].get();
      if (config_.block == BlockKind::kHstu) {
        hstu_block_forward(l, x, dropout, B, Tlen);
        continue;
      }
      cuda::residual_layernorm_forward<T>(nullptr, act.ln1.get(), act.ln1_mean.get(),
                                          act.ln1_rstd.get(), x, nullptr, p(w.ln1.weight),
                                          p(w.ln1.bias), N, C, stream_);
      matmul_.forward<T, T>(packed_qkv_.get(), act.ln1.get(), p(w.qkv.weight), p(w.qkv.bias), N, C,
                            3 * C, cuda::Epilogue::bias, nullptr, stream_);
      scatter_to_padded(act.qkv.get(), packed_qkv_.get(), 3 * C, B, Tlen);
      attention_forward(act, B, Tlen);
      gather_from_padded(act.att_out.get(), padded_att_out_.get(), C);
      matmul_.forward<T, T>(act.proj.get(), act.att_out.get(), p(w.proj.weight), p(w.proj.bias), N,
                            C, C, cuda::Epilogue::bias, nullptr, stream_);
      if (config_.block == BlockKind::kLigr) {
        ligr_gates_and_ffn_forward(l, x, dropout, B);
        continue;
      }
      dropout_forward(dropout_out_.get(), act.proj.get(), dropout, attention_site(l), B);
      cuda::residual_forward<T>(act.res_mid.get(), x, dropout_out_.get(), NC, stream_);

      cuda::residual_layernorm_forward<T>(nullptr, act.ln2.get(), act.ln2_mean.get(),
                                          act.ln2_rstd.get(), act.res_mid.get(), nullptr,
                                          p(w.ln2.weight), p(w.ln2.bias), N, C, stream_);
      // bf16 fuses GELU into the fc1 GEMM when cuBLASLt allows it (aux width a multiple of 8);
      // fp32 checks the CPU path exactly: bias epilogue, then the CPU's GELU formula.
      if (std::is_same_v<T, float> || F % 8 != 0) {
        matmul_.forward<T, T>(act.fc1.get(), act.ln2.get(), p(w.fc1.weight), p(w.fc1.bias), N, C, F,
                              cuda::Epilogue::bias, nullptr, stream_);
        cuda::gelu_forward<T>(act.gelu.get(), act.fc1.get(), int64_t(N) * F, stream_);
      } else {
        matmul_.forward<T, T>(act.gelu.get(), act.ln2.get(), p(w.fc1.weight), p(w.fc1.bias), N, C,
                              F, cuda::Epilogue::bias_gelu, act.fc1.get(), stream_);
      }
      matmul_.forward<T, T>(act.fc2.get(), act.gelu.get(), p(w.fc2.weight), p(w.fc2.bias), N, F, C,
                            cuda::Epilogue::bias, nullptr, stream_);
      dropout_forward(dropout_out_.get(), act.fc2.get(), dropout, mlp_site(l), B);
      cuda::residual_forward<T>(residual_[size_t(l) + 1].get(), act.res_mid.get(),
                                dropout_out_.get(), NC, stream_);
    }
    cuda::residual_layernorm_forward<T>(nullptr, hidden_.get(), hidden_mean_.get(),
                                        hidden_rstd_.get(), residual_.back().get(), nullptr,
                                        p(L.ln_f.weight), p(L.ln_f.bias), N, C, stream_);
  }

  // The HSTU layer (ModelCore::hstu_block_forward): no softmax attention and no FFN.
  void hstu_block_forward(int l, const T* x, float dropout, int B, int Tlen) {
    const int C = config_.d_model, NH = config_.n_head, N = rows_;
    const int64_t NC = int64_t(N) * C;
    const BlockOffsets& w = layout_.blocks[size_t(l)];
    BlockBuffers<T>& act = blocks_[size_t(l)];
    cuda::residual_layernorm_forward<T>(nullptr, act.ln1.get(), act.ln1_mean.get(),
                                        act.ln1_rstd.get(), x, nullptr, p(w.ln1.weight),
                                        p(w.ln1.bias), N, C, stream_);
    matmul_.forward<T, T>(act.uvqk_linear.get(), act.ln1.get(), p(w.uvqk.weight), p(w.uvqk.bias), N,
                          C, 4 * C, cuda::Epilogue::bias, nullptr, stream_);
    cuda::silu_forward<T>(act.uvqk.get(), act.uvqk_linear.get(), 4 * NC, stream_);
    cuda::hstu_attention_forward<T>(act.av.get(), act.hstu_scores.get(), act.uvqk.get(),
                                    p(w.rel_pos_bias), config_.max_len,
                                    sequence_start_device_.get(), lengths_.get(), B, Tlen, C, NH,
                                    1.0f / float(config_.max_len), stream_);
    cuda::residual_layernorm_forward<T>(nullptr, act.av_normed.get(), act.av_mean.get(),
                                        act.av_rstd.get(), act.av.get(), nullptr,
                                        p(w.av_norm.weight), p(w.av_norm.bias), N, C, stream_);
    cuda::hstu_gate_forward<T>(act.gated.get(), act.av_normed.get(), act.uvqk.get(), N, C, stream_);
    matmul_.forward<T, T>(act.proj.get(), act.gated.get(), p(w.hstu_out.weight), p(w.hstu_out.bias),
                          N, C, C, cuda::Epilogue::bias, nullptr, stream_);
    dropout_forward(dropout_out_.get(), act.proj.get(), dropout, attention_site(l), B);
    cuda::residual_forward<T>(residual_[size_t(l) + 1].get(), x, dropout_out_.get(), NC, stream_);
  }

  // Its backward (ModelCore::hstu_block_backward), the whole block: d_residual_ ends as
  // dLoss/d(residual[l]).
  void hstu_block_backward(int l, float dropout, int B, int Tlen) {
    const int C = config_.d_model, NH = config_.n_head, N = rows_;
    const int64_t NC = int64_t(N) * C;
    const BlockOffsets& w = layout_.blocks[size_t(l)];
    BlockBuffers<T>& act = blocks_[size_t(l)];
    zero(d_branch_, NC);  // d(f2 output)
    dropout_backward(d_branch_.get(), d_residual_.get(), dropout, attention_site(l), B);
    zero(d_ln_, NC);  // d(gated)
    matmul_.backward<T>(d_ln_.get(), g(w.hstu_out.weight), g(w.hstu_out.bias), d_branch_.get(),
                        act.gated.get(), p(w.hstu_out.weight), N, C, C, stream_);
    zero(d_uvqk_, 4 * NC);
    zero(d_branch_, NC);  // d(av_normed)
    cuda::hstu_gate_backward<T>(d_branch_.get(), d_uvqk_.get(), d_ln_.get(), act.av_normed.get(),
                                act.uvqk.get(), N, C, stream_);
    zero(d_ln_, NC);  // d(av)
    cuda::layernorm_backward<T>(d_ln_.get(), g(w.av_norm.weight), g(w.av_norm.bias),
                                layernorm_scratch_.get(), d_branch_.get(), act.av.get(),
                                p(w.av_norm.weight), act.av_mean.get(), act.av_rstd.get(), N, C,
                                stream_);
    cuda::hstu_attention_backward<T>(d_uvqk_.get(), g(w.rel_pos_bias), hstu_dscores_.get(),
                                     d_ln_.get(), act.uvqk.get(), act.hstu_scores.get(),
                                     config_.max_len, sequence_start_device_.get(), lengths_.get(),
                                     B, Tlen, C, NH, 1.0f / float(config_.max_len), stream_);
    zero(d_uvqk_linear_, 4 * NC);
    cuda::silu_backward<T>(d_uvqk_linear_.get(), act.uvqk_linear.get(), d_uvqk_.get(), 4 * NC,
                           stream_);
    zero(d_branch_, NC);  // d(ln1 output)
    matmul_.backward<T>(d_branch_.get(), g(w.uvqk.weight), g(w.uvqk.bias), d_uvqk_linear_.get(),
                        act.ln1.get(), p(w.uvqk.weight), N, C, 4 * C, stream_);
    cuda::layernorm_backward<T>(d_residual_.get(), g(w.ln1.weight), g(w.ln1.bias),
                                layernorm_scratch_.get(), d_branch_.get(),
                                residual_[size_t(l)].get(), p(w.ln1.weight), act.ln1_mean.get(),
                                act.ln1_rstd.get(), N, C, stream_);
  }

  // LiGR's two gated residual adds and its SwiGLU FFN (ModelCore::ligr_block_forward), once the
  // shared attention sublayer has left its output in act.proj.
  void ligr_gates_and_ffn_forward(int l, const T* x, float dropout, int B) {
    const int C = config_.d_model, F = config_.d_ff, N = rows_;
    const int64_t NC = int64_t(N) * C;
    const BlockOffsets& w = layout_.blocks[size_t(l)];
    BlockBuffers<T>& act = blocks_[size_t(l)];
    matmul_.forward<T, T>(act.attn_gate.get(), x, p(w.attn_gate.weight), p(w.attn_gate.bias), N, C,
                          C, cuda::Epilogue::bias, nullptr, stream_);
    cuda::sigmoid_forward<T>(act.attn_gate.get(), act.attn_gate.get(), NC, stream_);
    dropout_forward(dropout_out_.get(), act.proj.get(), dropout, attention_site(l), B);
    cuda::gated_residual_forward<T>(act.res_mid.get(), x, act.attn_gate.get(), dropout_out_.get(),
                                    NC, stream_);
    cuda::residual_layernorm_forward<T>(nullptr, act.ln2.get(), act.ln2_mean.get(),
                                        act.ln2_rstd.get(), act.res_mid.get(), nullptr,
                                        p(w.ln2.weight), p(w.ln2.bias), N, C, stream_);
    // w_gate and w_up are adjacent [F, C] tensors: one [2F, C] GEMM gives gate | up per row.
    matmul_.forward<T, T>(act.gate_up.get(), act.ln2.get(), p(w.swiglu_gate), nullptr, N, C, 2 * F,
                          cuda::Epilogue::none, nullptr, stream_);
    cuda::swiglu_forward<T>(act.swiglu.get(), act.gate_up.get(), N, F, stream_);
    matmul_.forward<T, T>(act.fc2.get(), act.swiglu.get(), p(w.swiglu_down), nullptr, N, F, C,
                          cuda::Epilogue::none, nullptr, stream_);
    matmul_.forward<T, T>(act.mlp_gate.get(), act.res_mid.get(), p(w.mlp_gate.weight),
                          p(w.mlp_gate.bias), N, C, C, cuda::Epilogue::bias, nullptr, stream_);
    cuda::sigmoid_forward<T>(act.mlp_gate.get(), act.mlp_gate.get(), NC, stream_);
    dropout_forward(dropout_out_.get(), act.fc2.get(), dropout, mlp_site(l), B);
    cuda::gated_residual_forward<T>(residual_[size_t(l) + 1].get(), act.res_mid.get(),
                                    act.mlp_gate.get(), dropout_out_.get(), NC, stream_);
  }

  // gpt: the MLP branch and the attention residual's dropout, down to d(attention sublayer
  // output) in d_branch_ (the attention residual's identity path stays in d_residual_).
  void gpt_mlp_backward(int l, float dropout, int B) {
    const int C = config_.d_model, F = config_.d_ff, N = rows_;
    const int64_t NC = int64_t(N) * C, NF = int64_t(N) * F;
    const BlockOffsets& w = layout_.blocks[size_t(l)];
    BlockBuffers<T>& act = blocks_[size_t(l)];
    zero(d_branch_, NC);
    dropout_backward(d_branch_.get(), d_residual_.get(), dropout, mlp_site(l), B);
    zero(d_gelu_, NF);
    matmul_.backward<T>(d_gelu_.get(), g(w.fc2.weight), g(w.fc2.bias), d_branch_.get(),
                        act.gelu.get(), p(w.fc2.weight), N, F, C, stream_);
    zero(d_fc1_, NF);
    cuda::gelu_backward<T>(d_fc1_.get(), act.fc1.get(), d_gelu_.get(), NF, stream_);
    zero(d_ln_, NC);
    matmul_.backward<T>(d_ln_.get(), g(w.fc1.weight), g(w.fc1.bias), d_fc1_.get(), act.ln2.get(),
                        p(w.fc1.weight), N, C, F, stream_);
    cuda::layernorm_backward<T>(
        d_residual_.get(), g(w.ln2.weight), g(w.ln2.bias), layernorm_scratch_.get(), d_ln_.get(),
        act.res_mid.get(), p(w.ln2.weight), act.ln2_mean.get(), act.ln2_rstd.get(), N, C, stream_);

    zero(d_branch_, NC);
    dropout_backward(d_branch_.get(), d_residual_.get(), dropout, attention_site(l), B);
  }

  // LiGR backward down to d(attention sublayer output) in d_branch_
  // (ModelCore::ligr_block_backward); both gates' paths add into d_residual_.
  void ligr_gates_and_ffn_backward(int l, float dropout, int B) {
    const int C = config_.d_model, F = config_.d_ff, N = rows_;
    const int64_t NC = int64_t(N) * C, NF = int64_t(N) * F;
    const BlockOffsets& w = layout_.blocks[size_t(l)];
    BlockBuffers<T>& act = blocks_[size_t(l)];
    // FFN branch, x' = m + gate * dropout(ffn); the dropped branch is recomputed from its seed.
    dropout_forward(dropout_out_.get(), act.fc2.get(), dropout, mlp_site(l), B);
    zero(d_gate_logit_, NC);
    zero(d_ln_, NC);  // d(dropped branch)
    cuda::gated_residual_backward<T>(d_gate_logit_.get(), d_ln_.get(), d_residual_.get(),
                                     act.mlp_gate.get(), dropout_out_.get(), NC, stream_);
    zero(d_branch_, NC);  // d(ffn output)
    dropout_backward(d_branch_.get(), d_ln_.get(), dropout, mlp_site(l), B);
    matmul_.backward<T>(d_residual_.get(), g(w.mlp_gate.weight), g(w.mlp_gate.bias),
                        d_gate_logit_.get(), act.res_mid.get(), p(w.mlp_gate.weight), N, C, C,
                        stream_);
    zero(d_gelu_, NF);  // d(swiglu)
    matmul_.backward<T>(d_gelu_.get(), g(w.swiglu_down), nullptr, d_branch_.get(), act.swiglu.get(),
                        p(w.swiglu_down), N, F, C, stream_);
    zero(d_gate_up_, 2 * NF);
    cuda::swiglu_backward<T>(d_gate_up_.get(), act.gate_up.get(), d_gelu_.get(), N, F, stream_);
    zero(d_ln_, NC);
    matmul_.backward<T>(d_ln_.get(), g(w.swiglu_gate), nullptr, d_gate_up_.get(), act.ln2.get(),
                        p(w.swiglu_gate), N, C, 2 * F, stream_);
    cuda::layernorm_backward<T>(
        d_residual_.get(), g(w.ln2.weight), g(w.ln2.bias), layernorm_scratch_.get(), d_ln_.get(),
        act.res_mid.get(), p(w.ln2.weight), act.ln2_mean.get(), act.ln2_rstd.get(), N, C, stream_);
    // Attention branch, m = x + gate * dropout(attention): the same steps.
    dropout_forward(dropout_out_.get(), act.proj.get(), dropout, attention_site(l), B);
    zero(d_gate_logit_, NC);
    zero(d_ln_, NC);
    cuda::gated_residual_backward<T>(d_gate_logit_.get(), d_ln_.get(), d_residual_.get(),
                                     act.attn_gate.get(), dropout_out_.get(), NC, stream_);
    zero(d_branch_, NC);  // d(proj output), where the attention backward starts
    dropout_backward(d_branch_.get(), d_ln_.get(), dropout, attention_site(l), B);
    matmul_.backward<T>(d_residual_.get(), g(w.attn_gate.weight), g(w.attn_gate.bias),
                        d_gate_logit_.get(), residual_[size_t(l)].get(), p(w.attn_gate.weight), N,
                        C, C, stream_);
  }

  // ---- losses (as ModelCore::losses) ----------------------------------------------------------
  // Gathers the packed rows whose target is positive into gathered_ (and their targets into
  // row_target_); returns how many.
  int gather_targets(const std::vector<int32_t>& targets, bool with_grad) {
    host_row_index_.clear();
    host_row_target_.clear();
    for (int r = 0; r < rows_; ++r) {
      const int32_t target = targets[size_t(host_origin_[size_t(r)])];
      if (target <= 0) continue;
      host_row_index_.push_back(r);
      host_row_target_.push_back(target);
    }
    const int rows = int(host_row_index_.size());
    if (rows == 0) return 0;
    const int C = config_.d_model;
    row_index_.upload(host_row_index_.data(), rows, stream_);
    row_target_.upload(host_row_target_.data(), rows, stream_);
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    cuda::gather_rows<T>(gathered_.get(), hidden_.get(), row_index_.get(), rows, C, stream_);
    if (with_grad) zero(d_gathered_, int64_t(rows) * C);
    return rows;
  }

  // Full softmax cross-entropy of gathered_[0, rows) against table [V, C] (+ bias), in chunks
  // of rows so at most kLogitsPerChunk logits exist. Returns the summed loss; counted rows in
  // `counted`. With grad: d_gathered_ and the table's gradients (fp32) accumulate.
  double softmax_xent(int rows, const T* weight, float* dweight, const T* bias, float* dbias, int V,
                      float grad_scale, bool with_grad, int64_t* counted) {
    const int C = config_.d_model;
    const int chunk = int(std::clamp<int64_t>(kLogitsPerChunk / std::max(V, 1), 1, rows));
    logits_.reserve(int64_t(chunk) * V);
    dlogits_.reserve(int64_t(chunk) * V);
    for (int r0 = 0; r0 < rows; r0 += chunk) {
      const int n = std::min(chunk, rows - r0);
      const T* hidden = gathered_.get() + int64_t(r0) * C;
      matmul_.forward<T, float>(logits_.get(), hidden, weight, nullptr, n, C, V,
                                cuda::Epilogue::none, nullptr, stream_);
      cuda::softmax_xent_rows<T>(row_loss_.get() + r0, row_counted_.get() + r0, dlogits_.get(),
                                 logits_.get(), bias, row_target_.get() + r0, n, V, grad_scale,
                                 stream_);
      if (with_grad)
        matmul_.backward<T>(d_gathered_.get() + int64_t(r0) * C, dweight, dbias, dlogits_.get(),
                            hidden, weight, n, C, V, stream_);
    }
    return sum_row_losses(rows, counted);
  }

  // Per-row losses summed on the host in row order, in double (as the CPU path sums).
  double sum_row_losses(int rows, int64_t* counted) {
    host_loss_.resize(size_t(rows));
    host_counted_.resize(size_t(rows));
    row_loss_.download(host_loss_.data(), rows, stream_);
    row_counted_.download(host_counted_.data(), rows, stream_);
    double sum = 0;
    int64_t count = 0;
    for (int i = 0; i < rows; ++i) {
      sum += double(host_loss_[size_t(i)]);
      count += host_counted_[size_t(i)];
    }
    *counted = count;
    return sum;
  }

  // The sampled item losses (ModelCore::losses' sampled branch): the step's shared negatives,
  // then in-batch ones drawn from the rows' targets exactly as the CPU draws them; per chunk of
  // rows one GEMM against the gathered candidate rows, the target logit per row, the loss and
  // logit gradients per row (sampled_loss_rows), and the gradient GEMMs. The candidates' and
  // targets' weight and bias gradients reach the table through embedding-gradient plans: fixed
  // order, no atomics, so deterministic like the rest of the backward.
  double sampled_item_loss(int rows, const LossOptions& loss, bool with_grad, int64_t* counted,
                           const T* weight, float* dweight) {
    const int C = config_.d_model;
    const ModelLayout& L = layout_;
    std::vector<int32_t>& candidates = candidates_.host;
    candidates.assign(loss.shared_negatives.begin(), loss.shared_negatives.end());
    for (int k = 0; k < loss.in_batch_negatives; ++k)
      candidates.push_back(
          host_row_target_[size_t(uniform_item(loss.negative_seed, uint64_t(k), rows + 1) - 1)]);
    const int M = int(candidates.size());
    candidates_.upload(stream_, with_grad);
    if (with_grad) {
      targets_.host.assign(host_row_target_.begin(), host_row_target_.begin() + rows);
      targets_.upload(stream_, /*with_plan=*/true);
    }
    if (loss.item_log_q && loss.item_log_q != uploaded_log_q_) {
      log_q_.upload(*loss.item_log_q, stream_);
      uploaded_log_q_ = loss.item_log_q;  // held, so its address cannot come back with new values
    }
    const float* log_q = loss.item_log_q ? log_q_.get() : nullptr;

    cand_weight_.reserve(int64_t(M) * C);
    cuda::gather_rows<T>(cand_weight_.get(), weight, candidates_.ids.get(), M, C, stream_);
    target_weight_.reserve(int64_t(rows) * C);
    cuda::gather_rows<T>(target_weight_.get(), weight, row_target_.get(), rows, C, stream_);
    row_loss_.reserve(rows);
    row_counted_.reserve(rows);
    if (with_grad) {
      dcand_weight_.reserve(int64_t(M) * C);
      dcand_weight_.zero(stream_, int64_t(M) * C);
      dcand_bias_.reserve(M);
      dcand_bias_.zero(stream_, M);
      dtarget_.reserve(rows);
      dtarget_rows_.reserve(int64_t(rows) * C);
    }
    const int chunk = int(std::clamp<int64_t>(kLogitsPerChunk / std::max(M, 1), 1, rows));
    logits_.reserve(int64_t(chunk) * M);
    dlogits_.reserve(int64_t(chunk) * M);
    const bool gbce = loss.item_kind == ItemLoss::kGbce;
    for (int r0 = 0; r0 < rows; r0 += chunk) {
      const int n = std::min(chunk, rows - r0);
      const T* hidden = gathered_.get() + int64_t(r0) * C;
      const T* target_weight = target_weight_.get() + int64_t(r0) * C;
      matmul_.forward<T, float>(logits_.get(), hidden, cand_weight_.get(), nullptr, n, C, M,
                                cuda::Epilogue::none, nullptr, stream_);
      cuda::sampled_loss_rows<T>(
          row_loss_.get() + r0, row_counted_.get() + r0, with_grad ? dlogits_.get() : nullptr,
          with_grad ? dtarget_.get() + r0 : nullptr, logits_.get(), hidden, target_weight,
          p(L.item_head_bias), log_q, candidates_.ids.get(), row_target_.get() + r0, n, M, C, gbce,
          float(loss.gbce_beta), loss.item_grad_scale, stream_);
      if (!with_grad) continue;
      matmul_.backward<T>(d_gathered_.get() + int64_t(r0) * C, dcand_weight_.get(),
                          dcand_bias_.get(), dlogits_.get(), hidden, cand_weight_.get(), n, C, M,
                          stream_);
      cuda::sampled_target_grads<T>(d_gathered_.get() + int64_t(r0) * C,
                                    dtarget_rows_.get() + int64_t(r0) * C, dtarget_.get() + r0,
                                    hidden, target_weight, n, C, stream_);
    }
    if (with_grad) {
      auto scatter = [&](DeviceChannel& ids, float* table_grad, const float* rows_grad, int width) {
        cuda::embedding_backward<float>(table_grad, ids.unique_ids.get(), ids.offsets.get(),
                                        ids.rows.get(), ids.unique, rows_grad, width, stream_);
      };
      scatter(candidates_, dweight, dcand_weight_.get(), C);
      scatter(candidates_, g(L.item_head_bias), dcand_bias_.get(), 1);
      scatter(targets_, dweight, dtarget_rows_.get(), C);
      scatter(targets_, g(L.item_head_bias), dtarget_.get(), 1);
    }
    return sum_row_losses(rows, counted);
  }

  void scatter_grad(int rows) {
    cuda::scatter_rows<T>(d_hidden_.get(), d_gathered_.get(), row_index_.get(), rows,
                          config_.d_model, /*add=*/true, stream_);
  }

  LossSums losses(const data::Batch& batch, const LossOptions& loss, bool with_grad) {
    const int C = config_.d_model;
    const ModelLayout& L = layout_;
    LossSums sums;
    if (with_grad) zero(d_hidden_, int64_t(rows_) * C);
    if (rows_ == 0) return sums;

    if (loss.item_loss) {
      const int rows = gather_targets(batch.target_item, with_grad);
      if (rows > 0) {
        // With item features on the output the head scores against the effective table
        // (weights + mean feature embeddings, built here); its gradient lands in d_output_table_
        // and is split between the head weights and the feature table afterwards.
        const bool output_features = features_on_output(config_.item_features);
        const T* weight = p(L.item_head_weight);
        float* dweight = g(L.item_head_weight);
        if (output_features) {
          const int64_t VC = int64_t(vocab_.items) * C;
          output_table_.reserve(VC);
          CF_CUDA_CHECK(cudaMemcpyAsync(output_table_.get(), weight, sizeof(T) * VC,
                                        cudaMemcpyDeviceToDevice, stream_));
          cuda::item_features_forward<T>(output_table_.get(), nullptr, feature_offsets_.get(),
                                         feature_ids_.get(), p(L.item_feature_emb), vocab_.items, C,
                                         stream_);
          weight = output_table_.get();
          if (with_grad) {
            d_output_table_.reserve(VC);
            d_output_table_.zero(stream_, VC);
            dweight = d_output_table_.get();
          }
        }
        sums.item =
            loss.sampled()
                ? sampled_item_loss(rows, loss, with_grad, &sums.item_count, weight, dweight)
                : softmax_xent(rows, weight, dweight, p(L.item_head_bias), g(L.item_head_bias),
                               vocab_.items, loss.item_grad_scale, with_grad, &sums.item_count);
        if (with_grad && output_features) {
          const int64_t VC = int64_t(vocab_.items) * C;
          cuda::residual_forward<float>(g(L.item_head_weight), g(L.item_head_weight),
                                        d_output_table_.get(), VC, stream_);
          item_features_backward(output_pairs_, d_output_table_.get());
        }
        if (with_grad) scatter_grad(rows);
      }
    }
    if (loss.action_loss) {
      const int rows = gather_targets(batch.target_action, with_grad);
      if (rows > 0) {
        sums.action = softmax_xent(rows, p(L.action_head.weight), g(L.action_head.weight),
                                   p(L.action_head.bias), g(L.action_head.bias), vocab_.actions,
                                   loss.action_grad_scale, with_grad, &sums.action_count);
        if (with_grad) scatter_grad(rows);
      }
    }
    if (loss.propensity_loss) sums.propensity = propensity_loss(batch, loss, with_grad, &sums);
    return sums;
  }

  // The propensity head is one dot product per sequence: its few rows go to the host and the
  // CPU ops compute logits, loss and gradients, which come back to the device.
  double propensity_loss(const data::Batch& batch, const LossOptions& loss, bool with_grad,
                         LossSums* sums) {
    const int C = config_.d_model;
    const LinearOffsets& head = layout_.propensity_head;
    host_row_index_.clear();
    std::vector<float> labels;
    for (int b = 0; b < batch.B; ++b) {
      if (batch.length[size_t(b)] <= 0 || !(batch.label[size_t(b)] >= 0.f)) continue;
      host_row_index_.push_back(sequence_start_[size_t(b)] + batch.length[size_t(b)] - 1);
      labels.push_back(batch.label[size_t(b)]);
    }
    const int rows = int(host_row_index_.size());
    if (rows == 0) return 0;
    row_index_.upload(host_row_index_.data(), rows, stream_);
    CF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    cuda::gather_rows<T>(gathered_.get(), hidden_.get(), row_index_.get(), rows, C, stream_);
    std::vector<T> device_rows(size_t(rows) * C);
    gathered_.download(device_rows.data(), int64_t(rows) * C, stream_);
    std::vector<float> x(device_rows.size()), w(size_t(C) + 1);
    for (size_t i = 0; i < x.size(); ++i) x[i] = to_host_float(device_rows[i]);
    master_.download(w.data(), C, stream_, head.weight);
    master_.download(w.data() + C, 1, stream_, head.bias);
    std::vector<float> logit(static_cast<size_t>(rows)), d_logit(static_cast<size_t>(rows), 0.f);
    ops::matmul_forward(logit.data(), x.data(), w.data(), w.data() + C, rows, C, 1);
    const double total =
        ops::bce_with_logits_forward_backward(d_logit.data(), &sums->propensity_count, logit.data(),
                                              labels.data(), rows, loss.propensity_grad_scale);
    if (with_grad) {
      std::vector<float> dx(x.size(), 0.f), dw(size_t(C) + 1, 0.f);
      ops::matmul_backward(dx.data(), dw.data(), dw.data() + C, d_logit.data(), x.data(), w.data(),
                           rows, C, 1);
      std::vector<T> dx_device(dx.size());
      for (size_t i = 0; i < dx.size(); ++i) dx_device[i] = from_host_float(dx[i]);
      d_gathered_.upload(dx_device.data(), int64_t(dx_device.size()), stream_);
      // Head gradients: add on the host to what the device holds (C + 1 values).
      std::vector<float> held(size_t(C) + 1);
      grads_.download(held.data(), C, stream_, head.weight);
      grads_.download(held.data() + C, 1, stream_, head.bias);
      for (size_t i = 0; i < held.size(); ++i) held[i] += dw[i];
      grads_.upload(held.data(), C, stream_, head.weight);
      grads_.upload(held.data() + C, 1, stream_, head.bias);
      scatter_grad(rows);
      CF_CUDA_CHECK(cudaStreamSynchronize(stream_));  // before the host vectors go
    }
    return total;
  }

  static float to_host_float(T x) {
    if constexpr (std::is_same_v<T, float>)
      return x;
    else
      return __bfloat162float(x);
  }
  static T from_host_float(float x) {
    if constexpr (std::is_same_v<T, float>)
      return x;
    else
      return __float2bfloat16(x);
  }

  // ---- backward (as ModelCore::backward) ------------------------------------------------------
  void backward(const data::Batch& batch, float dropout) {
    const int B = batch.B, Tlen = batch.T, C = config_.d_model;
    const int N = rows_;
    const int64_t NC = int64_t(N) * C;
    const ModelLayout& L = layout_;
    auto ready = [&](int64_t first_final) {
      if (grads_ready) grads_ready(first_final);
    };
    if (N == 0) return ready(0);

    zero(d_residual_, NC);
    cuda::layernorm_backward<T>(d_residual_.get(), g(L.ln_f.weight), g(L.ln_f.bias),
                                layernorm_scratch_.get(), d_hidden_.get(), residual_.back().get(),
                                p(L.ln_f.weight), hidden_mean_.get(), hidden_rstd_.get(), N, C,
                                stream_);
    for (int l = config_.n_layer - 1; l >= 0; --l) {
      const BlockOffsets& w = L.blocks[size_t(l)];
      BlockBuffers<T>& act = blocks_[size_t(l)];

      if (config_.block == BlockKind::kHstu) {
        hstu_block_backward(l, dropout, B, Tlen);
        continue;
      }
      // Down to d(attention sublayer output) in d_branch_, the rest of d_residual_ added.
      if (config_.block == BlockKind::kLigr)
        ligr_gates_and_ffn_backward(l, dropout, B);
      else
        gpt_mlp_backward(l, dropout, B);
      zero(d_ln_, NC);  // reused as d(attention output), packed
      matmul_.backward<T>(d_ln_.get(), g(w.proj.weight), g(w.proj.bias), d_branch_.get(),
                          act.att_out.get(), p(w.proj.weight), N, C, C, stream_);
      scatter_to_padded(d_padded_att_out_.get(), d_ln_.get(), C, B, Tlen);
      CF_CUDA_CHECK(
          cudaMemsetAsync(d_padded_qkv_.get(), 0, sizeof(T) * 3 * int64_t(B) * Tlen * C, stream_));
      attention_backward(act, B, Tlen);
      gather_from_padded(d_qkv_.get(), d_padded_qkv_.get(), 3 * C);
      zero(d_branch_, NC);  // reused as d(ln1 output)
      matmul_.backward<T>(d_branch_.get(), g(w.qkv.weight), g(w.qkv.bias), d_qkv_.get(),
                          act.ln1.get(), p(w.qkv.weight), N, C, 3 * C, stream_);
      cuda::layernorm_backward<T>(d_residual_.get(), g(w.ln1.weight), g(w.ln1.bias),
                                  layernorm_scratch_.get(), d_branch_.get(),
                                  residual_[size_t(l)].get(), p(w.ln1.weight), act.ln1_mean.get(),
                                  act.ln1_rstd.get(), N, C, stream_);
    }

    zero(d_branch_, NC);
    dropout_backward(d_branch_.get(), d_residual_.get(), dropout, 0, B);
    auto embed_backward = [&](DeviceChannel& ch, int64_t table) {
      if (table == kAbsent) return;
      cuda::embedding_backward<T>(g(table), ch.unique_ids.get(), ch.offsets.get(), ch.rows.get(),
                                  ch.unique, d_branch_.get(), C, stream_);
    };
    embed_backward(item_, L.item_emb);
    if (features_on_input(config_.item_features))
      item_features_backward(input_pairs_, d_branch_.get());
    embed_backward(action_, L.action_emb);
    embed_backward(category_, L.category_emb);
    embed_backward(time_gap_, L.time_gap_emb);
    embed_backward(activity_, L.activity_emb);
    embed_backward(position_, L.pos_emb);
    ready(0);
  }

  ModelConfig config_;
  data::VocabSizes vocab_;
  ModelLayout layout_;
  CudaModelOptions options_;
  OwnedStream owned_stream_;
  cudaStream_t stream_;
  cuda::MatmulLt matmul_;

  DeviceArray<float> master_, grads_, m_, v_;
  DeviceArray<T> compute_;  // bf16 only
  DeviceArray<double> partials_;
  DeviceArray<double> clipped_sum_;  // DP-SGD: the step's sum of clipped user gradients
  // DP-SGD: a user's gradient support in chunks (host copy and device copy) and their partial
  // sums of squares.
  struct HostAndDevice {
    std::vector<int64_t> host;
    DeviceArray<int64_t> device;
  };
  HostAndDevice chunk_begin_, chunk_end_;
  DeviceArray<double> chunk_partials_;

  int cap_B_ = 0, cap_T_ = 0, rows_ = 0;
  DeviceArray<T> encoded_, hidden_, dropout_out_, packed_qkv_, padded_att_out_;
  std::vector<DeviceArray<T>> residual_;
  std::vector<BlockBuffers<T>> blocks_;
  DeviceArray<float> hidden_mean_, hidden_rstd_;
  DeviceArray<T> d_padded_att_out_, d_padded_qkv_, d_residual_, d_hidden_, d_ln_, d_branch_;
  DeviceArray<T> d_qkv_, d_fc1_, d_gelu_, gathered_, d_gathered_;
  DeviceArray<T> d_gate_logit_, d_gate_up_;  // ligr
  DeviceArray<T> d_uvqk_, d_uvqk_linear_;    // hstu
  DeviceArray<float> hstu_dscores_;
  DeviceArray<int32_t> sequence_start_device_;
  std::vector<int32_t> host_sequence_start_;
  DeviceArray<float> attention_scratch_, layernorm_scratch_;
  bool tensor_cores_ = false;  // the flash kernel on tensor cores (bf16)
  // ZeRO-1 (shard_optimizer): m_, v_ and grad_shard_ cover [shard_begin_, shard_end_) only.
  bool sharded_ = false;
  int64_t shard_begin_ = 0, shard_end_ = 0;
  DeviceArray<float> grad_shard_;
  std::unique_ptr<cuda::CudnnAttention> cudnn_;  // cuda.attention: cudnn
  DeviceArray<float> logits_;
  DeviceArray<T> dlogits_;
  DeviceArray<float> row_loss_;
  DeviceArray<int32_t> row_counted_, packed_origin_, row_sequence_, row_index_, row_target_;
  DeviceArray<int32_t> lengths_;
  DeviceArray<uint64_t> dropout_seeds_;
  DeviceChannel item_, action_, category_, time_gap_, activity_, position_;
  // Sampled item losses: candidate and target ids with their gradient plans, the gathered
  // table rows, the fp32 gradient rows scattered into the table, the uploaded logQ table.
  DeviceChannel candidates_, targets_;
  DeviceArray<T> cand_weight_, target_weight_;
  DeviceArray<float> dcand_weight_, dcand_bias_, dtarget_, dtarget_rows_, log_q_;
  std::shared_ptr<const std::vector<float>> uploaded_log_q_;
  // model.item_features: the corpus's CSR table, the effective output table and its gradient,
  // and the (row, feature) pairs whose gradient rows are summed into the feature table.
  std::shared_ptr<const data::ItemFeatures> features_;
  DeviceArray<int32_t> feature_offsets_, feature_ids_;
  DeviceArray<T> output_table_;
  DeviceArray<float> d_output_table_, pair_grads_;
  FeaturePairs output_pairs_, input_pairs_;  // every item's (fixed); the batch's rows'

  std::vector<int> sequence_start_;
  std::vector<int32_t> host_origin_, host_row_sequence_, host_row_index_, host_row_target_;
  std::vector<uint64_t> host_seeds_;
  std::vector<float> host_loss_;
  std::vector<int32_t> host_counted_;
};

}  // namespace

CudaModel::CudaModel(const ModelConfig& config, const data::VocabSizes& vocab,
                     const CudaModelOptions& options) {
  if (options.bf16)
    impl_ = std::make_unique<CudaModelImpl<cuda::bf16>>(config, vocab, options);
  else
    impl_ = std::make_unique<CudaModelImpl<float>>(config, vocab, options);
}
CudaModel::~CudaModel() = default;

int64_t CudaModel::num_params() const { return impl_->num_params(); }
void CudaModel::upload_params(const std::vector<float>& host) { impl_->upload_params(host); }
void CudaModel::download_params(std::vector<float>& host) const { impl_->download_params(host); }
void CudaModel::zero_grads() { impl_->zero_grads(); }
void CudaModel::download_grads(std::vector<float>& host) const { impl_->download_grads(host); }
void CudaModel::upload_grads(const std::vector<float>& host) { impl_->upload_grads(host); }
float* CudaModel::device_grads() { return impl_->device_grads(); }
cudaStream_t CudaModel::stream() const { return impl_->stream(); }
void CudaModel::set_grads_ready_hook(std::function<void(int64_t)> hook) {
  impl_->grads_ready = std::move(hook);
}
LossSums CudaModel::forward_backward(const data::Batch& batch, const LossOptions& loss,
                                     uint64_t dropout_seed) {
  return impl_->forward_backward(batch, loss, dropout_seed);
}
LossSums CudaModel::evaluate_loss(const data::Batch& batch, const LossOptions& loss) {
  return impl_->evaluate_loss(batch, loss);
}
void CudaModel::upload_optimizer_state(const std::vector<float>& m, const std::vector<float>& v) {
  impl_->upload_optimizer_state(m, v);
}
void CudaModel::download_optimizer_state(std::vector<float>& m, std::vector<float>& v) const {
  impl_->download_optimizer_state(m, v);
}
double CudaModel::grad_sum_of_squares(const AdamW& optimizer) {
  return impl_->grad_sum_of_squares(optimizer);
}
double CudaModel::add_clipped_grads(double clip_norm, const std::vector<GradientRange>& support) {
  return impl_->add_clipped_grads(clip_norm, support);
}
void CudaModel::take_clipped_sum(std::vector<double>& host) { impl_->take_clipped_sum(host); }
void CudaModel::adamw_step(AdamW& optimizer, float lr, float grad_scale) {
  impl_->adamw_step(optimizer, lr, grad_scale);
}
void CudaModel::shard_optimizer(int64_t begin, int64_t end) { impl_->shard_optimizer(begin, end); }
float* CudaModel::device_params() { return impl_->device_params(); }
float* CudaModel::device_grad_shard() { return impl_->device_grad_shard(); }
void CudaModel::refresh_compute_copy() { impl_->refresh_compute_copy(); }

}  // namespace cf::trainer
