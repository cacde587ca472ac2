#include "kernels/cpu/blas_kernel_choice.h"

#include <cpuid.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

extern "C" char* openblas_get_corename(void);

namespace cf::ops::cpu {

namespace {

// XCR0: which register files the OS saves (AVX needs bits 1-2; AVX-512 also 5-7).
uint64_t os_saved_state() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !((ecx >> 27) & 1)) return 0;  // no OSXSAVE
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

}  // namespace

SimdFeatures host_simd_features() {
  SimdFeatures f;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool fma = (ecx >> 12) & 1;
  unsigned max_subleaf = 0, leaf7_ebx = 0, leaf7_edx = 0;
  if (!__get_cpuid_count(7, 0, &max_subleaf, &leaf7_ebx, &ecx, &leaf7_edx)) return f;
  const uint64_t xcr0 = os_saved_state();
  const bool os_avx = (xcr0 & 0x6) == 0x6, os_avx512 = (xcr0 & 0xe6) == 0xe6;
  f.avx2_fma = os_avx && fma && ((leaf7_ebx >> 5) & 1);
  const bool avx512f = (leaf7_ebx >> 16) & 1, avx512dq = (leaf7_ebx >> 17) & 1,
             avx512bw = (leaf7_ebx >> 30) & 1, avx512vl = (leaf7_ebx >> 31) & 1;
  f.avx512 = os_avx512 && f.avx2_fma && avx512f && avx512dq && avx512bw && avx512vl;
  const bool amx_bf16 = (leaf7_edx >> 22) & 1;
  const bool avx512_bf16 =
      max_subleaf >= 1 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && ((eax >> 5) & 1);
  f.bf16_units = amx_bf16 || avx512_bf16;
  return f;
}

std::string openblas_core_to_force(const std::string& chosen_core, const SimdFeatures& simd) {
  // OpenBLAS's x86-64 kernel sets that use no AVX at all: its fallbacks.
  static constexpr std::string_view kPreAvx[] = {"Prescott", "Core2", "Penryn", "Dunnington",
                                                 "Nehalem", "Atom", "Barcelona", "Opteron",
                                                 "Opteron(SSE3)", "Bobcat", "Katmai",
                                                 "Coppermine", "Northwood", "Banias"};
  bool fallback = false;
  for (std::string_view core : kPreAvx) fallback = fallback || chosen_core == core;
  if (!fallback) return "";
  if (simd.avx512) return "SkylakeX";
  if (simd.avx2_fma) return "Haswell";
  return "";
}

std::string openblas_core() {
  const char* name = openblas_get_corename();
  return name ? name : "unknown";
}

void use_matching_openblas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const std::string core = openblas_core_to_force(openblas_core(), host_simd_features());
  if (core.empty()) return;
  if (setenv("OPENBLAS_CORETYPE", core.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Exec failed (no /proc, say): carry on with OpenBLAS's own kernels.
}

}  // namespace cf::ops::cpu
