// cuda_ops: the CUDA implementations of kernels/ops.h, on device pointers and a stream.
//
// The CPU ops in kernels/cpu/ are the reference; tests/cuda/ checks every function here against
// them. Differences from the CPU contract, all forced by mixed precision:
//  - Activations (and the compute copy of the weights they meet) are T = float or __nv_bfloat16;
//    every sum accumulates in fp32. Parameter GRADIENTS are always fp32 (they are all-reduced
//    and fed to the fp32 AdamW master weights); activation gradients are T.
//  - LayerNorm statistics (mean, rstd) and the attention log-sum-exp are fp32.
//  - Loss values come back per row into a device buffer; callers sum them on the host in a
//    fixed order (deterministic, and double precision like the CPU path).
// As on the CPU, every *_backward ACCUMULATES (+=) into its gradient outputs.
// All launches are asynchronous on `stream`; nothing here synchronises unless it says so.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace cf::cuda {

using bf16 = __nv_bfloat16;

// ---- conversions --------------------------------------------------------------------------
template <class To, class From>
void convert(To* out, const From* inp, int64_t n, cudaStream_t stream);

// ---- embeddings ---------------------------------------------------------------------------
// out[n, :] += table[ids[n], :]
template <class T>
void embedding_forward(T* out, const int32_t* ids, const T* table, int N, int C,
                       cudaStream_t stream);
// dtable[ids[n], :] += dout[n, :], deterministically: rows grouped by id on the host
// (embedding_grad_plan.h) so each table row is summed by one thread block in ascending n.
// unique_ids[U], offsets[U + 1] and rows[N] are device copies of an EmbeddingGradPlan.
template <class T>
void embedding_backward(float* dtable, const int32_t* unique_ids, const int32_t* offsets,
                        const int32_t* rows, int U, const T* dout, int C, cudaStream_t stream);

// model.item_features: out[n, :] += mean of table[ids[k], :] over k in [offsets[i], offsets[i+1])
// with i = items[n] (i = n when items is null: a whole item table). No item features: nothing.
template <class T>
void item_features_forward(T* out, const int32_t* items, const int32_t* offsets, const int32_t* ids,
                           const T* table, int N, int C, cudaStream_t stream);
// out[p, :] = weights[p] * inp[rows[p], :] (fp32 [P, C]): the per-(row, feature) gradient rows
// that embedding_backward then sums per feature in a fixed order.
template <class T>
void weighted_gather_rows(float* out, const T* inp, const int32_t* rows, const float* weights,
                          int P, int C, cudaStream_t stream);

// ---- layer norm (fused with the residual add) ---------------------------------------------
// With b: residual = a + b (stored, rounded to T), then out = LayerNorm(residual) * weight +
// bias. Without b (null): out = LayerNorm(a) * weight + bias, and `residual` is neither read
// nor written (pass null). mean/rstd: fp32 [N], of the normalised input as stored.
template <class T>
void residual_layernorm_forward(T* residual, T* out, float* mean, float* rstd, const T* a,
                                const T* b, const T* weight, const T* bias, int N, int C,
                                cudaStream_t stream, float eps = 1e-5f);
// dinp += d LayerNorm / d inp; dweight, dbias (fp32) += their gradients, summed over rows in a
// fixed order through `scratch` (layernorm_backward_scratch_floats(N, C) floats; its contents
// need no clearing: every scratch buffer here is written before it is read).
int64_t layernorm_backward_scratch_floats(int N, int C);
template <class T>
void layernorm_backward(T* dinp, float* dweight, float* dbias, float* scratch, const T* dout,
                        const T* inp, const T* weight, const float* mean, const float* rstd, int N,
                        int C, cudaStream_t stream);

// ---- elementwise --------------------------------------------------------------------------
// ---- LiGR block (ops:: equivalents in kernels/ops.h) -------------------------------------
// out = sigmoid(inp) (may alias).
template <class T>
void sigmoid_forward(T* out, const T* inp, int64_t n, cudaStream_t stream);
// out = x + gate * branch (gate already through the sigmoid).
template <class T>
void gated_residual_forward(T* out, const T* x, const T* gate, const T* branch, int64_t n,
                            cudaStream_t stream);
// dgate_logit += dout * branch * gate * (1 - gate); dbranch += dout * gate.
template <class T>
void gated_residual_backward(T* dgate_logit, T* dbranch, const T* dout, const T* gate,
                             const T* branch, int64_t n, cudaStream_t stream);
// gate_up rows are [gate (F) | up (F)]: out[n, j] = silu(gate) * up.
template <class T>
void swiglu_forward(T* out, const T* gate_up, int N, int F, cudaStream_t stream);
// dgate_up += the gradients of both halves.
template <class T>
void swiglu_backward(T* dgate_up, const T* gate_up, const T* dout, int N, int F,
                     cudaStream_t stream);

template <class T>
void gelu_forward(T* out, const T* inp, int64_t n, cudaStream_t stream);
template <class T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n, cudaStream_t stream);
template <class T>
void residual_forward(T* out, const T* a, const T* b, int64_t n, cudaStream_t stream);
// The mask of ops::dropout_forward exactly (same counter hash, kernels/dropout_mask.h):
// element i of the stream `seed` is element i here too. out may equal inp.
template <class T>
void dropout_forward(T* out, const T* inp, float p, uint64_t seed, int64_t n, cudaStream_t stream);
template <class T>
void dropout_backward(T* dinp, const T* dout, float p, uint64_t seed, int64_t n,
                      cudaStream_t stream);
// dbias[c] += sum_n dout[n, c] in a fixed order (the bias gradient of a linear layer).
template <class T>
void column_sums(float* dbias, const T* dout, int N, int C, cudaStream_t stream);

// ---- row movement (packed rows <-> padded layout, loss-head rows) ---------------------------
// out[r, :] = inp[index[r], :] for r < rows.
template <class T>
void gather_rows(T* out, const T* inp, const int32_t* index, int rows, int width,
                 cudaStream_t stream);
// out[index[r], :] = inp[r, :] (add = false) or += (add = true); index values distinct.
template <class T>
void scatter_rows(T* out, const T* inp, const int32_t* index, int rows, int width, bool add,
                  cudaStream_t stream);
// Dropout over packed rows with one mask stream per sequence, as trainer/model/model_core.cpp draws
// it on the CPU: row r belongs to sequence row_sequence[r] at position row_position[r], and its
// element c is element row_position[r] * width + c of the stream whose mixed seed
// (ops::mix64 of the sequence's seed) is mixed_seeds[row_sequence[r]]. p <= 0 copies (forward)
// or adds (backward).
template <class T>
void dropout_rows_forward(T* out, const T* inp, float p, const uint64_t* mixed_seeds,
                          const int32_t* row_sequence, const int32_t* row_position, int rows,
                          int width, cudaStream_t stream);
template <class T>
void dropout_rows_backward(T* dinp, const T* dout, float p, const uint64_t* mixed_seeds,
                           const int32_t* row_sequence, const int32_t* row_position, int rows,
                           int width, cudaStream_t stream);

// ---- attention ----------------------------------------------------------------------------
// Layout and masking as ops::attention_forward: qkv [B, T, 3C], out [B, T, C], query t sees
// keys s <= t with s < lengths[b] (device array). Scale 1/sqrt(C/NH).
//
// Flash attention: tiled, online softmax, no T x T matrix. Head dims 32, 64 and 128.
// lse [B, NH, T] (fp32) keeps each query row's natural-log log-sum-exp of the scaled scores
// for backward; -inf for a row with no visible key (length 0). Every row is written.
bool flash_attention_supports(int head_dim);
template <class T>
void flash_attention_forward(T* out, float* lse, const T* qkv, const int32_t* lengths, int B,
                             int Tlen, int C, int NH, cudaStream_t stream);
// Scratch for backward: flash_attention_backward_scratch_floats(B, T, C, NH) floats.
// deterministic = true computes dq in its own query-major pass (fixed summation order);
// false accumulates dq with atomics from the key-major pass (faster, run-to-run noise).
int64_t flash_attention_backward_scratch_floats(int B, int Tlen, int C, int NH);
template <class T>
void flash_attention_backward(T* dqkv, float* scratch, const T* dout, const T* out, const T* qkv,
                              const float* lse, const int32_t* lengths, int B, int Tlen, int C,
                              int NH, bool deterministic, cudaStream_t stream);

// Tensor-core flash attention (flash_attention_mma.cu): the same contract as above in bf16, with
// the tile products on the MMA units (mma.sync, compute capability 8.0 and newer). Backward is
// always deterministic (a key-major and a query-major pass, no atomics). qkv and dout must be
// 16-byte aligned.
bool tensor_core_flash_attention_available(int compute_major);
void tensor_core_flash_attention_forward(bf16* out, float* lse, const bf16* qkv,
                                         const int32_t* lengths, int B, int Tlen, int C, int NH,
                                         cudaStream_t stream);
int64_t tensor_core_flash_attention_backward_scratch_floats(int B, int Tlen, int NH);
void tensor_core_flash_attention_backward(bf16* dqkv, float* scratch, const bf16* dout,
                                          const bf16* out, const bf16* qkv, const float* lse,
                                          const int32_t* lengths, int B, int Tlen, int C, int NH,
                                          cudaStream_t stream);

// The tensor-core fragment layouts on their own (tensor_core_probe.cu), one warp: with a
// [16, 16], b [16, 16] (row-major, k x n), b_transposed = the first 8 columns of b as [8, 16]
// (n x k) and b2 [16, 8]: d = a * b[:, :8] and d_transposed = the same product through the
// transposed loader (each [16, 8] fp32), e = bf16(a * b) * b2 [16, 8].
void tensor_core_probe(float* d, float* d_transposed, float* e, const bf16* a, const bf16* b,
                       const bf16* b_transposed, const bf16* b2, cudaStream_t stream);

// Reference attention: materialises the probabilities att [B, NH, T, T] (fp32), one simple
// kernel per step. For tests and as the baseline in benchmarks.
template <class T>
void reference_attention_forward(T* out, float* att, const T* qkv, const int32_t* lengths, int B,
                                 int Tlen, int C, int NH, cudaStream_t stream);
template <class T>
void reference_attention_backward(T* dqkv, const T* dout, const T* qkv, const float* att,
                                  const int32_t* lengths, int B, int Tlen, int C, int NH,
                                  cudaStream_t stream);

// ---- HSTU block (ops:: equivalents in kernels/ops.h) --------------------------------------
// silu: out = x * sigmoid(x); backward: dinp += dout * silu'(inp).
template <class T>
void silu_forward(T* out, const T* inp, int64_t n, cudaStream_t stream);
template <class T>
void silu_backward(T* dinp, const T* inp, const T* dout, int64_t n, cudaStream_t stream);
// out[N, C] = normed * U (U = columns [0, C) of uvqk [N, 4C]); backward: dnormed += dout * U,
// dU += dout * normed.
template <class T>
void hstu_gate_forward(T* out, const T* normed, const T* uvqk, int N, int C, cudaStream_t stream);
template <class T>
void hstu_gate_backward(T* dnormed, T* duvqk, const T* dout, const T* normed, const T* uvqk, int N,
                        int C, cudaStream_t stream);
// ops::hstu_attention_forward on packed rows (sequence_start, lengths on the device); scores
// [B, NH, T, T] (fp32) keep z for backward. Backward accumulates into the V, Q, K columns of
// duvqk and into drel_pos_bias [NH, bias_len] (fp32, fixed order); dscores is scratch of the
// scores' size.
template <class T>
void hstu_attention_forward(T* out, float* scores, const T* uvqk, const T* rel_pos_bias,
                            int bias_len, const int32_t* sequence_start, const int32_t* lengths,
                            int B, int Tlen, int C, int NH, float inv_n, cudaStream_t stream);
template <class T>
void hstu_attention_backward(T* duvqk, float* drel_pos_bias, float* dscores, const T* dout,
                             const T* uvqk, const float* scores, int bias_len,
                             const int32_t* sequence_start, const int32_t* lengths, int B, int Tlen,
                             int C, int NH, float inv_n, cudaStream_t stream);

// ---- losses -------------------------------------------------------------------------------
// One softmax cross-entropy chunk, after the logits GEMM. Unlike the backward ops, dlogits is
// OVERWRITTEN (it is scratch feeding the gradient GEMMs, which accumulate): for each row n of
// logits [N, V] (fp32; bias[V] of type T is added here when non-null) with targets[n] > 0, loss[n]
// = logsumexp - logit[target] and dlogits[n, :] = grad_scale * (softmax - onehot) (T, the input of
// the gradient GEMMs); rows with targets[n] <= 0 get loss 0 and zero gradient. counted[n] = 1 or 0.
template <class T>
void softmax_xent_rows(float* loss, int32_t* counted, T* dlogits, const float* logits,
                       const T* bias, const int32_t* targets, int N, int V, float grad_scale,
                       cudaStream_t stream);
// The sampled item losses (ops::shared_candidates_loss_forward_backward), per row after the
// candidate-logits GEMM cand_logits [N, M] = hidden @ weight[candidates]^T (fp32, no bias):
// target logit = hidden[n] . target_weight[n] (the target's table row, gathered) + bias[target];
// every logit minus log_q[item] when log_q (fp32 [V]) is non-null; candidates equal to the row's
// target masked. kSoftmax (gbce false): -log softmax at the target over target + candidates;
// gBCE: -gbce_beta log sigmoid(target) - sum_j log(1 - sigmoid(s_j)). loss[n], counted[n];
// dcand [N, M] (T, OVERWRITTEN, may be null) and dtarget [N] (fp32, overwritten, may be null)
// get grad_scale * dloss/dlogit. Rows with targets[n] <= 0: loss 0, no gradient.
template <class T>
void sampled_loss_rows(float* loss, int32_t* counted, T* dcand, float* dtarget,
                       const float* cand_logits, const T* hidden, const T* target_weight,
                       const T* bias, const float* log_q, const int32_t* candidates,
                       const int32_t* targets, int N, int M, int C, bool gbce, float gbce_beta,
                       float grad_scale, cudaStream_t stream);
// Backward of the target logits: dhidden[n] += dtarget[n] * target_weight[n]; dweight_rows[n]
// (fp32 [N, C]) = dtarget[n] * hidden[n], for the caller to scatter into the table's gradient.
template <class T>
void sampled_target_grads(T* dhidden, float* dweight_rows, const float* dtarget, const T* hidden,
                          const T* target_weight, int N, int C, cudaStream_t stream);
// Binary cross-entropy on logits [N]; labels < 0 are ignored (loss 0, no gradient).
// loss[n] per row; dlogits[n] += grad_scale * (sigmoid - label) when dlogits is non-null.
template <class T>
void bce_with_logits(float* loss, T* dlogits, const T* logits, const float* labels, int N,
                     float grad_scale, cudaStream_t stream);

// ---- optimizer ----------------------------------------------------------------------------
// ops::adamw_update on the flat fp32 buffers, also refreshing the compute copy (bf16 or a
// second fp32 buffer; may be null) in the same pass.
template <class T>
void adamw_update(float* params, T* compute_copy, const float* grads, float* m, float* v, int64_t n,
                  float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step,
                  float grad_scale, cudaStream_t stream);
// Sum of squares of x[0..n) in double, in a fixed order (same result every run). `partials`
// holds sum_of_squares_partials() doubles. Synchronises the stream and returns on the host.
int sum_of_squares_partials();
double sum_of_squares(const float* x, int64_t n, double* partials, cudaStream_t stream);
// DP-SGD over a user's gradient support, given as `chunks` device ranges [begin[c], end[c])
// (one block each; keep them short, a few thousand elements): the sum of squares of x over
// them in double, in a fixed order (`partials` holds `chunks` doubles; synchronises and returns
// on the host); and sum[i] += scale * x[i] in double, then x[i] = 0, over them.
double chunk_sum_of_squares(const float* x, const int64_t* begin, const int64_t* end, int chunks,
                            double* partials, cudaStream_t stream);
void chunk_add_scaled_and_zero(double* sum, float* x, double scale, const int64_t* begin,
                               const int64_t* end, int chunks, cudaStream_t stream);

}  // namespace cf::cuda
