// ops: every numerical operation of the model, one function each, device-neutral signatures.
//
// The CPU implementations in kernels/cpu/ are the reference that later backends (kernels/cuda/)
// are tested against. Each op is a template over the float type and is instantiated for float
// (training) and double (finite-difference gradient tests).
//
// Conventions (as in llm.c):
//  - Row-major tensors; shapes in comments as [rows, cols].
//  - Linear layers store weight as [OC, C]: out = inp @ weight^T + bias.
//  - Every *_backward ACCUMULATES (+=) into all gradient outputs, inputs' gradients included,
//    so residual branches and shared parameters need no extra add. Callers zero grads first.
//  - Padding positions are described by `lengths` ([B], real positions per sequence, right-padded).
#pragma once
#include <cstdint>

namespace cf::ops {

// ---- embeddings -------------------------------------------------------------------------
// out[n, :] += table[ids[n], :] for n < N.
template <class T>
void embedding_forward(T* out, const int32_t* ids, const T* table, int N, int C);
// dtable[ids[n], :] += dout[n, :]; deterministic (fixed summation order).
template <class T>
void embedding_backward(T* dtable, const int32_t* ids, const T* dout, int N, int C);
// out[b, t, :] += pos[t, :]
template <class T>
void position_forward(T* out, const T* pos, int B, int Tlen, int C);
template <class T>
void position_backward(T* dpos, const T* dout, int B, int Tlen, int C);

// ---- layer norm -------------------------------------------------------------------------
// out = (inp - mean) * rstd * weight + bias per row; saves mean[N], rstd[N] for backward.
template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias,
                       int N, int C, T eps = T(1e-5));
template <class T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                        const T* mean, const T* rstd, int N, int C);

// ---- linear -----------------------------------------------------------------------------
// out[N, OC] = inp[N, C] @ weight[OC, C]^T + bias[OC] (bias may be null). BLAS on CPU.
template <class T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int N, int C, int OC);
// dinp += dout @ weight; dweight += dout^T @ inp; dbias += colsum(dout) (dbias may be null).
// On CPU dinp and dweight may also be null (frozen layers, first layer) and are then skipped.
template <class T>
void matmul_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     int N, int C, int OC);

// ---- activations / elementwise -----------------------------------------------------------
// GELU, tanh approximation.
template <class T>
void gelu_forward(T* out, const T* inp, int64_t n);
template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n);
// out = a + b
template <class T>
void residual_forward(T* out, const T* a, const T* b, int64_t n);
// x[0, n) = 0, split over the threads when large: gradient buffers are zeroed every step, and
// one thread's memset left the other idle for a few percent of a step.
template <class T>
void fill_zero(T* x, int64_t n);
// Inverted dropout with a counter-based RNG: element i is kept iff hash(seed, i) >= p, kept
// values scaled by 1/(1-p). The mask is a pure function of (seed, i), so backward recomputes it
// and resume / other backends reproduce it exactly. p == 0 copies.
template <class T>
void dropout_forward(T* out, const T* inp, float p, uint64_t seed, int64_t n);
template <class T>
void dropout_backward(T* dinp, const T* dout, float p, uint64_t seed, int64_t n);
// The uniform number in [0, 1) (a multiple of 2^-24) compared against p for element i:
// top 24 bits of mix(mix(seed) + i * 0x9E3779B97F4A7C15), mix = the splitmix64 finalizer.
// Exposed so tests and other backends reproduce the CPU mask exactly.
float dropout_uniform(uint64_t seed, int64_t i);

// ---- attention ---------------------------------------------------------------------------
// Causal multi-head softmax attention. qkv[B, T, 3C] holds q | k | v, each [NH heads x C/NH].
// Query t attends to keys s <= t with s < lengths[b] (key-padding mask); a query row with no
// visible key (t >= lengths[b] and lengths[b] == 0) outputs zeros. Scale 1/sqrt(head_dim).
// att[B, NH, T, T] stores the softmax probabilities for backward (the CPU reference keeps
// them; flash kernels recompute instead). out[B, T, C].
template <class T>
void attention_forward(T* out, T* att, const T* qkv, const int32_t* lengths, int B, int Tlen, int C,
                       int NH);
template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* att, const int32_t* lengths,
                        int B, int Tlen, int C, int NH);
// The same attention without the [B, NH, T, T] tensor, for long sequences: queries in tiles of
// kAttentionQueryTile rows, and per query row only its softmax statistics kept, stats[B, NH, T,
// 2] = (row maximum, 1 / sum of exponentials); backward computes each tile's probabilities
// again from them, to the bit. Memory per thread: two [tile, T] buffers.
inline constexpr int kAttentionQueryTile = 64;
// The form a model runs for a batch padded to Tlen positions: the stored one while the whole
// sequence is one query tile (its backward needs no second score product), the tiled one
// beyond, where it is also the faster (docs/benchmarks.md, "Attention, stored and tiled").
inline bool attention_is_tiled(double Tlen) { return Tlen > kAttentionQueryTile; }
template <class T>
void attention_forward_tiled(T* out, T* stats, const T* qkv, const int32_t* lengths, int B,
                             int Tlen, int C, int NH);
template <class T>
void attention_backward_tiled(T* dqkv, const T* dout, const T* qkv, const T* stats,
                              const int32_t* lengths, int B, int Tlen, int C, int NH);

// ---- ligr and hstu blocks (README.md "Blocks"; CUDA versions in kernels/cuda/cuda_ops.h) ----
// out = 1 / (1 + exp(-inp)).
template <class T>
void sigmoid_forward(T* out, const T* inp, int64_t n);
// SiLU (swish): out = inp * sigmoid(inp).
template <class T>
void silu_forward(T* out, const T* inp, int64_t n);
// dinp += dout * silu'(inp), silu'(x) = sigmoid(x) * (1 + x * (1 - sigmoid(x))).
template <class T>
void silu_backward(T* dinp, const T* inp, const T* dout, int64_t n);
// LiGR's gated residual add: out = x + gate * branch, gate already through the sigmoid.
template <class T>
void gated_residual_forward(T* out, const T* x, const T* gate, const T* branch, int64_t n);
// Gradients of it except the identity path to x (the caller's residual gradient is that):
// dgate_logit += dout * branch * gate * (1 - gate) (through the sigmoid), dbranch += dout * gate.
template <class T>
void gated_residual_backward(T* dgate_logit, T* dbranch, const T* dout, const T* gate,
                             const T* branch, int64_t n);
// SwiGLU over rows of gate_up[N, 2F] = [s | u] (the two projections side by side):
// out[N, F] = silu(s) * u.
template <class T>
void swiglu_forward(T* out, const T* gate_up, int N, int F);
template <class T>
void swiglu_backward(T* dgate_up, const T* gate_up, const T* dout, int N, int F);
// HSTU's output gating: out[N, C] = normed[N, C] * U, U = columns [0, C) of uvqk[N, 4C].
template <class T>
void hstu_gate_forward(T* out, const T* normed, const T* uvqk, int N, int C);
// dnormed += dout * U; dU (columns [0, C) of duvqk) += dout * normed.
template <class T>
void hstu_gate_backward(T* dnormed, T* duvqk, const T* dout, const T* normed, const T* uvqk, int N,
                        int C);
// HSTU pointwise attention on PACKED rows (no padding): uvqk[N, 4C] holds U | V | Q | K, already
// through SiLU; sequence b owns rows [sequence_start[b], sequence_start[b] + lengths[b]). Per
// head h (head dim C/NH), for query t and every key s <= t of the same sequence:
//   z = q_t . k_s + rel_pos_bias[h * bias_len + (t - s)],   out_t = sum_s silu(z) * inv_n * v_s
// No softmax and no 1/sqrt(d) scale (the paper's pointwise aggregation). Needs Tlen <= bias_len.
// scores[B, NH, T, T] keeps z for backward. out[N, C].
template <class T>
void hstu_attention_forward(T* out, T* scores, const T* uvqk, const T* rel_pos_bias, int bias_len,
                            const int32_t* sequence_start, const int32_t* lengths, int B, int Tlen,
                            int C, int NH, T inv_n);
// Accumulates into the V, Q, K columns of duvqk[N, 4C] (U untouched) and into
// drel_pos_bias[NH, bias_len] (summed over sequences in a fixed order: deterministic).
template <class T>
void hstu_attention_backward(T* duvqk, T* drel_pos_bias, const T* dout, const T* uvqk,
                             const T* scores, int bias_len, const int32_t* sequence_start,
                             const int32_t* lengths, int B, int Tlen, int C, int NH, T inv_n);

// ---- losses ------------------------------------------------------------------------------
// Full softmax cross-entropy of hidden[N, C] against an item table weight[V, C] (+ bias[V],
// may be null): logits = hidden @ weight^T + bias. Rows with targets[n] <= 0 are ignored.
// Computed in chunks of `chunk_rows` rows, so at most chunk_rows x V logits exist at once.
// Returns the SUM of -log p(target) over counted rows and writes how many were counted.
// If dhidden is non-null, accumulates gradients scaled by grad_scale (typically 1/global count)
// into dhidden, dweight and dbias (dbias may be null).
template <class T>
double softmax_xent_forward_backward(T* dhidden, T* dweight, T* dbias, int64_t* counted,
                                     const T* hidden, const T* weight, const T* bias,
                                     const int32_t* targets, int N, int C, int V, T grad_scale,
                                     int chunk_rows = 64);
// Sampled item losses with candidates shared by every row (sampled negatives of the step plus,
// optionally, in-batch targets). Row n scores its target and the M items candidates[0..M)
// (ids in [0, V); repeats allowed: sampling is with replacement); a candidate equal to the row's
// target is an accidental hit and is masked for that row. With item_log_q (length V, may be null)
// every logit, the target's included, is corrected to s - item_log_q[item] (logQ correction:
// item_log_q = log of the item's expected count among the candidates).
//   kSoftmax: -log softmax over {target} + candidates, at the target;
//   kGbce:    -gbce_beta * log sigmoid(s_target) - sum_j log(1 - sigmoid(s_j)) (gSASRec's
//             generalised BCE; gbce_beta = 1 is plain BCE with M negatives).
// Rows with targets[n] <= 0 are ignored. Returns the SUM of row losses; same accumulation
// contract as softmax_xent_forward_backward.
enum class SampledLoss { kSoftmax, kGbce };
template <class T>
double shared_candidates_loss_forward_backward(T* dhidden, T* dweight, T* dbias, int64_t* counted,
                                               const T* hidden, const T* weight, const T* bias,
                                               const int32_t* targets, int N, int C, int V,
                                               const int32_t* candidates, int M,
                                               const float* item_log_q, SampledLoss kind,
                                               double gbce_beta, T grad_scale);
// Binary cross-entropy on logits[N] with labels[N] in {0,1} (label < 0 ignored); returns the
// sum of losses; dlogits += grad_scale * (sigmoid(logit) - label).
template <class T>
double bce_with_logits_forward_backward(T* dlogits, int64_t* counted, const T* logits,
                                        const float* labels, int N, T grad_scale);

// ---- optimizer ---------------------------------------------------------------------------
// Sum of squares of x[0..n) in double (for the global gradient norm).
template <class T>
double sum_of_squares(const T* x, int64_t n);
// AdamW on a contiguous range: m, v fp32 state; decoupled weight decay (param -= lr*wd*param);
// `step` is 1-based for bias correction; grads are multiplied by grad_scale first (clipping).
void adamw_update(float* params, const float* grads, float* m, float* v, int64_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t step,
                  float grad_scale);

}  // namespace cf::ops
