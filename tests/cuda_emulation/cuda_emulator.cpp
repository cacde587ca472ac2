// The CPU side of cuda_emulator.h: grid execution with one OS thread per CUDA thread, and the
// parts of the CUDA runtime and cuBLASLt this project calls, on host memory. Streams are
// synchronous (every call completes before it returns), which is a legal schedule of the
// asynchronous API.
#include "cuda_emulator.h"

#include <cublasLt.h>
#include <cublas_api.h>

#include <barrier>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cf_emu {

thread_local uint3 thread_idx;
thread_local uint3 block_idx;
thread_local dim3 block_dim;
thread_local dim3 grid_dim;

namespace {

constexpr int kWarp = 32;

// The barriers of the block being run. Each thread leaves (arrive_and_drop) when its kernel
// body returns, so threads that exit early do not hold the others at a barrier.
struct BlockState {
  explicit BlockState(int threads) : block_barrier(threads) {
    const int warps = (threads + kWarp - 1) / kWarp;
    for (int w = 0; w < warps; ++w)
      warp_barriers.push_back(
          std::make_unique<std::barrier<>>(std::min(kWarp, threads - w * kWarp)));
    exchange.assign(size_t(warps) * kWarp, 0.0);
  }
  std::barrier<> block_barrier;
  std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
  std::vector<double> exchange;  // one slot per thread for shuffles
};

thread_local BlockState* current_block = nullptr;
thread_local int linear_thread = 0;

}  // namespace

void sync_threads() { current_block->block_barrier.arrive_and_wait(); }

template <class V>
V shuffle(V value, int lane_mask) {
  BlockState& block = *current_block;
  const int warp = linear_thread / kWarp, lane = linear_thread % kWarp;
  std::barrier<>& barrier = *block.warp_barriers[size_t(warp)];
  block.exchange[size_t(linear_thread)] = double(value);
  barrier.arrive_and_wait();  // every lane has written
  const V result = V(block.exchange[size_t(warp * kWarp + (lane ^ lane_mask))]);
  barrier.arrive_and_wait();  // every lane has read before the slots are reused
  return result;
}
float shuffle_xor(float value, int lane_mask) { return shuffle(value, lane_mask); }
double shuffle_xor(double value, int lane_mask) { return shuffle(value, lane_mask); }

// One OS thread per CUDA thread of a block, reused for every block of the grid in turn: after
// a block, the threads meet at `block_done`, whose completion gives them fresh barriers.
void run_grid(dim3 grid, dim3 block, const std::function<void()>& body) {
  const int threads = int(block.x * block.y * block.z);
  const int64_t blocks = int64_t(grid.x) * grid.y * grid.z;
  if (threads == 0 || blocks == 0) return;
  auto state = std::make_unique<BlockState>(threads);
  std::barrier block_done(threads,
                          [&]() noexcept { state = std::make_unique<BlockState>(threads); });
  std::vector<std::thread> workers;
  workers.reserve(size_t(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      linear_thread = t;
      thread_idx = {unsigned(t) % block.x, (unsigned(t) / block.x) % block.y,
                    unsigned(t) / (block.x * block.y)};
      block_dim = block;
      grid_dim = grid;
      for (int64_t b = 0; b < blocks; ++b) {
        current_block = state.get();
        block_idx = {unsigned(b % grid.x), unsigned((b / grid.x) % grid.y),
                     unsigned(b / (int64_t(grid.x) * grid.y))};
        body();
        current_block->warp_barriers[size_t(t / kWarp)]->arrive_and_drop();
        current_block->block_barrier.arrive_and_drop();
        block_done.arrive_and_wait();
      }
    });
  }
  for (auto& w : workers) w.join();
}

}  // namespace cf_emu

// ---- CUDA runtime (synchronous, host memory) -----------------------------------------------
namespace {
thread_local cudaError_t last_error = cudaSuccess;
}

extern "C" {

cudaError_t cudaMalloc(void** p, size_t size) {
  *p = std::malloc(size == 0 ? 1 : size);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** p, size_t size, cudaStream_t) { return cudaMalloc(p, size); }
cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind) {
  std::memmove(dst, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind,
                            cudaStream_t) {
  std::memmove(dst, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t count, cudaStream_t) {
  std::memset(p, value, count);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  static int token;
  *stream = reinterpret_cast<cudaStream_t>(&token);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaGetLastError(void) {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return last_error; }
const char* cudaGetErrorName(cudaError_t e) {
  return e == cudaSuccess ? "cudaSuccess" : "cudaError";
}
const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaSuccess ? "no error" : "emulated CUDA error";
}
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp* prop, int) {
  std::memset(prop, 0, sizeof *prop);
  std::strcpy(prop->name, "CPU emulation of CUDA");
  prop->major = 9;
  prop->multiProcessorCount = 1;
  prop->totalGlobalMem = size_t(1) << 30;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int) { return cudaSuccess; }

}  // extern "C"

// ---- cuBLASLt (column-major GEMM with the epilogues this project uses) -----------------------
namespace {

struct Desc {
  cublasOperation_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
  void* aux = nullptr;
  int64_t aux_ld = 0;
  cudaDataType_t bias_type = CUDA_R_32F;
};
struct Layout {
  cudaDataType_t type;
  uint64_t rows, cols;
  int64_t ld;
};
static_assert(sizeof(Desc) <= sizeof(cublasLtMatmulDescOpaque_t));
static_assert(sizeof(Layout) <= sizeof(cublasLtMatrixLayoutOpaque_t));

double load(const void* p, cudaDataType_t type, int64_t i) {
  if (type == CUDA_R_32F) return static_cast<const float*>(p)[i];
  return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
}
void store(void* p, cudaDataType_t type, int64_t i, double v) {
  if (type == CUDA_R_32F)
    static_cast<float*>(p)[i] = float(v);
  else
    static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(float(v));
}
double gelu(double x) {
  return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

}  // namespace

extern "C" {

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  static int token;
  *handle = reinterpret_cast<cublasLtHandle_t>(&token);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t,
                                        cudaDataType_t) {
  *desc = new cublasLtMatmulDescOpaque_t{};
  new (*desc) Desc{};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete desc;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                              cublasLtMatmulDescAttributes_t attribute,
                                              const void* buf, size_t size) {
  Desc& d = *reinterpret_cast<Desc*>(desc);
  switch (attribute) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
      std::memcpy(&d.trans_a, buf, size);
      break;
    case CUBLASLT_MATMUL_DESC_TRANSB:
      std::memcpy(&d.trans_b, buf, size);
      break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
      std::memcpy(&d.epilogue, buf, size);
      break;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      std::memcpy(&d.bias, buf, size);
      break;
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
      std::memcpy(&d.bias_type, buf, size);
      break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER:
      std::memcpy(&d.aux, buf, size);
      break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD:
      std::memcpy(&d.aux_ld, buf, size);
      break;
    default:
      return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type,
                                          uint64_t rows, uint64_t cols, int64_t ld) {
  if (ld < int64_t(rows)) return CUBLAS_STATUS_INVALID_VALUE;
  *layout = new cublasLtMatrixLayoutOpaque_t{};
  new (*layout) Layout{type, rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete layout;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  *pref = new cublasLtMatmulPreferenceOpaque_t{};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  delete pref;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t,
                                                    cublasLtMatmulPreferenceAttributes_t,
                                                    const void*, size_t) {
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                              cublasLtMatmulPreference_t, int requested,
                                              cublasLtMatmulHeuristicResult_t* results,
                                              int* returned) {
  const Desc& d = *reinterpret_cast<const Desc*>(desc);
  // The documented GELU_AUX requirement the real library enforces.
  if (d.epilogue == CUBLASLT_EPILOGUE_GELU_AUX_BIAS && d.aux_ld % 8 != 0) {
    *returned = 0;
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (requested > 0) results[0] = {};
  *returned = requested > 0 ? 1 : 0;
  return CUBLAS_STATUS_SUCCESS;
}
// D (m x n) = alpha op(A) op(B) + beta C, column-major, in double; then the epilogue.
cublasStatus_t cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t desc, const void* alpha_p,
                              const void* A, cublasLtMatrixLayout_t a_layout, const void* B,
                              cublasLtMatrixLayout_t b_layout, const void* beta_p, const void* C,
                              cublasLtMatrixLayout_t c_layout, void* D,
                              cublasLtMatrixLayout_t d_layout, const cublasLtMatmulAlgo_t*, void*,
                              size_t, cudaStream_t) {
  const Desc& d = *reinterpret_cast<const Desc*>(desc);
  const Layout& la = *reinterpret_cast<const Layout*>(a_layout);
  const Layout& lb = *reinterpret_cast<const Layout*>(b_layout);
  const Layout& lc = *reinterpret_cast<const Layout*>(c_layout);
  const Layout& ld = *reinterpret_cast<const Layout*>(d_layout);
  const bool ta = d.trans_a == CUBLAS_OP_T, tb = d.trans_b == CUBLAS_OP_T;
  const int64_t m = int64_t(ld.rows), n = int64_t(ld.cols);
  const int64_t k = ta ? int64_t(la.rows) : int64_t(la.cols);
  if ((ta ? int64_t(la.cols) : int64_t(la.rows)) != m) return CUBLAS_STATUS_INVALID_VALUE;
  if ((tb ? int64_t(lb.rows) : int64_t(lb.cols)) != n) return CUBLAS_STATUS_INVALID_VALUE;
  if ((tb ? int64_t(lb.cols) : int64_t(lb.rows)) != k) return CUBLAS_STATUS_INVALID_VALUE;
  const float alpha = *static_cast<const float*>(alpha_p),
              beta = *static_cast<const float*>(beta_p);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double a = load(A, la.type, ta ? p + i * la.ld : i + p * la.ld);
        const double b = load(B, lb.type, tb ? j + p * lb.ld : p + j * lb.ld);
        acc += a * b;
      }
      double value = alpha * acc;
      if (beta != 0) value += beta * load(C, lc.type, i + j * lc.ld);
      if (d.epilogue == CUBLASLT_EPILOGUE_BIAS || d.epilogue == CUBLASLT_EPILOGUE_GELU_AUX_BIAS)
        value += load(d.bias, d.bias_type, i);
      if (d.epilogue == CUBLASLT_EPILOGUE_GELU_AUX_BIAS) {
        store(d.aux, ld.type, i + j * d.aux_ld, value);
        value = gelu(load(d.aux, ld.type, i + j * d.aux_ld));
      }
      store(D, ld.type, i + j * ld.ld, value);
    }
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t) { return "CUBLAS_STATUS_EMULATED"; }
const char* cublasGetStatusString(cublasStatus_t) { return "emulated cuBLASLt status"; }

}  // extern "C"
