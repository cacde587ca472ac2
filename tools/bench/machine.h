// machine_line: the line every benchmark table starts with, naming the CPU, the instruction sets
// the kernels can use (read from cpuid), the OpenBLAS kernel set and what computes bf16
// products, so a number in docs/benchmarks.md always says where it came from.
#pragma once
#include <string>

#include "kernels/cpu/blas_kernel_choice.h"
#include "kernels/cpu/matmul_precision.h"
#include "trainer/run_files.h"

namespace cf::bench {

inline std::string machine_line() {
  const ops::cpu::SimdFeatures simd = ops::cpu::host_simd_features();
  std::string isa = simd.avx512 ? "AVX-512" : simd.avx2_fma ? "AVX2+FMA" : "no AVX2";
  isa += ops::cpu::cpu_has_bf16_units() ? ", bf16 units (AMX-BF16 or AVX512-BF16)" : ", no bf16 units";
  return "cpu: " + trainer::host_cpu_model() + "; " + isa + "; OpenBLAS kernels " +
         ops::cpu::openblas_core() + "; bf16 products: " + ops::cpu::bf16_gemm_engine();
}

}  // namespace cf::bench
