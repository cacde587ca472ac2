// bench_gpu: the GPU numbers of docs/benchmarks.md, measured in one run —
//  1. the bf16 GEMM rate of this GPU (cuBLASLt, 8192^3), the yardstick for everything below;
//  2. attention forward + backward time at T = 200, 1024, 4096, 8192 and head dims 64 and 128
//     for the custom flash kernel on tensor cores and on CUDA cores, cuDNN's fused attention
//     (where the build has it) and the reference kernel (T <= 4096), with the ratio the target
//     is stated in: tensor-core flash time / cuDNN time;
//  3. training steps (forward, backward, grad norm, AdamW) of the Beauty config and of a
//     GPT-2-small-sized config (12 layers, d = 768, T = 1024) on random full-length batches:
//     tokens/s and model-FLOPs utilisation (model FLOPs/s over the measured bf16 GEMM rate).
// Prints Markdown tables, the summary table last.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "data/batch.h"
#include "data/corpus.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/cudnn_attention.h"
#include "kernels/cuda/device_array.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/matmul_lt.h"
#include "tools/cli/args.h"
#include "trainer/config.h"
#include "trainer/model/cuda_model.h"
#include "trainer/model/model.h"
#include "trainer/optimizer.h"

namespace {

using cf::cuda::bf16;
using cf::cuda::DeviceArray;

// Milliseconds per call of `work` on `stream`: `warmup` untimed calls, then the mean of
// `repeats` timed with CUDA events.
double time_ms(cudaStream_t stream, int warmup, int repeats, const std::function<void()>& work) {
  for (int i = 0; i < warmup; ++i) work();
  cudaEvent_t start, stop;
  CF_CUDA_CHECK(cudaEventCreate(&start));
  CF_CUDA_CHECK(cudaEventCreate(&stop));
  CF_CUDA_CHECK(cudaEventRecord(start, stream));
  for (int i = 0; i < repeats; ++i) work();
  CF_CUDA_CHECK(cudaEventRecord(stop, stream));
  CF_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  CF_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return double(ms) / repeats;
}

template <class T>
void fill_random(DeviceArray<T>& a, uint64_t seed, float scale, cudaStream_t stream) {
  std::vector<float> host(size_t(a.size()));
  cf::Xoshiro256 rng(seed);
  for (auto& x : host) x = scale * (float(rng.next() >> 40) / 16777216.0f * 2.0f - 1.0f);
  if constexpr (std::is_same_v<T, float>) {
    a.upload(host.data(), a.size(), stream);
  } else {
    DeviceArray<float> staging(a.size());
    staging.upload(host.data(), a.size(), stream);
    cf::cuda::convert<T, float>(a.get(), staging.get(), a.size(), stream);
  }
  CF_CUDA_CHECK(cudaStreamSynchronize(stream));
}

// ---- 1. bf16 GEMM rate ------------------------------------------------------------------------
double bf16_gemm_tflops(cudaStream_t stream) {
  const int n = 8192;
  DeviceArray<bf16> a(int64_t(n) * n), b(int64_t(n) * n), c(int64_t(n) * n);
  fill_random(a, 1, 1.0f, stream);
  fill_random(b, 2, 1.0f, stream);
  cf::cuda::MatmulLt lt;
  const double ms = time_ms(stream, 3, 10, [&] {
    lt.gemm<bf16, bf16>(c.get(), a.get(), b.get(), n, n, n, false, false, 1.0f, 0.0f, stream);
  });
  return 2.0 * n * n * double(n) / (ms * 1e-3) / 1e12;
}

// ---- 2. attention -----------------------------------------------------------------------------
struct AttentionRow {
  int T = 0, B = 0, head_dim = 0;
  double tensor_core_ms = 0, cuda_core_ms = 0, cudnn_ms = -1, reference_ms = -1;  // -1: not run
};

AttentionRow bench_attention(int T, int head_dim, int tokens, cudaStream_t stream) {
  const int C = 768, NH = C / head_dim;
  const int B = std::max(1, tokens / T);
  AttentionRow row{T, B, head_dim};
  DeviceArray<bf16> qkv(int64_t(B) * T * 3 * C), out(int64_t(B) * T * C);
  DeviceArray<bf16> dout(int64_t(B) * T * C), dqkv(int64_t(B) * T * 3 * C);
  DeviceArray<float> lse(int64_t(B) * NH * T);
  DeviceArray<float> scratch(
      std::max(cf::cuda::flash_attention_backward_scratch_floats(B, T, C, NH),
               cf::cuda::tensor_core_flash_attention_backward_scratch_floats(B, T, NH)));
  DeviceArray<int32_t> lengths(B);
  fill_random(qkv, 3, 1.0f, stream);
  fill_random(dout, 4, 1.0f, stream);
  lengths.upload(std::vector<int32_t>(size_t(B), T), stream);
  // Deterministic backward everywhere: what training runs by default (cuda.deterministic).
  row.tensor_core_ms = time_ms(stream, 2, 5, [&] {
    cf::cuda::tensor_core_flash_attention_forward(out.get(), lse.get(), qkv.get(), lengths.get(), B,
                                                  T, C, NH, stream);
    cf::cuda::tensor_core_flash_attention_backward(dqkv.get(), scratch.get(), dout.get(), out.get(),
                                                   qkv.get(), lse.get(), lengths.get(), B, T, C, NH,
                                                   stream);
  });
  row.cuda_core_ms = time_ms(stream, 2, 5, [&] {
    cf::cuda::flash_attention_forward<bf16>(out.get(), lse.get(), qkv.get(), lengths.get(), B, T, C,
                                            NH, stream);
    cf::cuda::flash_attention_backward<bf16>(dqkv.get(), scratch.get(), dout.get(), out.get(),
                                             qkv.get(), lse.get(), lengths.get(), B, T, C, NH, true,
                                             stream);
  });
  if (cf::cuda::cudnn_attention_built()) {
    cf::cuda::CudnnAttention cudnn(C, NH);
    row.cudnn_ms = time_ms(stream, 2, 5, [&] {
      cudnn.forward(out.get(), lse.get(), qkv.get(), lengths.get(), B, T, stream);
      cudnn.backward(dqkv.get(), dout.get(), out.get(), qkv.get(), lse.get(), lengths.get(), B, T,
                     true, stream);
    });
  }
  if (T <= 4096) {  // B * NH * T^2 probabilities
    DeviceArray<float> att(int64_t(B) * NH * T * T);
    row.reference_ms = time_ms(stream, 1, 3, [&] {
      cf::cuda::reference_attention_forward<bf16>(out.get(), att.get(), qkv.get(), lengths.get(), B,
                                                  T, C, NH, stream);
      cf::cuda::reference_attention_backward<bf16>(dqkv.get(), dout.get(), qkv.get(), att.get(),
                                                   lengths.get(), B, T, C, NH, stream);
    });
  }
  return row;
}

std::string ms_or_dash(double ms) {
  if (ms < 0) return "—";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", ms);
  return text;
}

// ---- 3. training ------------------------------------------------------------------------------
struct TrainRow {
  std::string name;
  int64_t params = 0;
  int B = 0, T = 0;
  double ms_per_step = 0, tokens_per_s = 0, model_tflops = 0, mfu = 0;
};

// Random full-length sequences: every position real, next-item targets everywhere.
cf::data::Batch random_batch(const cf::data::VocabSizes& v, int B, int T, uint64_t seed) {
  cf::data::Batch batch;
  batch.resize(B, T);
  cf::Xoshiro256 rng(seed);
  auto draw = [&rng](int32_t vocab) {
    return vocab > 1 ? int32_t(1 + rng.next() % uint64_t(vocab - 1)) : 0;
  };
  for (int b = 0; b < B; ++b) {
    batch.length[size_t(b)] = T;
    for (int t = 0; t < T; ++t) {
      const size_t n = size_t(b) * T + t;
      batch.item[n] = draw(v.items);
      batch.action[n] = draw(v.actions);
      batch.category[n] = draw(v.categories);
      batch.time_gap[n] = draw(v.time_gaps);
      batch.activity[n] = draw(v.activities);
    }
    for (int t = 0; t + 1 < T; ++t) {
      const size_t n = size_t(b) * T + t;
      batch.target_item[n] = batch.item[n + 1];
    }
  }
  return batch;
}

TrainRow bench_training(const std::string& name, const cf::trainer::ModelConfig& config,
                        const cf::data::VocabSizes& vocab, int B, int steps, double peak_tflops) {
  cf::trainer::Model host(config, vocab);
  host.init_weights(1);
  cf::trainer::AdamW optimizer(host.tensors(), int64_t(host.params().size()), {});
  cf::trainer::CudaModel gpu(config, vocab, cf::trainer::CudaModelOptions{});
  gpu.upload_params(host.params());
  const cf::data::Batch batch = random_batch(vocab, B, config.max_len, 7);
  cf::trainer::LossOptions loss;
  loss.item_grad_scale = 1.0f / float(batch.num_targets());
  auto step = [&] {
    gpu.zero_grads();
    gpu.forward_backward(batch, loss, 1);
    const double norm = std::sqrt(gpu.grad_sum_of_squares(optimizer));
    gpu.adamw_step(optimizer, 1e-4f, cf::trainer::clip_factor(norm, 1.0f));
  };
  for (int i = 0; i < 2; ++i) step();  // warm-up: allocations, cuBLASLt heuristics
  CF_CUDA_CHECK(cudaDeviceSynchronize());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  CF_CUDA_CHECK(cudaDeviceSynchronize());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  TrainRow row;
  row.name = name;
  row.params = int64_t(host.params().size());
  row.B = B;
  row.T = config.max_len;
  row.ms_per_step = s / steps * 1e3;
  row.tokens_per_s = double(B) * config.max_len * steps / s;
  row.model_tflops = host.flops_per_token(config.max_len) * row.tokens_per_s / 1e12;
  row.mfu = row.model_tflops / peak_tflops;
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    cf::cli::ArgParser args("bench_gpu", "GEMM rate, attention kernels and training speed on GPU");
    args.option("beauty-config", "PATH", "the Beauty model config", "configs/pretrain/beauty.yaml");
    args.option("beauty-items", "N", "item vocabulary of the Beauty corpus (with padding)",
                "54544");
    args.option("gpt2-batch", "N", "sequences per step of the GPT-2-small config", "16");
    args.option("gpt2-items", "N", "item vocabulary of the GPT-2-small config", "50000");
    args.option("steps", "N", "timed training steps per config", "10");
    args.flag("quick", "smaller attention shapes and fewer steps (a smoke test)");
    if (!args.parse(argc - 1, argv + 1)) return 0;
    const bool quick = args.get_flag("quick");
    const int steps = quick ? 2 : int(args.get_int("steps"));

    const cf::cuda::CudaDeviceInfo info = cf::cuda::query_cuda_device(0);
    if (info.count == 0) throw cf::UserError("bench_gpu: " + info.unavailable);
    cf::cuda::use_cuda_device(0);
    cudaStream_t stream;
    CF_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    std::printf("GPU: %s (sm_%d%d, %zu GiB, %d SMs)\n\n", info.name.c_str(), info.major, info.minor,
                info.memory_bytes >> 30, info.multiprocessors);

    const double peak = bf16_gemm_tflops(stream);
    std::printf("bf16 GEMM 8192^3 (cuBLASLt): %.1f TFLOP/s\n\n", peak);

    std::printf(
        "| attention fwd+bwd, bf16, d = 768 | head dim | B | flash, tensor cores ms | "
        "flash, CUDA cores ms | cuDNN ms | reference ms | tensor cores / cuDNN (target <= 1.1) "
        "|\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (int head_dim : {64, 128}) {
      for (int T : {200, 1024, 4096, 8192}) {
        if (quick && T > 1024) continue;
        const AttentionRow r = bench_attention(T, head_dim, quick ? 2048 : 16384, stream);
        std::string ratio = "—";
        if (r.cudnn_ms > 0) ratio = std::to_string(r.tensor_core_ms / r.cudnn_ms).substr(0, 4);
        std::printf("| T = %d | %d | %d | %.3f | %.3f | %s | %s | %s |\n", r.T, r.head_dim, r.B,
                    r.tensor_core_ms, r.cuda_core_ms, ms_or_dash(r.cudnn_ms).c_str(),
                    ms_or_dash(r.reference_ms).c_str(), ratio.c_str());
      }
    }
    if (!cf::cuda::cudnn_attention_built())
      std::printf("(cuDNN attention not built: run tools/fetch_cudnn_frontend.sh and rebuild)\n");
    std::printf("\n");

    cf::trainer::Config beauty = cf::trainer::load_config(args.get("beauty-config"));
    cf::data::VocabSizes beauty_vocab;
    beauty_vocab.items = int32_t(args.get_int("beauty-items"));
    beauty_vocab.actions = 5;
    beauty_vocab.categories = beauty_vocab.time_gaps = beauty_vocab.activities = 1;
    cf::trainer::ModelConfig gpt2;
    gpt2.n_layer = 12;
    gpt2.n_head = 12;
    gpt2.d_model = 768;
    gpt2.d_ff = 3072;
    gpt2.max_len = quick ? 256 : 1024;
    gpt2.dropout = 0.1f;
    gpt2.use_action = gpt2.use_category = gpt2.use_time_gap = gpt2.use_activity = false;
    cf::data::VocabSizes gpt2_vocab;
    gpt2_vocab.items = int32_t(args.get_int("gpt2-items"));
    gpt2_vocab.actions = 5;
    gpt2_vocab.categories = gpt2_vocab.time_gaps = gpt2_vocab.activities = 1;

    std::vector<TrainRow> rows;
    rows.push_back(bench_training("Beauty (configs/pretrain/beauty.yaml)", beauty.model,
                                  beauty_vocab, beauty.train.micro_batch, steps, peak));
    rows.push_back(
        bench_training("GPT-2-small size (12 x 768, T = " + std::to_string(gpt2.max_len) + ")",
                       gpt2, gpt2_vocab, int(args.get_int("gpt2-batch")), steps, peak));

    std::printf(
        "| training step, bf16, flash attention (tensor cores) | params | B x T | ms/step | "
        "tokens/s | "
        "model TFLOP/s | MFU (vs %.0f TFLOP/s bf16 GEMM) |\n",
        peak);
    std::printf("|---|---|---|---|---|---|---|\n");
    for (const TrainRow& r : rows)
      std::printf("| %s | %.1fM | %d x %d | %.1f | %.0f | %.1f | %.1f%% |\n", r.name.c_str(),
                  double(r.params) / 1e6, r.B, r.T, r.ms_per_step, r.tokens_per_s, r.model_tflops,
                  100.0 * r.mfu);
    cudaStreamDestroy(stream);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: error: %s\n", e.what());
    return 1;
  }
}
