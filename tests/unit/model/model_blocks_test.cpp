// The ligr and hstu blocks: each forward against a naive reference written here from the
// equations (README.md, "Blocks"), causality, padding, the KV-cached decoder, the tensor layout,
// and that the GPU refuses them.
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tiny_model_fixture.h"
#include "trainer/model/model.h"
#include "trainer/model/model_core.h"

namespace cf::trainer {

// Test names and failure messages show "ligr", not the enum's bytes (found by ADL, so outside
// the anonymous namespace).
void PrintTo(BlockKind kind, std::ostream* out) { *out << block_kind_name(kind); }

namespace {

using testing::ragged_batch;
using testing::tiny_batch;
using testing::tiny_config;
using testing::tiny_vocab;

using Vec = std::vector<double>;

ModelConfig config_for(BlockKind block) {
  ModelConfig c = tiny_config();
  c.block = block;
  return c;
}

// Weights of order one (LN gains near 1), so no term of the equations hides behind an init.
template <class T>
void randomize(ModelCore<T>& model, uint64_t seed) {
  model.init_weights(seed);
  SplitMix64 rng(seed * 7 + 3);
  for (const auto& t : model.layout().tensors) {
    const bool layer_norm_gain = !t.is_matrix_weight && !t.name.ends_with(".bias");
    T* w = model.params().data() + t.offset;
    for (int64_t i = 0; i < t.numel(); ++i)
      w[i] = static_cast<T>((layer_norm_gain ? 1.0 : 0.0) + 0.4 * rng.normal());
  }
}

// ---- the naive reference: one sequence, plain loops, weights looked up by name -------------

class NaiveModel {
 public:
  explicit NaiveModel(const ModelCore<double>& model) : model_(model), c_(model.config()) {}

  const double* weights(const std::string& name) const {
    return model_.params().data() + model_.tensor(name).offset;
  }

  // out = W x (+ b); W is [out, in] row-major, as every linear layer of the model stores it.
  Vec linear(const std::string& prefix, const Vec& x, int out, bool with_bias = true) const {
    const double* w = weights(prefix + ".weight");
    const double* b = with_bias ? weights(prefix + ".bias") : nullptr;
    Vec y(out);
    for (int o = 0; o < out; ++o) {
      double sum = b ? b[o] : 0.0;
      for (size_t i = 0; i < x.size(); ++i) sum += w[o * x.size() + i] * x[i];
      y[o] = sum;
    }
    return y;
  }

  Vec layer_norm(const std::string& prefix, const Vec& x) const {
    const double* w = weights(prefix + ".weight");
    const double* b = weights(prefix + ".bias");
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    for (double v : x) var += (v - mean) * (v - mean);
    var /= double(x.size());
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * w[i] + b[i];
    return y;
  }

  static double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }
  static double silu(double v) { return v * sigmoid(v); }

  // Final hidden states of row b of `batch` (its real positions only).
  std::vector<Vec> hidden(const data::Batch& batch, int b) const {
    const int C = c_.d_model, len = batch.length[b];
    std::vector<Vec> x(len, Vec(C, 0.0));
    for (int t = 0; t < len; ++t) {
      const int n = b * batch.T + t;
      const std::pair<const char*, int32_t> channels[] = {
          {"item_emb.weight", batch.item[n]},         {"action_emb.weight", batch.action[n]},
          {"category_emb.weight", batch.category[n]}, {"time_gap_emb.weight", batch.time_gap[n]},
          {"activity_emb.weight", batch.activity[n]}, {"pos_emb.weight", t}};
      for (const auto& [table, id] : channels)
        for (int i = 0; i < C; ++i) x[t][i] += weights(table)[int64_t(id) * C + i];
    }
    for (int l = 0; l < c_.n_layer; ++l) {
      const std::string p = "blocks." + std::to_string(l);
      x = c_.block == BlockKind::kLigr ? ligr_block(p, x) : hstu_block(p, x);
    }
    for (auto& row : x) row = layer_norm("ln_f", row);
    return x;
  }

 private:
  // Causal softmax attention with 1/sqrt(head dim), per head, then the output projection.
  std::vector<Vec> softmax_attention(const std::string& p, const std::vector<Vec>& h) const {
    const int C = c_.d_model, NH = c_.n_head, hd = C / NH, len = int(h.size());
    std::vector<Vec> qkv(len);
    for (int t = 0; t < len; ++t) qkv[t] = linear(p + ".attn.qkv", h[t], 3 * C);
    std::vector<Vec> out(len);
    for (int t = 0; t < len; ++t) {
      Vec att(C, 0.0);
      for (int head = 0; head < NH; ++head) {
        Vec score(t + 1);
        double max_score = -1e300, total = 0;
        for (int s = 0; s <= t; ++s) {
          double dot = 0;
          for (int i = 0; i < hd; ++i) dot += qkv[t][head * hd + i] * qkv[s][C + head * hd + i];
          score[s] = dot / std::sqrt(double(hd));
          max_score = std::max(max_score, score[s]);
        }
        for (int s = 0; s <= t; ++s) total += score[s] = std::exp(score[s] - max_score);
        for (int s = 0; s <= t; ++s)
          for (int i = 0; i < hd; ++i)
            att[head * hd + i] += score[s] / total * qkv[s][2 * C + head * hd + i];
      }
      out[t] = linear(p + ".attn.proj", att, C);
    }
    return out;
  }

  // m = x + sigmoid(Wa x + ba) * attn(ln1(x)); x' = m + sigmoid(Wm m + bm) * swiglu(ln2(m)).
  std::vector<Vec> ligr_block(const std::string& p, const std::vector<Vec>& x) const {
    const int C = c_.d_model, F = c_.d_ff, len = int(x.size());
    std::vector<Vec> h(len);
    for (int t = 0; t < len; ++t) h[t] = layer_norm(p + ".ln1", x[t]);
    const std::vector<Vec> att = softmax_attention(p, h);
    std::vector<Vec> out(len);
    for (int t = 0; t < len; ++t) {
      const Vec gate = linear(p + ".attn_gate", x[t], C);
      Vec m(C);
      for (int i = 0; i < C; ++i) m[i] = x[t][i] + sigmoid(gate[i]) * att[t][i];
      const Vec h2 = layer_norm(p + ".ln2", m);
      const Vec g = linear(p + ".mlp.w_gate", h2, F, false);
      const Vec u = linear(p + ".mlp.w_up", h2, F, false);
      Vec inner(F);
      for (int j = 0; j < F; ++j) inner[j] = silu(g[j]) * u[j];
      const Vec ffn = linear(p + ".mlp.w_down", inner, C, false);
      const Vec gate2 = linear(p + ".mlp_gate", m, C);
      out[t].resize(C);
      for (int i = 0; i < C; ++i) out[t][i] = m[i] + sigmoid(gate2[i]) * ffn[i];
    }
    return out;
  }

  // U,V,Q,K = split(silu(W1 ln1(x) + b1)); A[t,s] = silu(q_t.k_s + rab[h, t-s]) / max_len;
  // x' = x + W2 (av_norm(A V) * U) + b2.
  std::vector<Vec> hstu_block(const std::string& p, const std::vector<Vec>& x) const {
    const int C = c_.d_model, NH = c_.n_head, hd = C / NH, len = int(x.size());
    const double* rab = weights(p + ".hstu.rel_pos.bias");
    std::vector<Vec> uvqk(len);
    for (int t = 0; t < len; ++t) {
      uvqk[t] = linear(p + ".hstu.uvqk", layer_norm(p + ".ln1", x[t]), 4 * C);
      for (double& v : uvqk[t]) v = silu(v);
    }
    std::vector<Vec> out(len);
    for (int t = 0; t < len; ++t) {
      Vec av(C, 0.0);
      for (int head = 0; head < NH; ++head)
        for (int s = 0; s <= t; ++s) {
          double dot = 0;
          for (int i = 0; i < hd; ++i)
            dot += uvqk[t][2 * C + head * hd + i] * uvqk[s][3 * C + head * hd + i];
          const double a = silu(dot + rab[head * c_.max_len + (t - s)]) / c_.max_len;
          for (int i = 0; i < hd; ++i) av[head * hd + i] += a * uvqk[s][C + head * hd + i];
        }
      Vec gated = layer_norm(p + ".hstu.av_norm", av);
      for (int i = 0; i < C; ++i) gated[i] *= uvqk[t][i];
      const Vec y = linear(p + ".hstu.out", gated, C);
      out[t].resize(C);
      for (int i = 0; i < C; ++i) out[t][i] = x[t][i] + y[i];
    }
    return out;
  }

  const ModelCore<double>& model_;
  const ModelConfig& c_;
};

class BlockTest : public ::testing::TestWithParam<BlockKind> {};

TEST_P(BlockTest, ForwardMatchesNaiveReference) {
  ModelCore<double> model(config_for(GetParam()), tiny_vocab());
  randomize(model, 5);
  const data::Batch batch = tiny_batch(tiny_vocab());
  std::vector<double> hidden;
  model.hidden_states(batch, hidden);
  const NaiveModel naive(model);
  const int C = model.config().d_model;
  for (int b = 0; b < batch.B; ++b) {
    const std::vector<Vec> expected = naive.hidden(batch, b);
    for (int t = 0; t < batch.length[b]; ++t)
      for (int i = 0; i < C; ++i)
        ASSERT_NEAR(hidden[(size_t(b) * batch.T + t) * C + i], expected[t][i], 1e-10)
            << "row " << b << " position " << t << " dim " << i;
  }
}

TEST_P(BlockTest, FutureEventsDoNotChangeEarlierOutputs) {
  ModelCore<double> model(config_for(GetParam()), tiny_vocab());
  randomize(model, 6);
  const data::VocabSizes v = tiny_vocab();
  const data::Batch batch = ragged_batch(v, 5, {5, 4}, {-1.f, -1.f}, 12);
  const int changed_position = 3;
  data::Batch altered = batch;
  for (int b = 0; b < batch.B; ++b) {
    const size_t n = size_t(b) * batch.T + changed_position;
    altered.item[n] = 1 + altered.item[n] % (v.items - 1);  // another real item
    altered.action[n] = 1 + altered.action[n] % (v.actions - 1);
  }
  std::vector<double> before, after;
  model.hidden_states(batch, before);
  model.hidden_states(altered, after);
  const int C = model.config().d_model;
  for (int b = 0; b < batch.B; ++b)
    for (int t = 0; t < batch.length[b]; ++t) {
      double difference = 0;
      for (int i = 0; i < C; ++i) {
        const size_t k = (size_t(b) * batch.T + t) * C + i;
        difference = std::max(difference, std::abs(before[k] - after[k]));
      }
      if (t < changed_position)
        EXPECT_EQ(difference, 0.0) << "row " << b << " position " << t << " saw the future";
      else
        EXPECT_GT(difference, 1e-6) << "row " << b << " position " << t << " ignored its past";
    }
}

TEST_P(BlockTest, PaddingChangesNothing) {
  ModelCore<double> model(config_for(GetParam()), tiny_vocab());
  randomize(model, 7);
  const data::VocabSizes v = tiny_vocab();
  const data::Batch batch = ragged_batch(v, 4, {4, 2}, {-1.f, -1.f}, 13);
  // The same sequences, padded further and with garbage in the padding.
  data::Batch wider = ragged_batch(v, 6, {4, 2}, {-1.f, -1.f}, 99);
  for (int b = 0; b < batch.B; ++b)
    for (int t = 0; t < batch.length[b]; ++t) {
      const size_t from = size_t(b) * batch.T + t, to = size_t(b) * wider.T + t;
      wider.item[to] = batch.item[from];
      wider.action[to] = batch.action[from];
      wider.category[to] = batch.category[from];
      wider.time_gap[to] = batch.time_gap[from];
      wider.activity[to] = batch.activity[from];
    }
  for (int b = 0; b < wider.B; ++b)
    for (int t = wider.length[b]; t < wider.T; ++t) wider.item[size_t(b) * wider.T + t] = 3;
  std::vector<double> narrow_hidden, wide_hidden;
  model.hidden_states(batch, narrow_hidden);
  model.hidden_states(wider, wide_hidden);
  const int C = model.config().d_model;
  for (int b = 0; b < batch.B; ++b)
    for (int t = 0; t < batch.length[b]; ++t)
      for (int i = 0; i < C; ++i)
        ASSERT_NEAR(narrow_hidden[(size_t(b) * batch.T + t) * C + i],
                    wide_hidden[(size_t(b) * wider.T + t) * C + i], 1e-12);
}

TEST_P(BlockTest, DecoderMatchesFullForward) {
  Model model(config_for(GetParam()), tiny_vocab());
  model.init_weights(31);
  SplitMix64 rng(31);
  for (float& w : model.params()) w += static_cast<float>(0.3 * rng.normal());
  testing::expect_decoder_matches_full_forward(model, 8);
}

INSTANTIATE_TEST_SUITE_P(Blocks, BlockTest, ::testing::Values(BlockKind::kLigr, BlockKind::kHstu),
                         [](const ::testing::TestParamInfo<BlockKind>& info) {
                           return std::string(block_kind_name(info.param));
                         });

std::vector<std::string> block_tensor_names(const ModelCore<double>& model, int block) {
  std::vector<std::string> names;
  for (const auto& t : model.layout().tensors)
    if (t.block == block) names.push_back(t.name);
  return names;
}

TEST(BlockLayout, NamesAndShapes) {
  const data::VocabSizes v = tiny_vocab();
  const ModelCore<double> gpt(config_for(BlockKind::kGpt), v);
  EXPECT_EQ(block_tensor_names(gpt, 1),
            (std::vector<std::string>{"blocks.1.ln1.weight", "blocks.1.ln1.bias",
                                      "blocks.1.attn.qkv.weight", "blocks.1.attn.qkv.bias",
                                      "blocks.1.attn.proj.weight", "blocks.1.attn.proj.bias",
                                      "blocks.1.ln2.weight", "blocks.1.ln2.bias",
                                      "blocks.1.mlp.fc1.weight", "blocks.1.mlp.fc1.bias",
                                      "blocks.1.mlp.fc2.weight", "blocks.1.mlp.fc2.bias"}));

  const ModelCore<double> ligr(config_for(BlockKind::kLigr), v);
  EXPECT_EQ(block_tensor_names(ligr, 0),
            (std::vector<std::string>{
                "blocks.0.ln1.weight", "blocks.0.ln1.bias", "blocks.0.attn.qkv.weight",
                "blocks.0.attn.qkv.bias", "blocks.0.attn.proj.weight", "blocks.0.attn.proj.bias",
                "blocks.0.attn_gate.weight", "blocks.0.attn_gate.bias", "blocks.0.ln2.weight",
                "blocks.0.ln2.bias", "blocks.0.mlp.w_gate.weight", "blocks.0.mlp.w_up.weight",
                "blocks.0.mlp.w_down.weight", "blocks.0.mlp_gate.weight",
                "blocks.0.mlp_gate.bias"}));
  EXPECT_EQ(ligr.tensor("blocks.0.attn_gate.weight").shape, (std::vector<int64_t>{8, 8}));
  EXPECT_EQ(ligr.tensor("blocks.0.mlp.w_down.weight").shape, (std::vector<int64_t>{8, 16}));
  // The fused gate|up GEMM relies on w_up following w_gate directly.
  EXPECT_EQ(ligr.tensor("blocks.0.mlp.w_up.weight").offset,
            ligr.tensor("blocks.0.mlp.w_gate.weight").offset + 16 * 8);

  const ModelCore<double> hstu(config_for(BlockKind::kHstu), v);
  EXPECT_EQ(block_tensor_names(hstu, 0),
            (std::vector<std::string>{"blocks.0.ln1.weight", "blocks.0.ln1.bias",
                                      "blocks.0.hstu.uvqk.weight", "blocks.0.hstu.uvqk.bias",
                                      "blocks.0.hstu.rel_pos.bias", "blocks.0.hstu.av_norm.weight",
                                      "blocks.0.hstu.av_norm.bias", "blocks.0.hstu.out.weight",
                                      "blocks.0.hstu.out.bias"}));
  EXPECT_EQ(hstu.tensor("blocks.0.hstu.uvqk.weight").shape, (std::vector<int64_t>{32, 8}));
  EXPECT_EQ(hstu.tensor("blocks.0.hstu.rel_pos.bias").shape, (std::vector<int64_t>{2, 6}));
  EXPECT_FALSE(hstu.tensor("blocks.0.hstu.rel_pos.bias").is_matrix_weight);  // no weight decay
}

TEST(BlockLayout, InitOpensGatesHalfWayAndStartsWithoutPositionPreference) {
  ModelCore<double> ligr(config_for(BlockKind::kLigr), tiny_vocab());
  ligr.init_weights(1);
  const ParamTensor& gate_bias = ligr.tensor("blocks.0.attn_gate.bias");
  for (int64_t i = 0; i < gate_bias.numel(); ++i)
    EXPECT_EQ(ligr.params()[size_t(gate_bias.offset + i)], 0.0);  // sigmoid(~0) = 0.5
  ModelCore<double> hstu(config_for(BlockKind::kHstu), tiny_vocab());
  hstu.init_weights(1);
  const ParamTensor& rab = hstu.tensor("blocks.1.hstu.rel_pos.bias");
  for (int64_t i = 0; i < rab.numel(); ++i) EXPECT_EQ(hstu.params()[size_t(rab.offset + i)], 0.0);
  const ParamTensor& norm = hstu.tensor("blocks.1.hstu.av_norm.weight");
  EXPECT_EQ(hstu.params()[size_t(norm.offset)], 1.0);
}

TEST(BlockLayout, FlopsCountTheBlocksOwnWeights) {
  const data::VocabSizes v = tiny_vocab();
  ModelConfig gpt = config_for(BlockKind::kGpt), ligr = config_for(BlockKind::kLigr),
              hstu = config_for(BlockKind::kHstu);
  const double C = 8, F = 16;
  const double heads = ModelCore<double>(gpt, v).flops_per_token(5) - 3 * 2 * 2 *
                                                                         (4 * C * C + 2 * C * F);
  EXPECT_DOUBLE_EQ(ModelCore<double>(ligr, v).flops_per_token(5),
                   heads + 3 * 2 * 2 * (6 * C * C + 3 * C * F));
  EXPECT_DOUBLE_EQ(ModelCore<double>(hstu, v).flops_per_token(5), heads + 3 * 2 * 2 * (5 * C * C));
}

}  // namespace
}  // namespace cf::trainer
