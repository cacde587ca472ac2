// The smallest check of the tensor-core fragment layouts (tensor_core.cuh): one warp, three
// MMAs through each fragment loader. On a GPU it tells a layout mistake apart from a bug in
// the flash kernels built on them; on the CPU emulation it checks the loaders against the
// emulator's reading of the PTX ISA.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/tensor_core.cuh"

namespace cf::cuda {

namespace {

__global__ void tensor_core_probe_kernel(float* d, float* d_transposed, float* e, const bf16* a,
                                         const bf16* b, const bf16* b_transposed, const bf16* b2) {
  const int lane = threadIdx.x;
  const int group = lane >> 2, index = lane & 3;
  uint32_t a_frag[4], b_frag[2], bt_frag[2];
  load_a_fragment(a_frag, a, 16, 0, lane);
  float product[4] = {}, product_t[4] = {};
  // b's two 8-column halves: the second half feeds the chained product below.
  float left[4] = {}, right[4] = {};
  load_b_fragment(b_frag, b, 16, 0, lane);
  mma_bf16_m16n8k16(product, a_frag, b_frag);
  mma_bf16_m16n8k16(left, a_frag, b_frag);
  load_b_fragment(b_frag, b, 16, 8, lane);
  mma_bf16_m16n8k16(right, a_frag, b_frag);
  load_b_fragment_transposed(bt_frag, b_transposed, 16, 0, lane);
  mma_bf16_m16n8k16(product_t, a_frag, bt_frag);
  // e = bf16(a * b) * b2: the accumulators of both halves as the a operand of the next MMA.
  uint32_t chained[4], b2_frag[2];
  accumulators_as_a(chained, left, right);
  load_b_fragment(b2_frag, b2, 8, 0, lane);
  float chained_product[4] = {};
  mma_bf16_m16n8k16(chained_product, chained, b2_frag);
  for (int i = 0; i < 4; ++i) {
    const int at = (group + 8 * (i >> 1)) * 8 + 2 * index + (i & 1);
    d[at] = product[i];
    d_transposed[at] = product_t[i];
    e[at] = chained_product[i];
  }
}

}  // namespace

void tensor_core_probe(float* d, float* d_transposed, float* e, const bf16* a, const bf16* b,
                       const bf16* b_transposed, const bf16* b2, cudaStream_t stream) {
  tensor_core_probe_kernel<<<1, 32, 0, stream>>>(d, d_transposed, e, a, b, b_transposed, b2);
  CF_CUDA_CHECK_LAUNCH();
}

}  // namespace cf::cuda
