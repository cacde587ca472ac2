// Row movement and per-sequence dropout on the GPU against their CPU definitions: gather and
// scatter by index, and dropout over packed rows equal to ops::dropout_forward/backward run
// sequence by sequence (what trainer/model_core.cpp does on the CPU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cuda/device_buffer.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/dropout_mask.h"
#include "kernels/ops.h"

namespace cf::cuda_test {
namespace {

std::vector<float> random_floats(size_t n, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

TEST(CudaRows, GatherAndScatterFollowTheIndex) {
  CF_SKIP_WITHOUT_GPU("row tests");
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int src_rows = 37, width = 45;
  const std::vector<int32_t> index = {36, 0, 5, 17, 2, 30, 11};  // distinct
  const int rows = int(index.size());
  const std::vector<float> src = random_floats(size_t(src_rows) * width, rng);
  const std::vector<float> packed = random_floats(size_t(rows) * width, rng);
  const std::vector<float> start = random_floats(size_t(src_rows) * width, rng);
  CudaStream stream;
  DeviceBuffer<float> d_src(src), d_packed(packed), d_index_out(size_t(rows) * width);
  DeviceBuffer<int32_t> d_index(index);

  d_index_out.poison();
  cuda::gather_rows<float>(d_index_out.get(), d_src.get(), d_index.get(), rows, width,
                           stream.get());
  stream.synchronize();
  const std::vector<float> gathered = d_index_out.download();
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < width; ++c)
      ASSERT_EQ(gathered[size_t(r) * width + c], src[size_t(index[r]) * width + c])
          << "gather row " << r << " col " << c;

  for (bool add : {false, true}) {
    DeviceBuffer<float> d_out(start);
    cuda::scatter_rows<float>(d_out.get(), d_packed.get(), d_index.get(), rows, width, add,
                              stream.get());
    stream.synchronize();
    const std::vector<float> out = d_out.download();
    std::vector<float> expected = start;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < width; ++c) {
        float& e = expected[size_t(index[r]) * width + c];
        e = add ? e + packed[size_t(r) * width + c] : packed[size_t(r) * width + c];
      }
    for (size_t i = 0; i < out.size(); ++i)
      ASSERT_EQ(out[i], expected[i]) << (add ? "scatter-add" : "scatter") << " element " << i;
  }
}

// Three sequences of lengths 4, 1, 6 packed back to back; each has its own stream seed.
void expect_dropout_rows_match_cpu(float p) {
  CF_SKIP_WITHOUT_GPU("row tests");
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed) + ", p " + std::to_string(p));
  std::mt19937_64 rng(seed);
  const std::vector<int> lengths = {4, 1, 6};
  const int width = 40;
  std::vector<int32_t> row_sequence, row_position;
  for (int b = 0; b < int(lengths.size()); ++b)
    for (int t = 0; t < lengths[size_t(b)]; ++t) {
      row_sequence.push_back(b);
      row_position.push_back(t);
    }
  const int rows = int(row_sequence.size());
  const std::vector<uint64_t> sequence_seeds = {rng(), rng(), rng()};
  std::vector<uint64_t> mixed;
  for (uint64_t s : sequence_seeds) mixed.push_back(ops::mix64(s));
  const std::vector<float> inp = random_floats(size_t(rows) * width, rng);
  const std::vector<float> dinp_start = random_floats(size_t(rows) * width, rng);

  // CPU: one call per sequence on its slice, as model_core.cpp does.
  std::vector<float> cpu_out(inp.size()), cpu_dinp = dinp_start;
  int64_t offset = 0;
  for (size_t b = 0; b < lengths.size(); ++b) {
    const int64_t n = int64_t(lengths[b]) * width;
    ops::dropout_forward(cpu_out.data() + offset, inp.data() + offset, p, sequence_seeds[b], n);
    ops::dropout_backward(cpu_dinp.data() + offset, inp.data() + offset, p, sequence_seeds[b], n);
    offset += n;
  }

  CudaStream stream;
  DeviceBuffer<float> d_inp(inp), d_out(inp.size()), d_dinp(dinp_start);
  DeviceBuffer<uint64_t> d_seeds(mixed);
  DeviceBuffer<int32_t> d_sequence(row_sequence), d_position(row_position);
  d_out.poison();
  cuda::dropout_rows_forward<float>(d_out.get(), d_inp.get(), p, d_seeds.get(), d_sequence.get(),
                                    d_position.get(), rows, width, stream.get());
  cuda::dropout_rows_backward<float>(d_dinp.get(), d_inp.get(), p, d_seeds.get(),
                                     d_sequence.get(), d_position.get(), rows, width,
                                     stream.get());
  stream.synchronize();
  const std::vector<float> out = d_out.download(), dinp = d_dinp.download();
  for (size_t i = 0; i < out.size(); ++i) {
    // The same kept elements exactly; the kept values within fp32 rounding of the scale.
    ASSERT_EQ(out[i] == 0.f, cpu_out[i] == 0.f) << "mask differs at element " << i;
    EXPECT_NEAR(out[i], cpu_out[i], 1e-6f * (1.f + std::abs(cpu_out[i]))) << "forward " << i;
    EXPECT_NEAR(dinp[i], cpu_dinp[i], 1e-6f * (1.f + std::abs(cpu_dinp[i]))) << "backward " << i;
  }
}

TEST(CudaRows, DropoutRowsMatchThePerSequenceCpuMask) { expect_dropout_rows_match_cpu(0.3f); }
TEST(CudaRows, DropoutRowsWithZeroRateCopyAndAdd) { expect_dropout_rows_match_cpu(0.0f); }

}  // namespace
}  // namespace cf::cuda_test
