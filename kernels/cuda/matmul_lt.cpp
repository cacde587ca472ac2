// MatmulLt: cuBLASLt GEMMs in the row-major conventions of kernels/ops.h.
#include "kernels/cuda/matmul_lt.h"

#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"

namespace cf::cuda {

namespace {

template <class T>
constexpr cudaDataType_t data_type() {
  if constexpr (std::is_same_v<T, float>)
    return CUDA_R_32F;
  else if constexpr (std::is_same_v<T, bf16>)
    return CUDA_R_16BF;
  else
    static_assert(sizeof(T) == 0, "MatmulLt: float or bf16 only");
}

// The descriptors of one call; destroyed on every exit path.
struct LtCall {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t preference = nullptr;
  ~LtCall() {
    if (preference) cublasLtMatmulPreferenceDestroy(preference);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

// The largest power of two (at most 256) dividing the address: cuBLASLt's heuristic assumes
// 256-byte-aligned operands unless told otherwise, and tensors inside the flat parameter buffer
// start wherever the previous one ended.
uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

template <class V>
void set_pref(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attribute,
              const V& value) {
  CF_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attribute, &value, sizeof(value)));
}

template <class V>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const V& value) {
  CF_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)));
}

}  // namespace

MatmulLt::MatmulLt(size_t workspace_bytes) : workspace_bytes_(workspace_bytes) {
  CF_CUBLAS_CHECK(cublasLtCreate(&handle_));
  if (workspace_bytes_ > 0) {
    const cudaError_t err = cudaMalloc(&workspace_, workspace_bytes_);
    if (err != cudaSuccess) {
      cublasLtDestroy(handle_);
      CF_CUDA_CHECK(err);
    }
  }
}

MatmulLt::~MatmulLt() {
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy(handle_);
}

// Row-major D[M, N] is column-major D^T [N, M] = op(B)^T op(A)^T, so cuBLASLt is called with the
// operands swapped: first B (m = N), then A (n = M).
template <class AB, class D>
void MatmulLt::gemm(D* d, const AB* a, const AB* b, int M, int N, int K, bool trans_a, bool trans_b,
                    float alpha, float beta, cudaStream_t stream, Epilogue epilogue, const AB* bias,
                    AB* aux) {
  CF_CHECK(M > 0 && N > 0 && K > 0, "MatmulLt::gemm: empty shape");
  constexpr bool same_type = std::is_same_v<AB, D>;
  CF_CHECK(epilogue == Epilogue::none || same_type,
           "MatmulLt::gemm: fused epilogues need the output in the input type");
  LtCall call;
  CF_CUBLAS_CHECK(cublasLtMatmulDescCreate(&call.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t op_first = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  set_desc(call.desc, CUBLASLT_MATMUL_DESC_TRANSA, op_first);
  set_desc(call.desc, CUBLASLT_MATMUL_DESC_TRANSB, op_second);
  if (epilogue != Epilogue::none) {
    CF_CHECK(bias != nullptr, "MatmulLt::gemm: the bias epilogues need a bias");
    const cublasLtEpilogue_t kind =
        epilogue == Epilogue::bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    set_desc(call.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, kind);
    set_desc(call.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, static_cast<const void*>(bias));
    const cudaDataType_t bias_type = data_type<AB>();
    set_desc(call.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, bias_type);
    if (epilogue == Epilogue::bias_gelu) {
      CF_CHECK(aux != nullptr, "MatmulLt::gemm: the GELU epilogue keeps its input in aux");
      // cuBLASLt: the aux leading dimension must be a multiple of 8.
      CF_CHECK(N % 8 == 0,
               "MatmulLt::gemm: the GELU epilogue needs an output width divisible by 8");
      set_desc(call.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, static_cast<void*>(aux));
      const int64_t aux_ld = N;
      set_desc(call.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, aux_ld);
    }
  }
  // Column-major shapes of the stored matrices (rows, cols, leading dimension).
  const int first_rows = trans_b ? K : N, first_cols = trans_b ? N : K;
  const int second_rows = trans_a ? M : K, second_cols = trans_a ? K : M;
  CF_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&call.a, data_type<AB>(), first_rows, first_cols, first_rows));
  CF_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&call.b, data_type<AB>(), second_rows, second_cols, second_rows));
  CF_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&call.d, data_type<D>(), N, M, N));

  CF_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&call.preference));
  set_pref(call.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace_bytes_);
  // cuBLASLt's A is our b and its B our a (the operands are swapped above); C is D.
  set_pref(call.preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment_of(b));
  set_pref(call.preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment_of(a));
  set_pref(call.preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment_of(d));
  set_pref(call.preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment_of(d));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  CF_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle_, call.desc, call.a, call.b, call.d, call.d,
                                                 call.preference, 1, &heuristic, &found));
  if (found == 0)
    throw CudaError("cuBLASLt has no algorithm for a " + std::to_string(M) + "x" +
                    std::to_string(N) + "x" + std::to_string(K) + " GEMM with these types");
  CF_CUBLAS_CHECK(cublasLtMatmul(handle_, call.desc, &alpha, b, call.a, a, call.b, &beta, d, call.d,
                                 d, call.d, &heuristic.algo, workspace_, workspace_bytes_, stream));
}

template <class T, class OutT>
void MatmulLt::forward(OutT* out, const T* inp, const T* weight, const T* bias, int N, int C,
                       int OC, Epilogue epilogue, T* pre_gelu, cudaStream_t stream) {
  if (epilogue == Epilogue::bias && bias == nullptr) epilogue = Epilogue::none;
  if (epilogue == Epilogue::bias_gelu) {
    CF_CHECK(pre_gelu != nullptr, "MatmulLt::forward: bias_gelu needs pre_gelu");
    CF_CHECK(bias != nullptr, "MatmulLt::forward: bias_gelu needs a bias");
  }
  gemm<T, OutT>(out, inp, weight, N, OC, C, false, true, 1.0f, 0.0f, stream, epilogue, bias,
                pre_gelu);
}

template <class T>
void MatmulLt::backward(T* dinp, float* dweight, float* dbias, const T* dout, const T* inp,
                        const T* weight, int N, int C, int OC, cudaStream_t stream) {
  if (dinp) gemm<T, T>(dinp, dout, weight, N, C, OC, false, false, 1.0f, 1.0f, stream);
  if (dweight) gemm<T, float>(dweight, dout, inp, OC, C, N, true, false, 1.0f, 1.0f, stream);
  if (dbias) column_sums(dbias, dout, N, OC, stream);
}

template void MatmulLt::gemm<float, float>(float*, const float*, const float*, int, int, int, bool,
                                           bool, float, float, cudaStream_t, Epilogue, const float*,
                                           float*);
template void MatmulLt::gemm<bf16, bf16>(bf16*, const bf16*, const bf16*, int, int, int, bool, bool,
                                         float, float, cudaStream_t, Epilogue, const bf16*, bf16*);
template void MatmulLt::gemm<bf16, float>(float*, const bf16*, const bf16*, int, int, int, bool,
                                          bool, float, float, cudaStream_t, Epilogue, const bf16*,
                                          bf16*);
template void MatmulLt::forward<float, float>(float*, const float*, const float*, const float*, int,
                                              int, int, Epilogue, float*, cudaStream_t);
template void MatmulLt::forward<bf16, bf16>(bf16*, const bf16*, const bf16*, const bf16*, int, int,
                                            int, Epilogue, bf16*, cudaStream_t);
template void MatmulLt::forward<bf16, float>(float*, const bf16*, const bf16*, const bf16*, int,
                                             int, int, Epilogue, bf16*, cudaStream_t);
template void MatmulLt::backward<float>(float*, float*, float*, const float*, const float*,
                                        const float*, int, int, int, cudaStream_t);
template void MatmulLt::backward<bf16>(bf16*, float*, float*, const bf16*, const bf16*, const bf16*,
                                       int, int, int, cudaStream_t);

}  // namespace cf::cuda
