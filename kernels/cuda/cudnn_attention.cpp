#include "kernels/cuda/cudnn_attention.h"

#include <cmath>
#include <string>

#include "core/error.h"

#if CARTFORMER_HAVE_CUDNN
#include <cudnn.h>
#include <cudnn_frontend.h>

#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_array.h"
#endif

namespace cf::cuda {

#if CARTFORMER_HAVE_CUDNN

namespace fe = cudnn_frontend;

namespace {

// Tensor ids in the graphs' variant packs.
enum Uid : int64_t { kQ = 1, kK, kV, kO, kStats, kSeqQ, kSeqKV, kDO, kDQ, kDK, kDV };

void check_cudnn(cudnnStatus_t status, const char* what) {
  CF_CHECK(status == CUDNN_STATUS_SUCCESS,
           std::string("cuDNN: ") + what + ": " + cudnnGetErrorString(status));
}

void check_frontend(fe::error_t status, const std::string& what) {
  if (status.is_good()) return;
  throw UserError("cuDNN fused attention: " + what + ": " + status.get_message() +
                  "; set cuda.attention: flash");
}

struct Graph {
  std::shared_ptr<fe::graph::Graph> graph;
  DeviceArray<char> workspace;
};

}  // namespace

struct CudnnAttention::Impl {
  int C, NH, HS;
  cudnnHandle_t handle = nullptr;
  // (B, T) -> graph; backward also keyed by `deterministic`.
  std::map<std::pair<int, int>, Graph> forward_graphs;
  std::map<std::tuple<int, int, bool>, Graph> backward_graphs;

  // Dims and strides of one of q, k, v in qkv [B, T, 3C] (or dq, dk, dv in dqkv), as cuDNN's
  // [B, H, S, D], and of out / dout [B, T, C].
  std::vector<int64_t> dims(int B, int Tlen) const { return {B, NH, Tlen, HS}; }
  std::vector<int64_t> qkv_strides(int Tlen) const {
    return {int64_t(Tlen) * 3 * C, HS, 3 * int64_t(C), 1};
  }
  std::vector<int64_t> out_strides(int Tlen) const { return {int64_t(Tlen) * C, HS, C, 1}; }

  std::shared_ptr<fe::graph::Graph> new_graph() const {
    auto graph = std::make_shared<fe::graph::Graph>();
    graph->set_io_data_type(fe::DataType_t::BFLOAT16)
        .set_intermediate_data_type(fe::DataType_t::FLOAT)
        .set_compute_data_type(fe::DataType_t::FLOAT);
    return graph;
  }
  static std::shared_ptr<fe::graph::Tensor_attributes> input(fe::graph::Graph& graph,
                                                             const char* name, int64_t uid,
                                                             std::vector<int64_t> dim,
                                                             std::vector<int64_t> stride) {
    return graph.tensor(fe::graph::Tensor_attributes()
                            .set_name(name)
                            .set_uid(uid)
                            .set_dim(std::move(dim))
                            .set_stride(std::move(stride)));
  }
  static std::shared_ptr<fe::graph::Tensor_attributes> lengths_tensor(fe::graph::Graph& graph,
                                                                      const char* name, int64_t uid,
                                                                      int B) {
    return graph.tensor(fe::graph::Tensor_attributes()
                            .set_name(name)
                            .set_uid(uid)
                            .set_dim({B, 1, 1, 1})
                            .set_stride({1, 1, 1, 1})
                            .set_data_type(fe::DataType_t::INT32));
  }
  std::vector<int64_t> stats_dims(int B, int Tlen) const { return {B, NH, Tlen, 1}; }
  std::vector<int64_t> stats_strides(int Tlen) const { return {int64_t(NH) * Tlen, Tlen, 1, 1}; }

  Graph finish(std::shared_ptr<fe::graph::Graph> graph, const std::string& what) {
    check_frontend(graph->build(handle, {fe::HeurMode_t::A}), what);
    int64_t bytes = 0;
    check_frontend(graph->get_workspace_size(bytes), what + " (workspace size)");
    Graph built{std::move(graph), {}};
    built.workspace.resize(bytes > 0 ? bytes : 1);
    return built;
  }

  Graph& forward_graph(int B, int Tlen) {
    const auto key = std::make_pair(B, Tlen);
    if (auto it = forward_graphs.find(key); it != forward_graphs.end()) return it->second;
    auto graph = new_graph();
    auto q = input(*graph, "q", kQ, dims(B, Tlen), qkv_strides(Tlen));
    auto k = input(*graph, "k", kK, dims(B, Tlen), qkv_strides(Tlen));
    auto v = input(*graph, "v", kV, dims(B, Tlen), qkv_strides(Tlen));
    auto options = fe::graph::SDPA_attributes()
                       .set_name("attention")
                       .set_generate_stats(true)
                       .set_diagonal_alignment(fe::DiagonalAlignment_t::TOP_LEFT)
                       .set_diagonal_band_right_bound(0)  // causal: key <= query
                       .set_attn_scale(1.0f / std::sqrt(float(HS)))
                       .set_padding_mask(true)
                       .set_seq_len_q(lengths_tensor(*graph, "seq_len_q", kSeqQ, B))
                       .set_seq_len_kv(lengths_tensor(*graph, "seq_len_kv", kSeqKV, B));
    auto [o, stats] = graph->sdpa(q, k, v, options);
    o->set_output(true).set_uid(kO).set_dim(dims(B, Tlen)).set_stride(out_strides(Tlen));
    stats->set_output(true)
        .set_uid(kStats)
        .set_data_type(fe::DataType_t::FLOAT)
        .set_dim(stats_dims(B, Tlen))
        .set_stride(stats_strides(Tlen));
    return forward_graphs
        .emplace(key, finish(std::move(graph), "forward graph for B " + std::to_string(B) + ", T " +
                                                   std::to_string(Tlen)))
        .first->second;
  }

  Graph& backward_graph(int B, int Tlen, bool deterministic) {
    const auto key = std::make_tuple(B, Tlen, deterministic);
    if (auto it = backward_graphs.find(key); it != backward_graphs.end()) return it->second;
    auto graph = new_graph();
    auto q = input(*graph, "q", kQ, dims(B, Tlen), qkv_strides(Tlen));
    auto k = input(*graph, "k", kK, dims(B, Tlen), qkv_strides(Tlen));
    auto v = input(*graph, "v", kV, dims(B, Tlen), qkv_strides(Tlen));
    auto o = input(*graph, "o", kO, dims(B, Tlen), out_strides(Tlen));
    auto d_o = input(*graph, "do", kDO, dims(B, Tlen), out_strides(Tlen));
    auto stats = graph->tensor(fe::graph::Tensor_attributes()
                                   .set_name("stats")
                                   .set_uid(kStats)
                                   .set_dim(stats_dims(B, Tlen))
                                   .set_stride(stats_strides(Tlen))
                                   .set_data_type(fe::DataType_t::FLOAT));
    auto options = fe::graph::SDPA_backward_attributes()
                       .set_name("attention_backward")
                       .set_diagonal_alignment(fe::DiagonalAlignment_t::TOP_LEFT)
                       .set_diagonal_band_right_bound(0)  // causal: key <= query
                       .set_attn_scale(1.0f / std::sqrt(float(HS)))
                       .set_padding_mask(true)
                       .set_seq_len_q(lengths_tensor(*graph, "seq_len_q", kSeqQ, B))
                       .set_seq_len_kv(lengths_tensor(*graph, "seq_len_kv", kSeqKV, B))
                       .set_deterministic_algorithm(deterministic);
    auto [dq, dk, dv] = graph->sdpa_backward(q, k, v, o, d_o, stats, options);
    dq->set_output(true).set_uid(kDQ).set_dim(dims(B, Tlen)).set_stride(qkv_strides(Tlen));
    dk->set_output(true).set_uid(kDK).set_dim(dims(B, Tlen)).set_stride(qkv_strides(Tlen));
    dv->set_output(true).set_uid(kDV).set_dim(dims(B, Tlen)).set_stride(qkv_strides(Tlen));
    return backward_graphs
        .emplace(key, finish(std::move(graph), "backward graph for B " + std::to_string(B) +
                                                   ", T " + std::to_string(Tlen)))
        .first->second;
  }
};

bool cudnn_attention_built() { return true; }

CudnnAttention::CudnnAttention(int C, int NH) : impl_(std::make_unique<Impl>()) {
  CF_CHECK(NH > 0 && C % NH == 0, "cuDNN attention: C must be a multiple of NH");
  const int hs = C / NH;
  if (hs % 8 != 0 || hs > 128)
    throw UserError(
        "cuDNN fused attention needs a head dim (d_model / n_head) that is a multiple "
        "of 8 and at most 128, this model has " +
        std::to_string(hs) + "; set cuda.attention: flash");
  impl_->C = C;
  impl_->NH = NH;
  impl_->HS = hs;
  check_cudnn(cudnnCreate(&impl_->handle), "cudnnCreate");
}

CudnnAttention::~CudnnAttention() {
  if (impl_ && impl_->handle) cudnnDestroy(impl_->handle);
}

void CudnnAttention::forward(bf16* out, float* lse, const bf16* qkv, const int32_t* lengths, int B,
                             int Tlen, cudaStream_t stream) {
  if (B <= 0 || Tlen <= 0) return;
  check_cudnn(cudnnSetStream(impl_->handle, stream), "cudnnSetStream");
  Graph& g = impl_->forward_graph(B, Tlen);
  auto* base = const_cast<bf16*>(qkv);
  auto* seq = const_cast<int32_t*>(lengths);
  std::unordered_map<int64_t, void*> pack = {
      {kQ, base},   {kK, base + impl_->C}, {kV, base + 2 * impl_->C}, {kO, out}, {kStats, lse},
      {kSeqQ, seq}, {kSeqKV, seq}};
  check_frontend(g.graph->execute(impl_->handle, pack, g.workspace.get()), "forward");
}

void CudnnAttention::backward(bf16* dqkv, const bf16* dout, const bf16* out, const bf16* qkv,
                              const float* lse, const int32_t* lengths, int B, int Tlen,
                              bool deterministic, cudaStream_t stream) {
  if (B <= 0 || Tlen <= 0) return;
  check_cudnn(cudnnSetStream(impl_->handle, stream), "cudnnSetStream");
  Graph& g = impl_->backward_graph(B, Tlen, deterministic);
  auto* base = const_cast<bf16*>(qkv);
  auto* seq = const_cast<int32_t*>(lengths);
  const int C = impl_->C;
  std::unordered_map<int64_t, void*> pack = {{kQ, base},
                                             {kK, base + C},
                                             {kV, base + 2 * C},
                                             {kO, const_cast<bf16*>(out)},
                                             {kDO, const_cast<bf16*>(dout)},
                                             {kStats, const_cast<float*>(lse)},
                                             {kSeqQ, seq},
                                             {kSeqKV, seq},
                                             {kDQ, dqkv},
                                             {kDK, dqkv + C},
                                             {kDV, dqkv + 2 * C}};
  check_frontend(g.graph->execute(impl_->handle, pack, g.workspace.get()), "backward");
}

#else  // no cuDNN in this build

struct CudnnAttention::Impl {};

bool cudnn_attention_built() { return false; }

CudnnAttention::CudnnAttention(int, int) {
  throw UserError(
      "cuda.attention: cudnn needs a build with cuDNN 9 and the cudnn_frontend headers "
      "(tools/setup.sh fetches the headers; reconfigure), this one has neither; set "
      "cuda.attention: flash");
}
CudnnAttention::~CudnnAttention() = default;
void CudnnAttention::forward(bf16*, float*, const bf16*, const int32_t*, int, int, cudaStream_t) {}
void CudnnAttention::backward(bf16*, const bf16*, const bf16*, const bf16*, const float*,
                              const int32_t*, int, int, bool, cudaStream_t) {}

#endif

}  // namespace cf::cuda
