// The CPU side of cuda_emulator.h: grid execution, and the parts of the CUDA runtime and
// cuBLASLt this project calls, on host memory. Streams are synchronous (every call completes
// before it returns), which is a legal schedule of the asynchronous API.
//
// The threads of a block are fibers (ucontext) on the calling OS thread: each runs until it
// reaches a barrier or returns, then the next one runs. __syncthreads releases the block once
// every live thread waits there; a warp shuffle releases a warp once its live threads have
// all written their value. Threads that have returned no longer count, as on the GPU. Threads
// waiting at different barriers with none able to move is a deadlock: reported, then abort.
#include "cuda_emulator.h"

#include <cublasLt.h>
#include <cublas_api.h>
#include <ucontext.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace cf_emu {

thread_local uint3 thread_idx;
thread_local uint3 block_idx;
thread_local dim3 block_dim;
thread_local dim3 grid_dim;

namespace {

constexpr int kWarp = 32;
constexpr size_t kFiberStack = size_t(256) << 10;

enum class Wait { none, block, warp };

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  bool done = false;
  Wait wait = Wait::none;
};

struct MmaFragments {
  uint32_t a[4];
  uint32_t b[2];
};

struct Grid {
  std::vector<Fiber> fibers;
  std::vector<double> exchange;   // shuffle slots, one per thread
  std::vector<MmaFragments> mma;  // tensor-core operand slots, one per thread
  ucontext_t scheduler;
  const std::function<void()>* body = nullptr;
  int current = 0;
};
Grid* active = nullptr;

void fiber_main() {
  (*active->body)();
  active->fibers[size_t(active->current)].done = true;
  swapcontext(&active->fibers[size_t(active->current)].context, &active->scheduler);
}

// Suspends the running thread until the scheduler releases the barrier it waits at.
void wait_at(Wait barrier) {
  Fiber& self = active->fibers[size_t(active->current)];
  self.wait = barrier;
  swapcontext(&self.context, &active->scheduler);
}

[[noreturn]] void deadlock(const char* why) {
  std::fprintf(stderr, "cuda emulator: deadlock in block (%u, %u, %u): %s\n", block_idx.x,
               block_idx.y, block_idx.z, why);
  std::abort();
}

// Fresh contexts for the next block (kept out of run_grid: getcontext there would make GCC
// warn that its locals might be clobbered).
void reset_fibers(Grid& g) {
  for (auto& f : g.fibers) {
    f.done = false;
    f.wait = Wait::none;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.get();
    f.context.uc_stack.ss_size = kFiberStack;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_main, 0);
  }
}

}  // namespace

void sync_threads() { wait_at(Wait::block); }

template <class V>
V shuffle(V value, int lane_mask) {
  const int t = active->current;
  const int warp = t / kWarp, lane = t % kWarp;
  active->exchange[size_t(t)] = double(value);
  wait_at(Wait::warp);  // every lane has written
  const V result = V(active->exchange[size_t(warp * kWarp + (lane ^ lane_mask))]);
  wait_at(Wait::warp);  // every lane has read before the slots are reused
  return result;
}
float shuffle_xor(float value, int lane_mask) { return shuffle(value, lane_mask); }

namespace {

float bf16_half(uint32_t pair, int high) {
  const uint32_t bits = (high ? pair >> 16 : pair & 0xffffu) << 16;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// Fragment layouts of mma.m16n8k16 (PTX ISA), lane = 4 * group + index_in_group:
//  A (16 x 16): register r holds row group + 8 * (r & 1), columns 2 * index + 8 * (r >> 1)
//               and the one after it;
//  B (16 x 8):  register r holds rows 2 * index + 8 * r and the one after, column group;
//  C, D:        element e holds row group + 8 * (e >> 1), column 2 * index + (e & 1).
float a_element(const MmaFragments* warp, int row, int k) {
  const int lane = 4 * (row % 8) + (k % 8) / 2;
  const int reg = (row >= 8) + 2 * (k >= 8);
  return bf16_half(warp[lane].a[reg], k & 1);
}
float b_element(const MmaFragments* warp, int k, int col) {
  const int lane = 4 * col + (k % 8) / 2;
  return bf16_half(warp[lane].b[k >= 8], k & 1);
}

}  // namespace

void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  const int t = active->current;
  const int lane = t % kWarp;
  MmaFragments& mine = active->mma[size_t(t)];
  std::memcpy(mine.a, a, sizeof mine.a);
  std::memcpy(mine.b, b, sizeof mine.b);
  const float c_in[4] = {c[0], c[1], c[2], c[3]};  // d may alias c
  wait_at(Wait::warp);                             // every lane has posted its fragments
  const MmaFragments* warp = &active->mma[size_t(t - lane)];
  for (int e = 0; e < 4; ++e) {
    const int row = lane / 4 + 8 * (e >> 1), col = 2 * (lane % 4) + (e & 1);
    // bf16 products are exact in fp32; the hardware's order of the fp32 sum is unspecified,
    // so any order is a legal result (the tests allow for it).
    float sum = 0.0f;
    for (int k = 0; k < 16; ++k) sum += a_element(warp, row, k) * b_element(warp, k, col);
    d[e] = c_in[e] + sum;
  }
  wait_at(Wait::warp);  // every lane has read before the slots are reused
}
double shuffle_xor(double value, int lane_mask) { return shuffle(value, lane_mask); }

void run_grid(dim3 grid, dim3 block, const std::function<void()>& body) {
  const int threads = int(block.x * block.y * block.z);
  const int64_t blocks = int64_t(grid.x) * grid.y * grid.z;
  if (threads == 0 || blocks == 0) return;
  Grid g;
  g.body = &body;
  g.fibers.resize(size_t(threads));
  for (auto& f : g.fibers) f.stack = std::make_unique<char[]>(kFiberStack);
  g.exchange.assign(size_t(threads), 0.0);
  g.mma.resize(size_t(threads));
  Grid* outer = active;
  active = &g;
  block_dim = block;
  grid_dim = grid;
  const int warps = (threads + kWarp - 1) / kWarp;
  for (int64_t b = 0; b < blocks; ++b) {
    block_idx = {unsigned(b % grid.x), unsigned((b / grid.x) % grid.y),
                 unsigned(b / (int64_t(grid.x) * grid.y))};
    reset_fibers(g);
    for (;;) {
      // Run every thread that can move until it waits or returns.
      for (int t = 0; t < threads; ++t) {
        Fiber& f = g.fibers[size_t(t)];
        if (f.done || f.wait != Wait::none) continue;
        g.current = t;
        thread_idx = {unsigned(t) % block.x, (unsigned(t) / block.x) % block.y,
                      unsigned(t) / (block.x * block.y)};
        swapcontext(&g.scheduler, &f.context);
      }
      int live = 0, at_block = 0;
      for (const auto& f : g.fibers) {
        live += !f.done;
        at_block += !f.done && f.wait == Wait::block;
      }
      if (live == 0) break;
      bool released = false;
      // A warp whose live threads all wait at a shuffle moves on.
      for (int w = 0; w < warps; ++w) {
        int warp_live = 0, warp_waiting = 0;
        for (int t = w * kWarp; t < std::min(threads, (w + 1) * kWarp); ++t) {
          warp_live += !g.fibers[size_t(t)].done;
          warp_waiting += !g.fibers[size_t(t)].done && g.fibers[size_t(t)].wait == Wait::warp;
        }
        if (warp_waiting > 0 && warp_waiting == warp_live) {
          for (int t = w * kWarp; t < std::min(threads, (w + 1) * kWarp); ++t)
            g.fibers[size_t(t)].wait = Wait::none;
          released = true;
        } else if (warp_waiting > 0) {
          // Some lanes of the warp are at a shuffle, others at __syncthreads: would hang.
          bool others_blocked = true;
          for (int t = w * kWarp; t < std::min(threads, (w + 1) * kWarp); ++t)
            others_blocked &= g.fibers[size_t(t)].done || g.fibers[size_t(t)].wait != Wait::none;
          if (others_blocked && at_block > 0)
            deadlock("a warp's lanes wait at a shuffle and at __syncthreads");
        }
      }
      if (!released && at_block == live) {
        for (auto& f : g.fibers) f.wait = Wait::none;
        released = true;
      }
      if (!released) deadlock("threads wait at different barriers");
    }
  }
  active = outer;
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
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

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
