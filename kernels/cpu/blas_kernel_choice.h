// OpenBLAS picks its kernels from the CPU model number when it loads. On a CPU model it does not
// know (new parts, or a hypervisor that reports a generic "Intel Xeon Processor") it falls back
// to its pre-AVX "Prescott" kernels, which run sgemm at a fifth of the speed on a CPU with
// AVX-512. It only reads OPENBLAS_CORETYPE while loading, so the program has to be started again
// with it set: main() calls use_matching_openblas_kernels(argv) first thing.
#pragma once
#include <string>

namespace cf::ops::cpu {

struct SimdFeatures {
  bool avx2_fma = false;
  bool avx512 = false;  // F, BW, VL and DQ: what OpenBLAS's SkylakeX kernels use
  bool bf16_units = false;  // AMX-BF16 tiles or AVX512-BF16 dot products (cpu_has_bf16_units)
};
SimdFeatures host_simd_features();  // from cpuid (and the OS saving the registers)

// The OpenBLAS core type to force for a CPU with `simd` when OpenBLAS chose `chosen_core`, or ""
// to keep its choice: only a pre-AVX fallback is overridden, never a core it recognised.
std::string openblas_core_to_force(const std::string& chosen_core, const SimdFeatures& simd);
// The kernel set OpenBLAS is using ("SkylakeX", "Haswell", "Prescott", ...).
std::string openblas_core();

// Re-executes this program (/proc/self/exe, the same arguments) with OPENBLAS_CORETYPE set when
// openblas_core_to_force says so and OPENBLAS_CORETYPE is not set yet (so never twice, and a
// user's own setting wins). Returns when there is nothing to do or the exec failed.
void use_matching_openblas_kernels(char** argv);

}  // namespace cf::ops::cpu
