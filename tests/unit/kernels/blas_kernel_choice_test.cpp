// Which OpenBLAS kernels to force: only a pre-AVX fallback on a CPU with AVX2 or AVX-512.
#include "kernels/cpu/blas_kernel_choice.h"

#include <gtest/gtest.h>

namespace {

using cf::ops::cpu::openblas_core_to_force;
using cf::ops::cpu::SimdFeatures;

TEST(OpenblasKernelChoice, AFallbackOnAModernCpuIsReplaced) {
  EXPECT_EQ(openblas_core_to_force("Prescott", {.avx2_fma = true, .avx512 = true}), "SkylakeX");
  EXPECT_EQ(openblas_core_to_force("Nehalem", {.avx2_fma = true, .avx512 = false}), "Haswell");
  EXPECT_EQ(openblas_core_to_force("Core2", {.avx2_fma = true, .avx512 = true}), "SkylakeX");
}

TEST(OpenblasKernelChoice, ARecognisedCoreOrAnOldCpuIsLeftAlone) {
  EXPECT_EQ(openblas_core_to_force("SkylakeX", {.avx2_fma = true, .avx512 = true}), "");
  EXPECT_EQ(openblas_core_to_force("Haswell", {.avx2_fma = true, .avx512 = true}), "");
  EXPECT_EQ(openblas_core_to_force("Zen", {.avx2_fma = true, .avx512 = false}), "");
  EXPECT_EQ(openblas_core_to_force("Cooperlake", {.avx2_fma = true, .avx512 = true}), "");
  EXPECT_EQ(openblas_core_to_force("Prescott", {.avx2_fma = false, .avx512 = false}), "");
}

}  // namespace
