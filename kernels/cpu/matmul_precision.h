// The precision of the CPU backend's matrix products: fp32 throughout, or bf16 inputs with fp32
// accumulation and fp32 outputs (weights, optimizer state and every other op stay fp32). One
// process-wide setting that every float GEMM of the CPU kernels reads (blas_gemm.h), so the ops
// keep one code path and the backend (or a test) switches them all at once.
#pragma once
#include <string>

namespace cf::ops::cpu {

enum class MatmulPrecision { kFp32, kBf16 };

MatmulPrecision matmul_precision();
void set_matmul_precision(MatmulPrecision precision);

// Sets the precision for a scope and restores the previous one after it.
class ScopedMatmulPrecision {
 public:
  explicit ScopedMatmulPrecision(MatmulPrecision precision) : previous_(matmul_precision()) {
    set_matmul_precision(precision);
  }
  ~ScopedMatmulPrecision() { set_matmul_precision(previous_); }
  ScopedMatmulPrecision(const ScopedMatmulPrecision&) = delete;
  ScopedMatmulPrecision& operator=(const ScopedMatmulPrecision&) = delete;

 private:
  MatmulPrecision previous_;
};

// Whether this CPU has bf16 matrix units (AVX512-BF16 dot products or AMX-BF16 tiles), read
// from cpuid: what `run.precision: auto` asks before it picks bf16.
bool cpu_has_bf16_units();
// What computes bf16 products in this build on this CPU, for logs and benchmark tables:
// "oneDNN <its kernel>" or "emulated (bf16-rounded inputs, fp32 sgemm)".
std::string bf16_gemm_engine();

}  // namespace cf::ops::cpu
