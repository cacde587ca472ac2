// GPU op tests in the style of ggml's test-backend-ops: every function of kernels/cuda/cuda_ops.h
// and MatmulLt::forward/backward, for T = fp32 and bf16, against the CPU reference ops of
// kernels/ops.h (run in double, so the reference itself adds no error worth counting).
//
// Inputs:
//  - Fresh random values every run. The seed is in every failure message; rerun with
//    CARTFORMER_TEST_SEED=<seed> (and --gtest_filter) to reproduce a failure.
//  - bf16 inputs are drawn as floats and rounded to bf16 (round to nearest even, as on the
//    device); the CPU reference gets the same rounded values, so only the kernel is measured.
//  - Outputs an op only writes are poisoned first (every byte 0xFF: NaN in fp32 and bf16, -1 in
//    integers), so an element the kernel forgets fails. Outputs an op accumulates into (+=) start
//    from random values that the reference starts from too. Every element is checked.
//
// Tolerances (expect_close): |gpu - cpu| <= tol * (|cpu| + scale), where `scale` is the typical
// magnitude of the tensor (its rms, or what its error is made of; each check says which), so
// elements near zero get an absolute bound set by the tensor rather than by their own size.
//  - tol = 1e-5 for results of fp32 ops, 1e-2 for results of bf16 ops (kTol<T>).
//  - An fp32 result computed from exact inputs entirely in fp32 (parameter gradients, losses,
//    LayerNorm statistics when no bf16 rounding happens on the way) is held to 1e-5 in the bf16
//    tests too (kTolF32): the header promises fp32 accumulation, and 1e-2 would hide bf16 sums.
//  - Pure data movement (gather, scatter, conversions, the p = 0 dropout copy) must be exact.
// The reasons for each scale are next to the checks.
//
// Nothing here touches CUDA before a test body runs (see device_buffer.h): the fixture's SetUp
// checks for a device and skips the test with the reason when there is none.
#include "kernels/cuda/cuda_ops.h"

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iomanip>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "device_buffer.h"
#include "kernels/cuda/cudnn_attention.h"
#include "kernels/cuda/embedding_grad_plan.h"
#include "kernels/cuda/matmul_lt.h"
#include "kernels/dropout_mask.h"
#include "kernels/ops.h"

namespace cf::cuda_test {
namespace {

using cf::cuda::bf16;
using cf::cuda::Epilogue;

// ---- precision ----------------------------------------------------------------------------

template <class T>
constexpr bool kIsF32 = std::is_same_v<T, float>;

constexpr double kTolF32 = 1e-5;
constexpr double kTolBf16 = 1e-2;
template <class T>
constexpr double kTol = kIsF32<T> ? kTolF32 : kTolBf16;

template <class T>
T from_float(float x) {
  if constexpr (kIsF32<T>) {
    return x;
  } else {
    return __float2bfloat16(x);  // round to nearest even, the device's conversion
  }
}

inline double as_double(double x) { return x; }
inline double as_double(float x) { return x; }
inline double as_double(bf16 x) { return double(__bfloat162float(x)); }
inline double as_double(int32_t x) { return x; }

inline uint16_t bits_of(bf16 x) {
  uint16_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
inline uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
inline bf16 bf16_from_bits(uint16_t b) {
  __nv_bfloat16_raw raw;
  raw.x = b;
  return bf16(raw);
}
inline float float_from_bits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

template <class T>
std::vector<T> to_type(const std::vector<float>& v) {
  std::vector<T> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = from_float<T>(v[i]);
  return out;
}

template <class T>
std::vector<double> to_doubles(const std::vector<T>& v) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = as_double(v[i]);
  return out;
}

template <class T>
DeviceBuffer<T> to_device(const std::vector<float>& host, cudaStream_t stream) {
  return DeviceBuffer<T>(to_type<T>(host), stream);
}

template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// ---- random inputs ------------------------------------------------------------------------

// CARTFORMER_TEST_SEED=<seed> reproduces a run; otherwise a fresh seed from std::random_device.
uint64_t test_seed() {
  if (const char* env = std::getenv("CARTFORMER_TEST_SEED"); env != nullptr && *env != '\0')
    return std::stoull(env);
  std::random_device device;
  return (uint64_t(device()) << 32) ^ uint64_t(device());
}

class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}

  double uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(engine_);
  }
  int integer(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(engine_); }
  bool chance(double p) { return uniform(0.0, 1.0) < p; }
  uint64_t bits() { return engine_(); }
  std::mt19937_64& engine() { return engine_; }

  // n values uniform in [lo, hi), rounded to T: exact in T and in float, so the GPU (as T) and
  // the CPU reference (as float or double) see the same numbers.
  template <class T>
  std::vector<float> values(size_t n, double lo, double hi) {
    std::vector<float> v(n);
    for (auto& x : v) x = float(as_double(from_float<T>(float(uniform(lo, hi)))));
    return v;
  }
  // Magnitudes in [lo, hi) (lo > 0) with random signs, rounded to T: never zero.
  template <class T>
  std::vector<float> nonzero_values(size_t n, double lo, double hi) {
    std::vector<float> v(n);
    for (auto& x : v) {
      const double magnitude = uniform(lo, hi);
      x = float(as_double(from_float<T>(float(chance(0.5) ? magnitude : -magnitude))));
    }
    return v;
  }
  std::vector<int32_t> ids(size_t n, int lo, int hi) {
    std::vector<int32_t> v(n);
    for (auto& x : v) x = integer(lo, hi);
    return v;
  }

 private:
  std::mt19937_64 engine_;
};

// ---- comparisons --------------------------------------------------------------------------

double rms(const std::vector<double>& v) {
  if (v.empty()) return 0.0;
  double sum = 0;
  for (double x : v) sum += x * x;
  return std::sqrt(sum / double(v.size()));
}

double rms(const std::vector<float>& v) { return rms(to_doubles(v)); }

// The rms of what an accumulating op added: after - before.
double rms_increment(const std::vector<double>& after, const std::vector<float>& before) {
  std::vector<double> diff(after.size());
  for (size_t i = 0; i < after.size(); ++i) diff[i] = after[i] - double(before[i]);
  return rms(diff);
}

// "[i]" or, with dims, "[b, t, c]".
std::string index_name(size_t i, const std::vector<int64_t>& dims) {
  if (dims.empty()) return cat("[", i, "]");
  std::vector<int64_t> index(dims.size());
  uint64_t rest = i;
  for (size_t d = dims.size(); d-- > 0;) {
    index[d] = int64_t(rest % uint64_t(dims[d]));
    rest /= uint64_t(dims[d]);
  }
  std::string name = "[";
  for (size_t d = 0; d < index.size(); ++d) name += (d ? ", " : "") + std::to_string(index[d]);
  return name + "]";
}

// Every checked element i: |gpu[i] - want[i]| <= tol * (|want[i]| + scale[i]). NaN (a poisoned
// element the op never wrote) always fails. On failure: the op, how many elements are off, the
// first few and the worst, each with its index, GPU and CPU values.
template <class G>
void expect_close_scaled(const std::string& what, const std::vector<G>& gpu,
                         const std::vector<double>& want, double tol,
                         const std::function<double(size_t)>& scale,
                         const std::vector<int64_t>& dims = {},
                         const std::function<bool(size_t)>& checked = {}) {
  ASSERT_EQ(gpu.size(), want.size()) << what << ": GPU and CPU results differ in size";
  size_t bad = 0, count = 0, worst = 0;
  double worst_ratio = 0;
  std::ostringstream first;
  first << std::setprecision(9);
  for (size_t i = 0; i < want.size(); ++i) {
    if (checked && !checked(i)) continue;
    ++count;
    const double g = as_double(gpu[i]), w = want[i];
    const double err = std::abs(g - w);
    const double bound = tol * (std::abs(w) + scale(i));
    if (err <= bound) continue;
    const double ratio =
        bound > 0 && !std::isnan(err) ? err / bound : std::numeric_limits<double>::infinity();
    if (bad == 0 || ratio > worst_ratio) {
      worst = i;
      worst_ratio = ratio;
    }
    if (++bad <= 5)
      first << "\n  " << index_name(i, dims) << ": gpu " << g << ", cpu " << w << ", |diff| " << err
            << " > bound " << bound;
  }
  if (bad == 0) return;
  ADD_FAILURE() << std::setprecision(9) << what << ": " << bad << " of " << count
                << " elements outside |gpu - cpu| <= tol * (|cpu| + scale), tol " << tol
                << first.str() << "\n  worst " << index_name(worst, dims) << ": gpu "
                << as_double(gpu[worst]) << ", cpu " << want[worst] << ", scale " << scale(worst)
                << " (" << worst_ratio << " x the bound)";
}

template <class G>
void expect_close(const std::string& what, const std::vector<G>& gpu,
                  const std::vector<double>& want, double tol, double scale,
                  const std::vector<int64_t>& dims = {},
                  const std::function<bool(size_t)>& checked = {}) {
  expect_close_scaled(
      what, gpu, want, tol, [scale](size_t) { return scale; }, dims, checked);
}

// Two results that must be bit for bit the same (determinism).
template <class T>
void expect_bitwise_equal(const std::string& what, const std::vector<T>& a,
                          const std::vector<T>& b) {
  ASSERT_EQ(a.size(), b.size()) << what;
  size_t differing = 0, first = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0 && differing++ == 0) first = i;
  }
  EXPECT_EQ(differing, 0u) << std::setprecision(9) << what << ": " << differing << " of "
                           << a.size() << " elements differ between two runs, first [" << first
                           << "]: " << as_double(a[first]) << " vs " << as_double(b[first]);
}

// Dropout masks must match the CPU's exactly: kept[i] on the GPU == kept[i] on the CPU.
void expect_same_mask(const std::string& what, const std::vector<bool>& gpu_kept,
                      const std::vector<bool>& cpu_kept, const std::vector<int64_t>& dims = {}) {
  ASSERT_EQ(gpu_kept.size(), cpu_kept.size()) << what;
  size_t bad = 0;
  std::ostringstream first;
  for (size_t i = 0; i < cpu_kept.size(); ++i) {
    if (gpu_kept[i] == cpu_kept[i]) continue;
    if (++bad <= 5)
      first << "\n  " << index_name(i, dims) << ": gpu " << (gpu_kept[i] ? "kept" : "dropped")
            << ", cpu " << (cpu_kept[i] ? "kept" : "dropped");
  }
  EXPECT_EQ(bad, 0u) << what << ": the kept/dropped pattern differs from the CPU mask in " << bad
                     << " of " << cpu_kept.size() << " elements" << first.str();
}

// ---- fixtures -----------------------------------------------------------------------------

// Per test: skip without a GPU, a fresh seed (in every failure message, and in the XML report
// as the property "seed"), and a stream of its own.
class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    CF_SKIP_WITHOUT_GPU("the CUDA op tests");
    seed_ = test_seed();
    trace_ = std::make_unique<::testing::ScopedTrace>(
        __FILE__, __LINE__,
        cat("random seed ", seed_, " (reproduce with CARTFORMER_TEST_SEED=", seed_, ")"));
    RecordProperty("seed", std::to_string(seed_));
    rng_ = std::make_unique<Random>(seed_);
    stream_ = std::make_unique<CudaStream>();
  }
  void TearDown() override {
    stream_.reset();
    trace_.reset();
  }

  Random& rng() { return *rng_; }
  cudaStream_t stream() const { return stream_->get(); }

 private:
  uint64_t seed_ = 0;
  std::unique_ptr<::testing::ScopedTrace> trace_;
  std::unique_ptr<Random> rng_;
  std::unique_ptr<CudaStream> stream_;
};

template <class T>
class CudaOpsTyped : public CudaOps {};

struct DtypeNames {
  template <class T>
  static std::string GetName(int) {
    return kIsF32<T> ? "fp32" : "bf16";
  }
};
using Dtypes = ::testing::Types<float, bf16>;
TYPED_TEST_SUITE(CudaOpsTyped, Dtypes, DtypeNames);

// ---- shapes -------------------------------------------------------------------------------

// Flat sizes of the elementwise ops: one element, odd sizes below and above a warp / block, a
// large odd size (not a multiple of any vector width or grid stride).
const int64_t kSizes[] = {1, 7, 65, 1000, (int64_t(1) << 20) + 3};

// Rows x width of the row ops: N = 1, odd N, widths that are not multiples of 32 (48, 200), a
// wide row, and last an odd width (the API states no alignment requirement on C).
struct RowShape {
  int N, C;
};
const RowShape kRowShapes[] = {{1, 48}, {7, 200}, {65, 64}, {256, 768}, {3, 1024}, {5, 37}};

std::string describe(const RowShape& shape) { return cat("N ", shape.N, ", C ", shape.C); }

// ---- conversions --------------------------------------------------------------------------

// A float whose bf16 rounding is worth testing: small, of any magnitude (denormals to near
// overflow), or exactly halfway between two bf16 values (where only round-to-nearest-even
// gives the host's answer).
float conversion_input(Random& rng) {
  switch (rng.integer(0, 2)) {
    case 0:
      return float(rng.uniform(-1, 1));
    case 1: {
      const double x = std::ldexp(rng.uniform(1, 2), rng.integer(-133, 127));
      return float(rng.chance(0.5) ? x : -x);
    }
    default: {
      const uint32_t upper = uint32_t(rng.integer(0, 0x7F7E));  // finite, and upper + 1 too
      const uint32_t sign = rng.chance(0.5) ? 0x80000000u : 0u;
      return float_from_bits(sign | (upper << 16) | 0x8000u);
    }
  }
}

TEST_F(CudaOps, ConvertFloatToBf16RoundsToNearestEven) {
  const cudaStream_t s = stream();
  const float inf = std::numeric_limits<float>::infinity();
  const float big = std::numeric_limits<float>::max();  // above bf16's largest: rounds to inf
  // clang-format off
  const std::vector<float> specials = {
      0.0f, -0.0f, inf, -inf,                              // signed zeros and infinities
      big, -big,                                           // round to +-inf
      3.3895314e38f,                                       // bf16's largest finite value
      std::numeric_limits<float>::min(), 1e-40f, -3e-39f,  // smallest normal, denormals
      1.00390625f, -1.00390625f,                           // halfway: down to the even 1.0
      1.01171875f,                                         // halfway: up to the even 1.015625
      std::numeric_limits<float>::quiet_NaN()};
  // clang-format on
  for (const int64_t n : {int64_t(1), int64_t(7), int64_t(1000), int64_t(65537)}) {
    SCOPED_TRACE(cat("n ", n));
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = conversion_input(rng());
    if (n >= 1000) std::copy(specials.begin(), specials.end(), x.begin());
    DeviceBuffer<float> d_in(x, s);
    DeviceBuffer<bf16> d_out(static_cast<size_t>(n));
    d_out.poison(s);
    cf::cuda::convert(d_out.get(), d_in.get(), n, s);
    const std::vector<bf16> got = d_out.download(s);
    size_t bad = 0;
    std::ostringstream first;
    for (size_t i = 0; i < x.size(); ++i) {
      const bf16 want = __float2bfloat16(x[i]);
      const bool ok =
          std::isnan(x[i]) ? std::isnan(as_double(got[i])) : bits_of(got[i]) == bits_of(want);
      if (!ok && ++bad <= 5)
        first << "\n  [" << i << "] " << std::setprecision(9) << x[i] << " (0x" << std::hex
              << bits_of(x[i]) << "): gpu 0x" << bits_of(got[i]) << ", host 0x" << bits_of(want)
              << std::dec;
    }
    EXPECT_EQ(bad, 0u) << "convert float -> bf16: " << bad << " of " << n
                       << " elements differ from __float2bfloat16" << first.str();
  }
}

TEST_F(CudaOps, ConvertBf16ToFloatIsExact) {
  const cudaStream_t s = stream();
  for (const int64_t n : {int64_t(1), int64_t(7), int64_t(65536)}) {
    SCOPED_TRACE(cat("n ", n));
    std::vector<bf16> x(static_cast<size_t>(n));
    for (size_t i = 0; i < x.size(); ++i)  // n = 65536: every bf16 bit pattern once
      x[i] = bf16_from_bits(uint16_t(n == 65536 ? int(i) : rng().integer(0, 0xFFFF)));
    DeviceBuffer<bf16> d_in(x, s);
    DeviceBuffer<float> d_out(static_cast<size_t>(n));
    d_out.poison(s);
    cf::cuda::convert(d_out.get(), d_in.get(), n, s);
    const std::vector<float> got = d_out.download(s);
    size_t bad = 0;
    std::ostringstream first;
    for (size_t i = 0; i < x.size(); ++i) {
      const float want = float_from_bits(uint32_t(bits_of(x[i])) << 16);  // bf16 is float's top
      const bool ok = std::isnan(want) ? std::isnan(got[i]) : bits_of(got[i]) == bits_of(want);
      if (!ok && ++bad <= 5)
        first << "\n  [" << i << "] bf16 0x" << std::hex << bits_of(x[i]) << ": gpu 0x"
              << bits_of(got[i]) << ", want 0x" << bits_of(want) << std::dec;
    }
    EXPECT_EQ(bad, 0u) << "convert bf16 -> float: " << bad << " of " << n
                       << " elements are not the exact widening" << first.str();
  }
}

// ---- embeddings ---------------------------------------------------------------------------

struct EmbeddingShape {
  int N, C, V;
};
std::string describe(const EmbeddingShape& shape) {
  return cat("N ", shape.N, ", C ", shape.C, ", V ", shape.V);
}

TYPED_TEST(CudaOpsTyped, EmbeddingForward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const EmbeddingShape& shape :
       {EmbeddingShape{1, 48, 5}, EmbeddingShape{7, 200, 13}, EmbeddingShape{200, 64, 3},
        EmbeddingShape{1000, 768, 5000}, EmbeddingShape{9, 37, 4}}) {
    const int N = shape.N, C = shape.C, V = shape.V;
    SCOPED_TRACE(describe(shape));
    std::vector<int32_t> ids = rng.ids(size_t(N), 0, V - 1);
    ids.front() = V - 1;  // the last table row
    ids.back() = 0;
    const auto table = rng.values<T>(size_t(V) * C, -1, 1);
    const auto out0 = rng.values<T>(size_t(N) * C, -1, 1);  // out accumulates (+=)
    auto d_table = to_device<T>(table, s);
    auto d_out = to_device<T>(out0, s);
    DeviceBuffer<int32_t> d_ids(ids, s);
    cf::cuda::embedding_forward<T>(d_out.get(), d_ids.get(), d_table.get(), N, C, s);

    std::vector<double> want = to_doubles(out0);
    cf::ops::embedding_forward<double>(want.data(), ids.data(), to_doubles(table).data(), N, C);
    // One addition per element: exact in double; the GPU rounds once to T.
    expect_close("embedding_forward out", d_out.download(s), want, kTol<T>, rms(want), {N, C});
  }
}

TYPED_TEST(CudaOpsTyped, EmbeddingBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  // V = 3 with N = 1000 gives ~333 rows per table row (long per-id sums); V = 1000 with N = 200
  // mostly single rows; N = 1 a plan of one row.
  for (const EmbeddingShape& shape :
       {EmbeddingShape{1, 48, 5}, EmbeddingShape{7, 200, 3}, EmbeddingShape{200, 64, 1000},
        EmbeddingShape{1000, 256, 3}, EmbeddingShape{9, 37, 4}}) {
    const int N = shape.N, C = shape.C, V = shape.V;
    SCOPED_TRACE(describe(shape));
    const std::vector<int32_t> ids = rng.ids(size_t(N), 0, V - 1);
    const auto dout = rng.values<T>(size_t(N) * C, -1, 1);
    const auto dtable0 = rng.values<float>(size_t(V) * C, -1, 1);  // fp32, accumulated into
    const cf::cuda::EmbeddingGradPlan plan = cf::cuda::make_embedding_grad_plan(ids.data(), N);
    const int U = int(plan.unique_ids.size());
    DeviceBuffer<int32_t> d_unique(plan.unique_ids, s), d_offsets(plan.offsets, s),
        d_rows(plan.rows, s);
    auto d_dout = to_device<T>(dout, s);
    auto d_dtable = to_device<float>(dtable0, s);
    cf::cuda::embedding_backward<T>(d_dtable.get(), d_unique.get(), d_offsets.get(), d_rows.get(),
                                    U, d_dout.get(), C, s);

    std::vector<double> want = to_doubles(dtable0);
    cf::ops::embedding_backward<double>(want.data(), ids.data(), to_doubles(dout).data(), N, C);
    // fp32 sums of exact inputs (also for bf16 dout), so 1e-5 in both tests. Scale: the rms of
    // the table gradient. A sequential fp32 sum of k terms in [-1, 1) errs by ~2^-24 k / 4
    // (1 sigma): 5e-6 for k = 333, against a bound of at least 1e-5 x rms ~ 1e-4 there.
    expect_close("embedding_backward dtable", d_dtable.download(s), want, kTolF32, rms(want),
                 {V, C});
  }
}

// ---- layer norm ---------------------------------------------------------------------------

TYPED_TEST(CudaOpsTyped, ResidualLayerNormForward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  const float eps = 1e-5f;
  for (const RowShape& shape : kRowShapes) {
    for (const bool with_b : {true, false}) {
      const int N = shape.N, C = shape.C;
      const size_t NC = size_t(N) * C;
      SCOPED_TRACE(cat(describe(shape), with_b ? ", residual = a + b" : ", b = null"));
      const auto a = rng.values<T>(NC, -2, 2);
      const auto b = rng.values<T>(NC, -1, 1);
      const auto weight = rng.values<T>(size_t(C), -1.5, 1.5);
      const auto bias = rng.values<T>(size_t(C), -0.5, 0.5);
      auto d_a = to_device<T>(a, s), d_b = to_device<T>(b, s);
      auto d_weight = to_device<T>(weight, s), d_bias = to_device<T>(bias, s);
      DeviceBuffer<T> d_residual(NC), d_out(NC);
      DeviceBuffer<float> d_mean(static_cast<size_t>(N)), d_rstd(static_cast<size_t>(N));
      d_residual.poison(s);
      d_out.poison(s);
      d_mean.poison(s);
      d_rstd.poison(s);
      cf::cuda::residual_layernorm_forward<T>(
          with_b ? d_residual.get() : nullptr, d_out.get(), d_mean.get(), d_rstd.get(), d_a.get(),
          with_b ? d_b.get() : nullptr, d_weight.get(), d_bias.get(), N, C, s, eps);

      // Reference: residual_forward, then layernorm_forward.
      std::vector<double> x = to_doubles(a);
      if (with_b) {
        const std::vector<double> a_d = to_doubles(a), b_d = to_doubles(b);
        cf::ops::residual_forward<double>(x.data(), a_d.data(), b_d.data(), int64_t(NC));
      }
      std::vector<double> out(NC), mean(static_cast<size_t>(N)), rstd(static_cast<size_t>(N));
      cf::ops::layernorm_forward<double>(out.data(), mean.data(), rstd.data(), x.data(),
                                         to_doubles(weight).data(), to_doubles(bias).data(), N, C,
                                         double(eps));

      if (with_b)
        expect_close("residual_layernorm_forward residual", d_residual.download(s), x, kTol<T>,
                     rms(x), {N, C});
      // bf16 (unit roundoff 2^-8): the GPU may normalise the bf16-rounded residual (as llm.c
      // does) or the fp32 sum; the two differ by <= 2^-8 |x - mean| rstd |w| = 2^-8 |out - bias|
      // (plus second-order shifts of mean and rstd), and out is rounded once more: at worst
      // 2^-8 (2 |out| + 0.5) against the bound 1e-2 (|out| + rms(out) ~ 0.9), i.e. < 0.8 of it.
      // Scale: rms of out.
      expect_close("residual_layernorm_forward out", d_out.download(s), out, kTol<T>, rms(out),
                   {N, C});
      // mean's error is absolute, in units of x: scale rms(x). rstd is a relative quantity:
      // scale rms(rstd). fp32 statistics of exact inputs get 1e-5; with a bf16 residual in
      // between (see above) the bf16 bound.
      const double stat_tol = kIsF32<T> || !with_b ? kTolF32 : kTolBf16;
      expect_close("residual_layernorm_forward mean", d_mean.download(s), mean, stat_tol, rms(x),
                   {N});
      expect_close("residual_layernorm_forward rstd", d_rstd.download(s), rstd, stat_tol, rms(rstd),
                   {N});
    }
  }
}

TYPED_TEST(CudaOpsTyped, LayerNormBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const RowShape& shape : kRowShapes) {
    const int N = shape.N, C = shape.C;
    const size_t NC = size_t(N) * C;
    SCOPED_TRACE(describe(shape));
    const auto inp = rng.values<T>(NC, -2, 2);
    const auto weight = rng.values<T>(size_t(C), -1.5, 1.5);
    const auto dout = rng.values<T>(NC, -1, 1);
    // mean and rstd as the forward leaves them (fp32); the same values go to GPU and CPU.
    std::vector<float> mean(static_cast<size_t>(N)), rstd(static_cast<size_t>(N)), unused_out(NC),
        zero_bias(size_t(C), 0);
    cf::ops::layernorm_forward<float>(unused_out.data(), mean.data(), rstd.data(), inp.data(),
                                      weight.data(), zero_bias.data(), N, C, 1e-5f);
    const auto dinp0 = rng.values<T>(NC, -1, 1);  // every gradient accumulates (+=)
    const auto dweight0 = rng.values<float>(size_t(C), -1, 1);
    const auto dbias0 = rng.values<float>(size_t(C), -1, 1);
    auto d_inp = to_device<T>(inp, s), d_weight = to_device<T>(weight, s);
    auto d_dout = to_device<T>(dout, s), d_dinp = to_device<T>(dinp0, s);
    auto d_mean = to_device<float>(mean, s), d_rstd = to_device<float>(rstd, s);
    auto d_dweight = to_device<float>(dweight0, s), d_dbias = to_device<float>(dbias0, s);
    const int64_t scratch_floats = cf::cuda::layernorm_backward_scratch_floats(N, C);
    ASSERT_GE(scratch_floats, 0);
    // The header does not ask callers to clear the scratch: the op must not rely on its contents.
    DeviceBuffer<float> d_scratch(size_t(std::max<int64_t>(scratch_floats, 1)));
    d_scratch.poison(s);
    cf::cuda::layernorm_backward<T>(d_dinp.get(), d_dweight.get(), d_dbias.get(), d_scratch.get(),
                                    d_dout.get(), d_inp.get(), d_weight.get(), d_mean.get(),
                                    d_rstd.get(), N, C, s);

    std::vector<double> dinp = to_doubles(dinp0), dweight = to_doubles(dweight0),
                        dbias = to_doubles(dbias0);
    cf::ops::layernorm_backward<double>(
        dinp.data(), dweight.data(), dbias.data(), to_doubles(dout).data(), to_doubles(inp).data(),
        to_doubles(weight).data(), to_doubles(mean).data(), to_doubles(rstd).data(), N, C);
    // Scale: rms of what the backward adds (the row terms (g w - mean(g w) - norm mean(g w norm))
    // rstd are of that size).
    expect_close("layernorm_backward dinp", d_dinp.download(s), dinp, kTol<T>,
                 rms_increment(dinp, dinp0), {N, C});
    // Parameter gradients: fp32 sums over N rows of exact inputs (dout, inp as T; mean, rstd as
    // fp32), so 1e-5 in both tests; scale: rms of the sums.
    expect_close("layernorm_backward dweight", d_dweight.download(s), dweight, kTolF32,
                 rms_increment(dweight, dweight0), {C});
    expect_close("layernorm_backward dbias", d_dbias.download(s), dbias, kTolF32,
                 rms_increment(dbias, dbias0), {C});
  }
}

// ---- elementwise --------------------------------------------------------------------------

TYPED_TEST(CudaOpsTyped, GeluForward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const int64_t n : kSizes) {
    SCOPED_TRACE(cat("n ", n));
    const auto x = rng.values<T>(size_t(n), -6, 6);  // both tails: gelu ~ 0 and gelu ~ x
    auto d_x = to_device<T>(x, s);
    DeviceBuffer<T> d_out(static_cast<size_t>(n));
    d_out.poison(s);
    cf::cuda::gelu_forward<T>(d_out.get(), d_x.get(), n, s);
    std::vector<double> want(static_cast<size_t>(n));
    cf::ops::gelu_forward<double>(want.data(), to_doubles(x).data(), n);
    // Scale: rms of the input x. gelu(x) = x sigmoid(2u) is x times a factor <= 1, and the tanh
    // form 0.5 x (1 + tanh u) loses ~2^-24 |x| absolutely for negative x (gelu(-5.4) ~ -1.6e-8
    // comes out as -0 in fp32): the error scales with x, not with the tiny result.
    expect_close("gelu_forward", d_out.download(s), want, kTol<T>, rms(x));
  }
}

TYPED_TEST(CudaOpsTyped, GeluBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const int64_t n : kSizes) {
    SCOPED_TRACE(cat("n ", n));
    const auto x = rng.values<T>(size_t(n), -6, 6);
    const auto dout = rng.values<T>(size_t(n), -1, 1);
    const auto dinp0 = rng.values<T>(size_t(n), -1, 1);
    auto d_x = to_device<T>(x, s), d_dout = to_device<T>(dout, s);
    auto d_dinp = to_device<T>(dinp0, s);
    cf::cuda::gelu_backward<T>(d_dinp.get(), d_x.get(), d_dout.get(), n, s);
    std::vector<double> want = to_doubles(dinp0);
    cf::ops::gelu_backward<double>(want.data(), to_doubles(x).data(), to_doubles(dout).data(), n);
    // Scale: rms of dout: the increment is gelu'(x) dout with |gelu'| <= 1.13, and gelu'(x)
    // (1 + tanh u and 1 - tanh^2 u on the GPU) is accurate to ~2^-24 absolutely, not relatively.
    expect_close("gelu_backward dinp", d_dinp.download(s), want, kTol<T>, rms(dout));
  }
}

TYPED_TEST(CudaOpsTyped, ResidualForward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const int64_t n : kSizes) {
    SCOPED_TRACE(cat("n ", n));
    const auto a = rng.values<T>(size_t(n), -2, 2);
    const auto b = rng.values<T>(size_t(n), -1, 1);
    auto d_a = to_device<T>(a, s), d_b = to_device<T>(b, s);
    DeviceBuffer<T> d_out(static_cast<size_t>(n));
    d_out.poison(s);
    cf::cuda::residual_forward<T>(d_out.get(), d_a.get(), d_b.get(), n, s);
    std::vector<double> want(static_cast<size_t>(n));
    cf::ops::residual_forward<double>(want.data(), to_doubles(a).data(), to_doubles(b).data(), n);
    // Scale: rms of a, the larger operand (an exact sum rounded once: |cpu| alone would do).
    expect_close("residual_forward", d_out.download(s), want, kTol<T>, rms(a));
  }
}

// ---- LiGR block ops, against the CPU ops in double -------------------------------------------

TYPED_TEST(CudaOpsTyped, SigmoidForward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const int64_t n : kSizes) {
    SCOPED_TRACE(cat("n ", n));
    const auto x = rng.values<T>(size_t(n), -8, 8);
    auto d_x = to_device<T>(x, s);
    DeviceBuffer<T> d_out(static_cast<size_t>(n));
    d_out.poison(s);
    cf::cuda::sigmoid_forward<T>(d_out.get(), d_x.get(), n, s);
    std::vector<double> want(static_cast<size_t>(n));
    cf::ops::sigmoid_forward<double>(want.data(), to_doubles(x).data(), n);
    // Scale 1: the result lies in (0, 1) and the GPU's expf is accurate to ~2^-24 of it.
    expect_close("sigmoid_forward", d_out.download(s), want, kTol<T>, 1.0);
  }
}

TYPED_TEST(CudaOpsTyped, GatedResidualForwardAndBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const int64_t n : kSizes) {
    SCOPED_TRACE(cat("n ", n));
    const auto x = rng.values<T>(size_t(n), -2, 2), gate = rng.values<T>(size_t(n), 0, 1);
    const auto branch = rng.values<T>(size_t(n), -1, 1), dout = rng.values<T>(size_t(n), -1, 1);
    const auto dgate0 = rng.values<T>(size_t(n), -1, 1), dbranch0 = rng.values<T>(size_t(n), -1, 1);
    auto d_x = to_device<T>(x, s), d_gate = to_device<T>(gate, s);
    auto d_branch = to_device<T>(branch, s), d_dout = to_device<T>(dout, s);
    DeviceBuffer<T> d_out(static_cast<size_t>(n));
    d_out.poison(s);
    cf::cuda::gated_residual_forward<T>(d_out.get(), d_x.get(), d_gate.get(), d_branch.get(), n, s);
    std::vector<double> want(static_cast<size_t>(n));
    cf::ops::gated_residual_forward<double>(want.data(), to_doubles(x).data(),
                                            to_doubles(gate).data(), to_doubles(branch).data(), n);
    expect_close("gated_residual_forward", d_out.download(s), want, kTol<T>, rms(x));

    auto d_dgate = to_device<T>(dgate0, s), d_dbranch = to_device<T>(dbranch0, s);
    cf::cuda::gated_residual_backward<T>(d_dgate.get(), d_dbranch.get(), d_dout.get(), d_gate.get(),
                                         d_branch.get(), n, s);
    std::vector<double> want_dgate = to_doubles(dgate0), want_dbranch = to_doubles(dbranch0);
    cf::ops::gated_residual_backward<double>(want_dgate.data(), want_dbranch.data(),
                                             to_doubles(dout).data(), to_doubles(gate).data(),
                                             to_doubles(branch).data(), n);
    expect_close("gated_residual_backward dgate", d_dgate.download(s), want_dgate, kTol<T>,
                 rms(dgate0));
    expect_close("gated_residual_backward dbranch", d_dbranch.download(s), want_dbranch, kTol<T>,
                 rms(dbranch0));
  }
}

TYPED_TEST(CudaOpsTyped, SwigluForwardAndBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const auto& [N, F] : {std::pair{1, 8}, std::pair{7, 37}, std::pair{200, 256}}) {
    SCOPED_TRACE(cat("N ", N, ", F ", F));
    const size_t nf = size_t(N) * F;
    const auto gate_up = rng.values<T>(2 * nf, -4, 4), dout = rng.values<T>(nf, -1, 1);
    const auto dgate_up0 = rng.values<T>(2 * nf, -1, 1);
    auto d_gate_up = to_device<T>(gate_up, s), d_dout = to_device<T>(dout, s);
    DeviceBuffer<T> d_out(nf);
    d_out.poison(s);
    cf::cuda::swiglu_forward<T>(d_out.get(), d_gate_up.get(), N, F, s);
    std::vector<double> want(nf);
    cf::ops::swiglu_forward<double>(want.data(), to_doubles(gate_up).data(), N, F);
    expect_close("swiglu_forward", d_out.download(s), want, kTol<T>, rms(want));

    auto d_dgate_up = to_device<T>(dgate_up0, s);
    cf::cuda::swiglu_backward<T>(d_dgate_up.get(), d_gate_up.get(), d_dout.get(), N, F, s);
    std::vector<double> want_d = to_doubles(dgate_up0);
    cf::ops::swiglu_backward<double>(want_d.data(), to_doubles(gate_up).data(),
                                     to_doubles(dout).data(), N, F);
    expect_close("swiglu_backward", d_dgate_up.download(s), want_d, kTol<T>, rms(want_d));
  }
}

// ---- HSTU block ops ---------------------------------------------------------------------------

TYPED_TEST(CudaOpsTyped, HstuAttentionForwardAndBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  struct Shape {
    int C, NH, Tlen, bias_len;
    std::vector<int32_t> lengths;
  };
  // Head dims 8 and 48 (any size: no tiling), ragged lengths with an empty and a full sequence.
  for (const Shape& shape : {Shape{16, 2, 5, 7, {5, 1, 3}}, Shape{96, 2, 12, 12, {12, 0, 7, 12}}}) {
    const int C = shape.C, NH = shape.NH, Tlen = shape.Tlen, B = int(shape.lengths.size());
    SCOPED_TRACE(cat("C ", C, ", NH ", NH, ", T ", Tlen, ", B ", B));
    std::vector<int32_t> start(size_t(B), 0);
    int N = 0;
    for (int b = 0; b < B; ++b) {
      start[size_t(b)] = N;
      N += shape.lengths[size_t(b)];
    }
    const float inv_n = 1.0f / float(shape.bias_len);
    const auto uvqk = rng.values<T>(size_t(N) * 4 * C, -1, 1);
    const auto bias = rng.values<T>(size_t(NH) * shape.bias_len, -0.5, 0.5);
    const auto dout = rng.values<T>(size_t(N) * C, -1, 1);
    auto d_uvqk = to_device<T>(uvqk, s), d_bias = to_device<T>(bias, s);
    auto d_dout = to_device<T>(dout, s);
    DeviceBuffer<int32_t> d_start(start, s), d_lengths(shape.lengths, s);
    DeviceBuffer<T> d_out(size_t(N) * C);
    d_out.poison(s);
    DeviceBuffer<float> d_scores(size_t(B) * NH * Tlen * Tlen),
        d_dscores(size_t(B) * NH * Tlen * Tlen);
    cf::cuda::hstu_attention_forward<T>(d_out.get(), d_scores.get(), d_uvqk.get(), d_bias.get(),
                                        shape.bias_len, d_start.get(), d_lengths.get(), B, Tlen, C,
                                        NH, inv_n, s);
    std::vector<double> want(size_t(N) * C), scores(size_t(B) * NH * Tlen * Tlen, 0.0);
    const std::vector<double> uvqk_d = to_doubles(uvqk), bias_d = to_doubles(bias);
    cf::ops::hstu_attention_forward<double>(want.data(), scores.data(), uvqk_d.data(),
                                            bias_d.data(), shape.bias_len, start.data(),
                                            shape.lengths.data(), B, Tlen, C, NH, double(inv_n));
    if (N > 0) expect_close("hstu_attention_forward", d_out.download(s), want, kTol<T>, rms(want));

    const auto duvqk0 = rng.values<T>(size_t(N) * 4 * C, -1, 1);
    auto d_duvqk = to_device<T>(duvqk0, s);
    std::vector<float> dbias0(size_t(NH) * shape.bias_len, 0.25f);
    DeviceBuffer<float> d_dbias(dbias0, s);
    cf::cuda::hstu_attention_backward<T>(d_duvqk.get(), d_dbias.get(), d_dscores.get(),
                                         d_dout.get(), d_uvqk.get(), d_scores.get(), shape.bias_len,
                                         d_start.get(), d_lengths.get(), B, Tlen, C, NH, inv_n, s);
    std::vector<double> want_duvqk = to_doubles(duvqk0);
    std::vector<double> want_dbias(dbias0.begin(), dbias0.end());
    cf::ops::hstu_attention_backward<double>(
        want_duvqk.data(), want_dbias.data(), to_doubles(dout).data(), uvqk_d.data(), scores.data(),
        shape.bias_len, start.data(), shape.lengths.data(), B, Tlen, C, NH, double(inv_n));
    if (N > 0)
      expect_close("hstu_attention_backward duvqk", d_duvqk.download(s), want_duvqk, kTol<T>,
                   rms(want_duvqk));
    // fp32 gradient sums: the fp32 tolerance in both precisions (inputs are exact in T).
    expect_close("hstu_attention_backward dbias", d_dbias.download(s), want_dbias, kTolF32,
                 rms(want_dbias));
  }
}

TYPED_TEST(CudaOpsTyped, DropoutForward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const float p : {0.1f, 0.5f, 0.0f}) {
    for (const int64_t n : kSizes) {
      const uint64_t seed = rng.bits();
      SCOPED_TRACE(cat("p ", p, ", n ", n, ", dropout seed ", seed));
      // Nonzero inputs: an element is dropped iff its output is 0.
      const auto x = rng.nonzero_values<T>(size_t(n), 0.1, 2);
      auto d_x = to_device<T>(x, s);
      DeviceBuffer<T> d_out(static_cast<size_t>(n));
      d_out.poison(s);
      cf::cuda::dropout_forward<T>(d_out.get(), d_x.get(), p, seed, n, s);
      const std::vector<T> got = d_out.download(s);
      std::vector<double> want(static_cast<size_t>(n));
      cf::ops::dropout_forward<double>(want.data(), to_doubles(x).data(), p, seed, n);

      std::vector<bool> gpu_kept(static_cast<size_t>(n)), cpu_kept(static_cast<size_t>(n));
      for (size_t i = 0; i < size_t(n); ++i) {
        gpu_kept[i] = as_double(got[i]) != 0.0;  // NaN (unwritten) counts as kept, fails below
        cpu_kept[i] = want[i] != 0.0;
      }
      expect_same_mask("dropout_forward mask", gpu_kept, cpu_kept);
      // Kept values are x / (1 - p), scale rms(x); p = 0 is a copy and must be exact.
      expect_close("dropout_forward out", got, want, p > 0 ? kTol<T> : 0.0, p > 0 ? rms(x) : 0.0);
    }
  }
}

TYPED_TEST(CudaOpsTyped, DropoutBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const float p : {0.1f, 0.5f, 0.0f}) {
    for (const int64_t n : kSizes) {
      const uint64_t seed = rng.bits();
      SCOPED_TRACE(cat("p ", p, ", n ", n, ", dropout seed ", seed));
      // |dout / (1 - p)| >= 0.1 changes any dinp0 in [-1, 1) even in bf16 (spacing <= 2^-6 below
      // 4), so an element was dropped iff dinp kept its starting value exactly.
      const auto dout = rng.nonzero_values<T>(size_t(n), 0.1, 2);
      const auto dinp0 = rng.values<T>(size_t(n), -1, 1);
      auto d_dout = to_device<T>(dout, s), d_dinp = to_device<T>(dinp0, s);
      cf::cuda::dropout_backward<T>(d_dinp.get(), d_dout.get(), p, seed, n, s);
      const std::vector<T> got = d_dinp.download(s);
      std::vector<double> want = to_doubles(dinp0);
      cf::ops::dropout_backward<double>(want.data(), to_doubles(dout).data(), p, seed, n);

      std::vector<bool> gpu_kept(static_cast<size_t>(n)), cpu_kept(static_cast<size_t>(n));
      for (size_t i = 0; i < size_t(n); ++i) {
        gpu_kept[i] = as_double(got[i]) != double(dinp0[i]);
        cpu_kept[i] = want[i] != double(dinp0[i]);
      }
      expect_same_mask("dropout_backward mask", gpu_kept, cpu_kept);
      // Scale: rms of dout (the increment is dout / (1 - p) or 0).
      expect_close("dropout_backward dinp", got, want, kTol<T>, rms(dout));
    }
  }
}

TYPED_TEST(CudaOpsTyped, ColumnSums) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const RowShape& shape : {RowShape{1, 48}, RowShape{7, 200}, RowShape{65, 64},
                                RowShape{1000, 256}, RowShape{200, 1024}, RowShape{9, 37}}) {
    const int N = shape.N, C = shape.C;
    SCOPED_TRACE(describe(shape));
    const auto dout = rng.values<T>(size_t(N) * C, -1, 1);
    const auto dbias0 = rng.values<float>(size_t(C), -1, 1);
    auto d_dout = to_device<T>(dout, s);
    auto d_dbias = to_device<float>(dbias0, s);
    cf::cuda::column_sums<T>(d_dbias.get(), d_dout.get(), N, C, s);
    std::vector<double> want = to_doubles(dbias0);
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c) want[size_t(c)] += double(dout[size_t(n) * C + c]);
    // fp32 sums of exact inputs: 1e-5 in both tests. Scale: rms of the sums (~0.58 sqrt(N)); a
    // sequential fp32 sum of N = 1000 such terms errs by ~1.4e-5 (1 sigma), the bound is 1.8e-4.
    expect_close("column_sums dbias", d_dbias.download(s), want, kTolF32,
                 rms_increment(want, dbias0), {C});
  }
}

// ---- row movement -------------------------------------------------------------------------

struct RowMoveShape {
  int table_rows, rows, width;
};
std::string describe(const RowMoveShape& shape) {
  return cat("table rows ", shape.table_rows, ", rows ", shape.rows, ", width ", shape.width);
}

TYPED_TEST(CudaOpsTyped, GatherRows) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  // Gathering may repeat a row (130 rows out of 65).
  for (const RowMoveShape& shape : {RowMoveShape{1, 1, 48}, RowMoveShape{200, 7, 200},
                                    RowMoveShape{65, 130, 64}, RowMoveShape{1000, 999, 37}}) {
    const int rows = shape.rows, width = shape.width;
    SCOPED_TRACE(describe(shape));
    const auto inp = rng.values<T>(size_t(shape.table_rows) * width, -2, 2);
    const std::vector<int32_t> index = rng.ids(size_t(rows), 0, shape.table_rows - 1);
    auto d_inp = to_device<T>(inp, s);
    DeviceBuffer<int32_t> d_index(index, s);
    DeviceBuffer<T> d_out(size_t(rows) * width);
    d_out.poison(s);
    cf::cuda::gather_rows<T>(d_out.get(), d_inp.get(), d_index.get(), rows, width, s);
    std::vector<double> want(size_t(rows) * width);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < width; ++c)
        want[size_t(r) * width + c] = inp[size_t(index[size_t(r)]) * width + c];
    expect_close("gather_rows (a copy: exact)", d_out.download(s), want, 0.0, 0.0, {rows, width});
  }
}

TYPED_TEST(CudaOpsTyped, ScatterRows) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const RowMoveShape& shape : {RowMoveShape{1, 1, 48}, RowMoveShape{200, 7, 200},
                                    RowMoveShape{130, 65, 64}, RowMoveShape{1000, 999, 37}}) {
    for (const bool add : {false, true}) {
      const int rows = shape.rows, width = shape.width;
      SCOPED_TRACE(cat(describe(shape), add ? ", add" : ", assign"));
      // Distinct target rows (the API's condition), in random order; other rows untouched.
      std::vector<int32_t> index(size_t(shape.table_rows));
      std::iota(index.begin(), index.end(), 0);
      std::shuffle(index.begin(), index.end(), rng.engine());
      index.resize(static_cast<size_t>(rows));
      const auto inp = rng.values<T>(size_t(rows) * width, -1, 1);
      const auto out0 = rng.values<T>(size_t(shape.table_rows) * width, -1, 1);
      auto d_inp = to_device<T>(inp, s), d_out = to_device<T>(out0, s);
      DeviceBuffer<int32_t> d_index(index, s);
      cf::cuda::scatter_rows<T>(d_out.get(), d_inp.get(), d_index.get(), rows, width, add, s);
      std::vector<double> want = to_doubles(out0);
      std::vector<bool> target(size_t(shape.table_rows), false);
      for (int r = 0; r < rows; ++r) {
        const size_t row = size_t(index[size_t(r)]);
        target[row] = true;
        for (int c = 0; c < width; ++c) {
          double& w = want[row * width + c];
          w = (add ? w : 0.0) + double(inp[size_t(r) * width + c]);
        }
      }
      const std::vector<T> got = d_out.download(s);
      const std::vector<int64_t> dims = {shape.table_rows, width};
      auto row_of = [width](size_t i) { return i / size_t(width); };
      // Assignment is a copy and untouched rows keep their bits: both exact. Adding rounds once.
      expect_close("scatter_rows untouched rows", got, want, 0.0, 0.0, dims,
                   [&](size_t i) { return !target[row_of(i)]; });
      expect_close(add ? "scatter_rows (add)" : "scatter_rows (assign: exact)", got, want,
                   add ? kTol<T> : 0.0, add ? rms(want) : 0.0, dims,
                   [&](size_t i) { return bool(target[row_of(i)]); });
    }
  }
}

// Packed rows of sequences with the given lengths, in shuffled order: row r is position
// position[r] of sequence sequence[r].
struct PackedRows {
  std::vector<int32_t> sequence, position;
};
PackedRows packed_rows(const std::vector<int32_t>& lengths, Random& rng) {
  std::vector<std::pair<int32_t, int32_t>> rows;
  for (size_t q = 0; q < lengths.size(); ++q)
    for (int32_t t = 0; t < lengths[q]; ++t) rows.emplace_back(int32_t(q), t);
  std::shuffle(rows.begin(), rows.end(), rng.engine());
  PackedRows packed;
  for (const auto& [q, t] : rows) {
    packed.sequence.push_back(q);
    packed.position.push_back(t);
  }
  return packed;
}

// CPU mask of each sequence's stream over its whole length (ops::dropout_forward of ones):
// masks[q][t * width + c] is 1 / (1 - p) where kept, 0 where dropped.
std::vector<std::vector<double>> sequence_masks(const std::vector<int32_t>& lengths,
                                                const std::vector<uint64_t>& seeds, float p,
                                                int width) {
  std::vector<std::vector<double>> masks(lengths.size());
  for (size_t q = 0; q < lengths.size(); ++q) {
    const int64_t n = int64_t(lengths[q]) * width;
    const std::vector<double> ones(size_t(n), 1.0);
    masks[q].resize(static_cast<size_t>(n));
    cf::ops::dropout_forward<double>(masks[q].data(), ones.data(), p, seeds[q], n);
  }
  return masks;
}

// Sequences (lengths; -1: random in [0, 9]) and the row width: an empty sequence, one of
// length 1, a long one (130 rows: positions beyond any block), odd widths.
struct DropoutRowsCase {
  std::vector<int32_t> lengths;
  int width;
};
const DropoutRowsCase kDropoutRowsCases[] = {
    {{9, 0, 1, -1}, 48}, {{130, 64, 0, -1}, 200}, {{5, 9, -1}, 37}};

// One case drawn: lengths resolved, the rows packed in shuffled order, a seed per sequence.
struct DropoutRows {
  std::vector<int32_t> lengths;
  PackedRows packed;
  int rows = 0, width = 0;
  std::vector<uint64_t> seeds, mixed;  // per sequence: its seed, and mix64(seed) for the op
  std::string describe() const {
    return cat("width ", width, ", rows ", rows, ", first sequence seed ", seeds[0]);
  }
};
DropoutRows draw_dropout_rows(const DropoutRowsCase& test_case, Random& rng) {
  DropoutRows drawn;
  drawn.lengths = test_case.lengths;
  for (auto& l : drawn.lengths)
    if (l < 0) l = rng.integer(0, 9);
  drawn.width = test_case.width;
  drawn.packed = packed_rows(drawn.lengths, rng);
  drawn.rows = int(drawn.packed.sequence.size());
  for (size_t q = 0; q < drawn.lengths.size(); ++q) {
    drawn.seeds.push_back(rng.bits());
    drawn.mixed.push_back(cf::ops::mix64(drawn.seeds.back()));
  }
  return drawn;
}

TYPED_TEST(CudaOpsTyped, DropoutRowsForward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const DropoutRowsCase& test_case : kDropoutRowsCases) {
    for (const float p : {0.1f, 0.0f}) {
      const DropoutRows drawn = draw_dropout_rows(test_case, rng);
      const int rows = drawn.rows, width = drawn.width;
      SCOPED_TRACE(cat("p ", p, ", ", drawn.describe()));
      const auto x = rng.nonzero_values<T>(size_t(rows) * width, 0.1, 2);
      auto d_x = to_device<T>(x, s);
      DeviceBuffer<uint64_t> d_mixed(drawn.mixed, s);
      DeviceBuffer<int32_t> d_sequence(drawn.packed.sequence, s),
          d_position(drawn.packed.position, s);
      DeviceBuffer<T> d_out(size_t(rows) * width);
      d_out.poison(s);
      cf::cuda::dropout_rows_forward<T>(d_out.get(), d_x.get(), p, d_mixed.get(), d_sequence.get(),
                                        d_position.get(), rows, width, s);
      const std::vector<T> got = d_out.download(s);

      const auto masks = sequence_masks(drawn.lengths, drawn.seeds, p, width);
      std::vector<double> want(size_t(rows) * width);
      std::vector<bool> gpu_kept(want.size()), cpu_kept(want.size());
      for (int r = 0; r < rows; ++r) {
        const auto& mask = masks[size_t(drawn.packed.sequence[size_t(r)])];
        for (int c = 0; c < width; ++c) {
          const size_t i = size_t(r) * width + c;
          const double m = mask[size_t(drawn.packed.position[size_t(r)]) * width + c];
          want[i] = double(x[i]) * m;
          cpu_kept[i] = m != 0.0;
          gpu_kept[i] = as_double(got[i]) != 0.0;
        }
      }
      expect_same_mask("dropout_rows_forward mask", gpu_kept, cpu_kept, {rows, width});
      expect_close("dropout_rows_forward out", got, want, p > 0 ? kTol<T> : 0.0,
                   p > 0 ? rms(x) : 0.0, {rows, width});
    }
  }
}

TYPED_TEST(CudaOpsTyped, DropoutRowsBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const DropoutRowsCase& test_case : kDropoutRowsCases) {
    for (const float p : {0.1f, 0.0f}) {
      const DropoutRows drawn = draw_dropout_rows(test_case, rng);
      const int rows = drawn.rows, width = drawn.width;
      SCOPED_TRACE(cat("p ", p, ", ", drawn.describe()));
      // As in DropoutBackward: kept iff dinp moved from its starting value.
      const auto dout = rng.nonzero_values<T>(size_t(rows) * width, 0.1, 2);
      const auto dinp0 = rng.values<T>(size_t(rows) * width, -1, 1);
      auto d_dout = to_device<T>(dout, s), d_dinp = to_device<T>(dinp0, s);
      DeviceBuffer<uint64_t> d_mixed(drawn.mixed, s);
      DeviceBuffer<int32_t> d_sequence(drawn.packed.sequence, s),
          d_position(drawn.packed.position, s);
      cf::cuda::dropout_rows_backward<T>(d_dinp.get(), d_dout.get(), p, d_mixed.get(),
                                         d_sequence.get(), d_position.get(), rows, width, s);
      const std::vector<T> got = d_dinp.download(s);

      const auto masks = sequence_masks(drawn.lengths, drawn.seeds, p, width);
      std::vector<double> want = to_doubles(dinp0);
      std::vector<bool> gpu_kept(want.size()), cpu_kept(want.size());
      for (int r = 0; r < rows; ++r) {
        const auto& mask = masks[size_t(drawn.packed.sequence[size_t(r)])];
        for (int c = 0; c < width; ++c) {
          const size_t i = size_t(r) * width + c;
          const double m = mask[size_t(drawn.packed.position[size_t(r)]) * width + c];
          want[i] += double(dout[i]) * m;
          cpu_kept[i] = m != 0.0;
          gpu_kept[i] = as_double(got[i]) != double(dinp0[i]);
        }
      }
      expect_same_mask("dropout_rows_backward mask", gpu_kept, cpu_kept, {rows, width});
      expect_close("dropout_rows_backward dinp", got, want, kTol<T>, rms(dout), {rows, width});
    }
  }
}

// ---- attention ----------------------------------------------------------------------------

struct AttentionShape {
  int B, T, C, NH;
  std::vector<int32_t> lengths;  // per sequence; -1: random in [0, T]
};

// Head dims 32, 64 and 128 (the flash kernels' set); T = 1, 7, 65 (one past a 32- or 64-row
// tile), 130, 200 (not multiples of any tile); every batch mixes an empty sequence, a full one
// and ragged ones (length 1, T - 1, random).
const std::vector<AttentionShape>& attention_shapes() {
  static const std::vector<AttentionShape> shapes = {
      {3, 1, 64, 2, {1, 0, 1}},               // hs 32
      {4, 7, 128, 2, {7, 0, 3, -1}},          // hs 64
      {3, 65, 128, 1, {65, 0, -1}},           // hs 128
      {5, 130, 96, 3, {0, 130, 1, 129, -1}},  // hs 32
      {3, 200, 256, 4, {200, 0, -1}},         // hs 64
      {3, 200, 256, 2, {137, 200, 0}},        // hs 128
  };
  return shapes;
}

std::vector<int32_t> draw_lengths(const AttentionShape& shape, Random& rng) {
  std::vector<int32_t> lengths = shape.lengths;
  for (auto& l : lengths)
    if (l < 0) l = rng.integer(0, shape.T);
  return lengths;
}

std::string describe(const AttentionShape& shape, const std::vector<int32_t>& lengths) {
  std::string s = cat("B ", shape.B, ", T ", shape.T, ", C ", shape.C, ", NH ", shape.NH,
                      " (head dim ", shape.C / shape.NH, "), lengths {");
  for (size_t b = 0; b < lengths.size(); ++b) s += (b ? ", " : "") + std::to_string(lengths[b]);
  return s + "}";
}

// Keys visible to query t of a sequence of `length` positions (ops::attention_forward).
inline int visible_keys(int t, int length) { return std::min(t + 1, length); }

// Log-sum-exp over the visible keys of the scaled scores q_t . k_s / sqrt(hs), [B, NH, T]; NaN
// for query rows without a visible key (a length-0 sequence), where the API says nothing.
std::vector<double> attention_lse(const std::vector<double>& qkv,
                                  const std::vector<int32_t>& lengths, int B, int T, int C,
                                  int NH) {
  const int hs = C / NH;
  const double scale = 1.0 / std::sqrt(double(hs));
  const size_t row = 3 * size_t(C);
  std::vector<double> lse(size_t(B) * NH * T, std::numeric_limits<double>::quiet_NaN());
  std::vector<double> score(static_cast<size_t>(T));
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      for (int t = 0; t < T; ++t) {
        const int nvis = visible_keys(t, lengths[size_t(b)]);
        if (nvis == 0) continue;
        const double* q = &qkv[(size_t(b) * T + t) * row + size_t(h) * hs];
        double top = -std::numeric_limits<double>::infinity();
        for (int s = 0; s < nvis; ++s) {
          const double* k = &qkv[(size_t(b) * T + s) * row + size_t(C) + size_t(h) * hs];
          double dot = 0;
          for (int i = 0; i < hs; ++i) dot += q[i] * k[i];
          score[size_t(s)] = dot * scale;
          top = std::max(top, score[size_t(s)]);
        }
        double sum = 0;
        for (int s = 0; s < nvis; ++s) sum += std::exp(score[size_t(s)] - top);
        lse[(size_t(b) * NH + h) * T + t] = top + std::log(sum);
      }
    }
  }
  return lse;
}

// rms of the v third of qkv: attention outputs are convex combinations of v rows, so this is
// their natural scale (an output row averaging many values is smaller than its error budget).
double rms_of_values(const std::vector<float>& qkv, int C) {
  double sum = 0;
  size_t count = 0;
  for (size_t i = 0; i < qkv.size(); ++i) {
    if (i % (3 * size_t(C)) < 2 * size_t(C)) continue;
    sum += double(qkv[i]) * qkv[i];
    ++count;
  }
  return count ? std::sqrt(sum / double(count)) : 0.0;
}

// Per element of dqkv, the l2 norm of the terms an attention backward sums into it (the
// relative-to-row-norm scale of a sum over keys or queries), in the loops of
// ops::attention_backward: dv_s = sum_t a_ts g_t, dq_t = sum_s ds_ts k_s, dk_s = sum_t ds_ts q_t,
// where ds = a (datt - E) / sqrt(hs) is taken at the size of its operands' rounding,
// a (sum_i |g_i v_i| + sum_s a_s sum_i |g_i v_si|) / sqrt(hs): datt - E cancels, and so can
// each dot product datt = g . v, whose fp32 error is bounded by eps times the sum of its terms'
// sizes, not by its (possibly tiny) value. (A length-1 sequence has datt == E exactly: its ds is
// all rounding.) A sum of K terms of random signs is about this big;
// fp32 summation errs by ~2^-24 sqrt(K / 2) of it (< 1e-6 for K <= 200), and the bf16 kernels'
// rounding of P, dS and out (in D = dout . out) by ~2^-8 / sqrt(3) of it (random signs), both
// well inside the tolerances. A per-tensor rms would not do: in a length-1 sequence all T query
// rows (padded ones included) put their whole dout onto the one key's dv, a sum far larger than
// typical.
std::vector<double> attention_grad_scales(const std::vector<double>& qkv,
                                          const std::vector<double>& dout,
                                          const std::vector<double>& att,
                                          const std::vector<int32_t>& lengths, int B, int T, int C,
                                          int NH) {
  const int hs = C / NH;
  const double scale = 1.0 / std::sqrt(double(hs));
  const size_t row = 3 * size_t(C);
  std::vector<double> squares(qkv.size(), 0.0), datt(static_cast<size_t>(T));
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      const size_t head = size_t(h) * hs, seq = size_t(b) * T;
      for (int t = 0; t < T; ++t) {
        const int nvis = visible_keys(t, lengths[size_t(b)]);
        const size_t qrow = (seq + t) * row + head;
        const double* q = &qkv[qrow];
        const double* g = &dout[(seq + t) * size_t(C) + head];
        const double* a = &att[((size_t(b) * NH + h) * T + t) * T];
        double expected_size = 0;
        for (int s = 0; s < nvis; ++s) {
          const size_t vrow = (seq + s) * row + 2 * size_t(C) + head;
          double dot_size = 0;
          for (int i = 0; i < hs; ++i) {
            dot_size += std::abs(g[i] * qkv[vrow + i]);
            squares[vrow + i] += (a[s] * g[i]) * (a[s] * g[i]);
          }
          datt[size_t(s)] = dot_size;
          expected_size += a[s] * dot_size;
        }
        for (int s = 0; s < nvis; ++s) {
          const double ds = a[s] * (datt[size_t(s)] + expected_size) * scale;
          const size_t krow = (seq + s) * row + size_t(C) + head;
          for (int i = 0; i < hs; ++i) {
            squares[qrow + i] += (ds * qkv[krow + i]) * (ds * qkv[krow + i]);
            squares[krow + i] += (ds * q[i]) * (ds * q[i]);
          }
        }
      }
    }
  }
  for (double& x : squares) x = std::sqrt(x);
  return squares;
}

// dqkv [B, T, 3C] after an attention backward, against the CPU's, each element within
// tol * (|cpu| + scales[i]) (attention_grad_scales). Checked per third so a failure names the
// gradient. Elements no term reaches (padded keys, empty sequences) must keep their value.
template <class T>
void expect_attention_grads(const std::string& op, const std::vector<T>& got,
                            const std::vector<double>& want, const std::vector<double>& scales,
                            double tol, int B, int Tlen, int C) {
  const char* names[3] = {"dq", "dk", "dv"};
  for (int part = 0; part < 3; ++part) {
    expect_close_scaled(
        cat(op, " ", names[part]), got, want, tol, [&](size_t i) { return scales[i]; },
        {B, Tlen, 3 * C},
        [C, part](size_t i) { return int((i % (3 * size_t(C))) / size_t(C)) == part; });
  }
}

// The attention inputs and the CPU reference of one shape.
struct AttentionCase {
  int B, Tlen, C, NH;
  std::vector<int32_t> lengths;
  std::vector<float> qkv, dout, dqkv0;
  std::vector<double> out, att, dqkv, lse;  // CPU: forward, probabilities, backward, lse
  std::vector<double> grad_scales;          // attention_grad_scales
};

template <class T>
AttentionCase make_attention_case(const AttentionShape& shape, Random& rng) {
  AttentionCase c;
  c.B = shape.B;
  c.Tlen = shape.T;
  c.C = shape.C;
  c.NH = shape.NH;
  c.lengths = draw_lengths(shape, rng);
  const size_t n_qkv = size_t(c.B) * c.Tlen * 3 * c.C, n_out = size_t(c.B) * c.Tlen * c.C;
  // Scores q.k / sqrt(hs) with q, k in [-2, 2) have std ~1.3: softmax rows neither flat nor
  // one-hot.
  c.qkv = rng.values<T>(n_qkv, -2, 2);
  c.dout = rng.values<T>(n_out, -1, 1);
  c.dqkv0 = rng.values<T>(n_qkv, -0.5, 0.5);  // dqkv accumulates (+=)
  const std::vector<double> qkv = to_doubles(c.qkv);
  c.out.resize(n_out);
  c.att.resize(size_t(c.B) * c.NH * c.Tlen * c.Tlen);
  cf::ops::attention_forward<double>(c.out.data(), c.att.data(), qkv.data(), c.lengths.data(), c.B,
                                     c.Tlen, c.C, c.NH);
  c.dqkv = to_doubles(c.dqkv0);
  cf::ops::attention_backward<double>(c.dqkv.data(), to_doubles(c.dout).data(), qkv.data(),
                                      c.att.data(), c.lengths.data(), c.B, c.Tlen, c.C, c.NH);
  c.lse = attention_lse(qkv, c.lengths, c.B, c.Tlen, c.C, c.NH);
  c.grad_scales =
      attention_grad_scales(qkv, to_doubles(c.dout), c.att, c.lengths, c.B, c.Tlen, c.C, c.NH);
  return c;
}

// The tensor-core fragment loaders and the warp MMA against a CPU product (tensor_core_probe):
// a plain product, the same through the transposed loader, and a product whose a operand is
// the previous products' accumulators rounded to bf16.
TEST_F(CudaOps, TensorCoreFragmentLayouts) {
  const cudaStream_t s = stream();
  const std::vector<float> a = rng().values<bf16>(16 * 16, -1, 1);
  const std::vector<float> b = rng().values<bf16>(16 * 16, -1, 1);
  const std::vector<float> b2 = rng().values<bf16>(16 * 8, -1, 1);
  std::vector<float> bt(8 * 16);
  for (int n = 0; n < 8; ++n)
    for (int k = 0; k < 16; ++k) bt[size_t(n) * 16 + k] = b[size_t(k) * 16 + n];
  // Products of bf16 values are exact in double.
  std::vector<double> product(16 * 16), want_d(16 * 8), want_e(16 * 8);
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 16; ++n) {
      double sum = 0;
      for (int k = 0; k < 16; ++k) sum += double(a[size_t(r) * 16 + k]) * b[size_t(k) * 16 + n];
      product[size_t(r) * 16 + n] = sum;
      if (n < 8) want_d[size_t(r) * 8 + n] = sum;
    }
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n) {
      double sum = 0;
      for (int k = 0; k < 16; ++k)
        sum +=
            as_double(from_float<bf16>(float(product[size_t(r) * 16 + k]))) * b2[size_t(k) * 8 + n];
      want_e[size_t(r) * 8 + n] = sum;
    }
  auto d_a = to_device<bf16>(a, s);
  auto d_b = to_device<bf16>(b, s);
  auto d_bt = to_device<bf16>(bt, s);
  auto d_b2 = to_device<bf16>(b2, s);
  DeviceBuffer<float> d(16 * 8), d_transposed(16 * 8), e(16 * 8);
  for (auto* buffer : {&d, &d_transposed, &e}) buffer->poison(s);
  cf::cuda::tensor_core_probe(d.get(), d_transposed.get(), e.get(), d_a.get(), d_b.get(),
                              d_bt.get(), d_b2.get(), s);
  const std::vector<float> got_d = d.download(s);
  // 16 exact products summed in fp32.
  expect_close("tensor-core product", got_d, want_d, kTolF32, rms(want_d), {16, 8});
  expect_bitwise_equal("tensor-core product through the transposed loader",
                       d_transposed.download(s), got_d);
  // The rounding of the accumulators to bf16 may land on the other side of a tie than the
  // rounding of the exact sum does: bf16's tolerance.
  expect_close("tensor-core chained product", e.download(s), want_e, kTolBf16, rms(want_e),
               {16, 8});
}

// The flash attention kernels of one dtype, each tested against the CPU below: the CUDA-core
// kernel in both dtypes, and in bf16 the tensor-core kernel too.
template <class T>
struct FlashKernel {
  std::string name;
  std::function<void(T*, float*, const T*, const int32_t*, int, int, int, int, cudaStream_t)>
      forward;
  std::function<int64_t(int, int, int, int)> scratch_floats;
  // (dqkv, scratch, dout, out, qkv, lse, lengths, B, T, C, NH, deterministic, stream)
  std::function<void(T*, float*, const T*, const T*, const T*, const float*, const int32_t*, int,
                     int, int, int, bool, cudaStream_t)>
      backward;
  bool has_atomic_backward;  // deterministic = false takes another path
};

template <class T>
std::vector<FlashKernel<T>> flash_kernels() {
  std::vector<FlashKernel<T>> kernels = {{"flash_attention", cf::cuda::flash_attention_forward<T>,
                                          cf::cuda::flash_attention_backward_scratch_floats,
                                          cf::cuda::flash_attention_backward<T>, true}};
  if constexpr (std::is_same_v<T, bf16>) {
    kernels.push_back({"tensor_core_flash_attention", cf::cuda::tensor_core_flash_attention_forward,
                       [](int B, int Tlen, int, int NH) {
                         return cf::cuda::tensor_core_flash_attention_backward_scratch_floats(
                             B, Tlen, NH);
                       },
                       [](bf16* dqkv, float* scratch, const bf16* dout, const bf16* out,
                          const bf16* qkv, const float* lse, const int32_t* lengths, int B,
                          int Tlen, int C, int NH, bool, cudaStream_t s) {
                         cf::cuda::tensor_core_flash_attention_backward(
                             dqkv, scratch, dout, out, qkv, lse, lengths, B, Tlen, C, NH, s);
                       },
                       false});
  }
  return kernels;
}

// A case's inputs on the device and a kernel's forward outputs (out and lse poisoned first, so
// an element the kernel does not write shows).
template <class T>
struct FlashForwardRun {
  DeviceBuffer<T> qkv;
  DeviceBuffer<int32_t> lengths;
  DeviceBuffer<T> out;
  DeviceBuffer<float> lse;
};

template <class T>
FlashForwardRun<T> run_flash_forward(const FlashKernel<T>& kernel, const AttentionCase& c,
                                     cudaStream_t s) {
  FlashForwardRun<T> run{to_device<T>(c.qkv, s), DeviceBuffer<int32_t>(c.lengths, s),
                         DeviceBuffer<T>(c.out.size()), DeviceBuffer<float>(c.lse.size())};
  run.out.poison(s);
  run.lse.poison(s);
  kernel.forward(run.out.get(), run.lse.get(), run.qkv.get(), run.lengths.get(), c.B, c.Tlen, c.C,
                 c.NH, s);
  return run;
}

TYPED_TEST(CudaOpsTyped, FlashAttentionForward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const int head_dim : {32, 64, 128})
    EXPECT_TRUE(cf::cuda::flash_attention_supports(head_dim)) << "head dim " << head_dim;
  for (const FlashKernel<T>& kernel : flash_kernels<T>()) {
    SCOPED_TRACE(kernel.name);
    for (const AttentionShape& shape : attention_shapes()) {
      const AttentionCase c = make_attention_case<T>(shape, rng);
      const int B = c.B, Tlen = c.Tlen, C = c.C, NH = c.NH;
      SCOPED_TRACE(describe(shape, c.lengths));
      FlashForwardRun<T> run = run_flash_forward(kernel, c, s);
      DeviceBuffer<T>& d_out = run.out;
      DeviceBuffer<float>& d_lse = run.lse;
      // Every query row, padded ones included (they attend to the sequence's keys; rows of an
      // empty sequence are zeros).
      expect_close(kernel.name + " forward out", d_out.download(s), c.out, kTol<T>,
                   rms_of_values(c.qkv, C), {B, Tlen, C});
      // lse: an fp32 result of exact inputs (bf16 products are exact in fp32), so 1e-5 in both
      // tests; scale 1: lse is a log, its absolute error is the sum's relative error. Rows
      // without a visible key have no defined lse, but the backward reads lse, so they must be
      // written (anything but the NaN poison, -inf included).
      const std::vector<float> lse = d_lse.download(s);
      expect_close(kernel.name + " forward lse", lse, c.lse, kTolF32, 1.0, {B, NH, Tlen},
                   [&](size_t i) { return !std::isnan(c.lse[i]); });
      size_t unwritten = 0;
      for (size_t i = 0; i < lse.size(); ++i)
        unwritten += std::isnan(c.lse[i]) && std::isnan(lse[i]);
      EXPECT_EQ(unwritten, 0u) << kernel.name << " forward left lse unwritten (NaN poison) in "
                               << unwritten << " rows without a visible key";
    }
  }
}

TYPED_TEST(CudaOpsTyped, FlashAttentionBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const FlashKernel<T>& kernel : flash_kernels<T>()) {
    SCOPED_TRACE(kernel.name);
    for (const AttentionShape& shape : attention_shapes()) {
      const AttentionCase c = make_attention_case<T>(shape, rng);
      const int B = c.B, Tlen = c.Tlen, C = c.C, NH = c.NH;
      SCOPED_TRACE(describe(shape, c.lengths));
      // The backward gets out and lse from the kernel's own forward, as in training (the
      // forward is checked on its own above).
      FlashForwardRun<T> forward = run_flash_forward(kernel, c, s);
      auto d_dout = to_device<T>(c.dout, s);
      DeviceBuffer<T>&d_qkv = forward.qkv, &d_out = forward.out;
      DeviceBuffer<int32_t>& d_lengths = forward.lengths;
      DeviceBuffer<float>& d_lse = forward.lse;
      const int64_t scratch_floats = kernel.scratch_floats(B, Tlen, C, NH);
      ASSERT_GE(scratch_floats, 0);
      DeviceBuffer<float> d_scratch(size_t(std::max<int64_t>(scratch_floats, 1)));
      DeviceBuffer<T> d_dqkv(c.qkv.size());
      const std::vector<T> dqkv0 = to_type<T>(c.dqkv0);
      auto run = [&](bool deterministic) {
        d_dqkv.upload(dqkv0, s);
        d_scratch.poison(s);  // the header does not ask callers to clear it
        kernel.backward(d_dqkv.get(), d_scratch.get(), d_dout.get(), d_out.get(), d_qkv.get(),
                        d_lse.get(), d_lengths.get(), B, Tlen, C, NH, deterministic, s);
        return d_dqkv.download(s);
      };
      for (const bool deterministic : {true, false}) {
        if (!deterministic && !kernel.has_atomic_backward) continue;
        SCOPED_TRACE(deterministic ? "deterministic = true" : "deterministic = false (atomic dq)");
        const std::vector<T> got = run(deterministic);
        expect_attention_grads(kernel.name + " backward", got, c.dqkv, c.grad_scales, kTol<T>, B,
                               Tlen, C);
        if (deterministic)
          expect_bitwise_equal(kernel.name + " backward (deterministic) dqkv", got, run(true));
      }
    }
  }
}

// cuDNN's fused attention against the CPU, where the build has it (a GPU run; the emulation
// has no cuDNN). Its padding mask differs from the flash kernels' in padded query rows (zero
// output, no gradient), so those rows are left out of the comparison and their dout is zero,
// as in the model; and backward writes dqkv instead of adding to it.
TEST_F(CudaOps, CudnnAttentionMatchesCpu) {
  if (!cf::cuda::cudnn_attention_built()) GTEST_SKIP() << "this build has no cuDNN attention";
  const cudaStream_t s = stream();
  for (const AttentionShape& shape : attention_shapes()) {
    AttentionCase c = make_attention_case<bf16>(shape, rng());
    const int B = c.B, Tlen = c.Tlen, C = c.C, NH = c.NH;
    SCOPED_TRACE(describe(shape, c.lengths));
    auto real_row = [&](size_t row) { return int(row % Tlen) < c.lengths[row / Tlen]; };
    for (size_t i = 0; i < c.dout.size(); ++i)
      if (!real_row(i / size_t(C))) c.dout[i] = 0.0f;
    std::fill(c.dqkv0.begin(), c.dqkv0.end(), 0.0f);
    const std::vector<double> qkv = to_doubles(c.qkv);
    c.dqkv.assign(c.qkv.size(), 0.0);
    cf::ops::attention_backward<double>(c.dqkv.data(), to_doubles(c.dout).data(), qkv.data(),
                                        c.att.data(), c.lengths.data(), B, Tlen, C, NH);
    c.grad_scales =
        attention_grad_scales(qkv, to_doubles(c.dout), c.att, c.lengths, B, Tlen, C, NH);

    cf::cuda::CudnnAttention cudnn(C, NH);
    auto d_qkv = to_device<bf16>(c.qkv, s);
    auto d_dout = to_device<bf16>(c.dout, s);
    DeviceBuffer<int32_t> d_lengths(c.lengths, s);
    DeviceBuffer<bf16> d_out(c.out.size()), d_dqkv(c.qkv.size());
    DeviceBuffer<float> d_lse(c.lse.size());
    cudnn.forward(d_out.get(), d_lse.get(), d_qkv.get(), d_lengths.get(), B, Tlen, s);
    expect_close("cudnn attention forward out", d_out.download(s), c.out, kTolBf16,
                 rms_of_values(c.qkv, C), {B, Tlen, C},
                 [&](size_t i) { return real_row(i / size_t(C)); });
    expect_close("cudnn attention forward lse", d_lse.download(s), c.lse, kTolF32, 1.0,
                 {B, NH, Tlen}, [&](size_t i) {
                   const size_t b = i / (size_t(NH) * Tlen), t = i % size_t(Tlen);
                   return int(t) < c.lengths[b] && !std::isnan(c.lse[i]);
                 });
    for (const bool deterministic : {true, false}) {
      SCOPED_TRACE(deterministic ? "deterministic" : "not deterministic");
      d_dqkv.poison(s);  // backward writes every element it is responsible for
      cudnn.backward(d_dqkv.get(), d_dout.get(), d_out.get(), d_qkv.get(), d_lse.get(),
                     d_lengths.get(), B, Tlen, deterministic, s);
      const std::vector<bf16> got = d_dqkv.download(s);
      const char* names[3] = {"dq", "dk", "dv"};
      for (int part = 0; part < 3; ++part) {
        expect_close_scaled(
            cat("cudnn attention backward ", names[part]), got, c.dqkv, kTolBf16,
            [&](size_t i) { return c.grad_scales[i]; }, {B, Tlen, 3 * C},
            [&](size_t i) {
              return int((i % (3 * size_t(C))) / size_t(C)) == part &&
                     real_row(i / (3 * size_t(C)));
            });
      }
    }
  }
}

TYPED_TEST(CudaOpsTyped, ReferenceAttentionForward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const AttentionShape& shape : attention_shapes()) {
    const AttentionCase c = make_attention_case<T>(shape, rng);
    const int B = c.B, Tlen = c.Tlen, C = c.C, NH = c.NH;
    SCOPED_TRACE(describe(shape, c.lengths));
    auto d_qkv = to_device<T>(c.qkv, s);
    DeviceBuffer<int32_t> d_lengths(c.lengths, s);
    DeviceBuffer<T> d_out(c.out.size());
    DeviceBuffer<float> d_att(c.att.size());
    d_out.poison(s);
    d_att.poison(s);
    cf::cuda::reference_attention_forward<T>(d_out.get(), d_att.get(), d_qkv.get(), d_lengths.get(),
                                             B, Tlen, C, NH, s);
    expect_close("reference_attention_forward out", d_out.download(s), c.out, kTol<T>,
                 rms_of_values(c.qkv, C), {B, Tlen, C});
    // att [B, NH, T, T]: only (t, s) with s < min(t + 1, length) is defined (the CPU has zeros
    // elsewhere, the GPU may leave anything). fp32 probabilities of exact inputs (bf16 q . k is
    // exact in fp32 products), so 1e-5 in both tests: p = exp(s - max) / sum is off by ~2^-24
    // |s - max| relative. Scale: rms of the visible probabilities.
    const size_t TT = size_t(Tlen) * Tlen;
    auto visible = [&](size_t i) {
      const size_t b = i / (size_t(NH) * TT), t = (i % TT) / size_t(Tlen), key = i % size_t(Tlen);
      return int(key) < visible_keys(int(t), c.lengths[b]);
    };
    double sum = 0;
    size_t count = 0;
    for (size_t i = 0; i < c.att.size(); ++i) {
      if (!visible(i)) continue;
      sum += c.att[i] * c.att[i];
      ++count;
    }
    const double att_scale = count ? std::sqrt(sum / double(count)) : 0.0;
    expect_close("reference_attention_forward att", d_att.download(s), c.att, kTolF32, att_scale,
                 {B, NH, Tlen, Tlen}, visible);
  }
}

TYPED_TEST(CudaOpsTyped, ReferenceAttentionBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const AttentionShape& shape : attention_shapes()) {
    const AttentionCase c = make_attention_case<T>(shape, rng);
    const int B = c.B, Tlen = c.Tlen, C = c.C, NH = c.NH;
    SCOPED_TRACE(describe(shape, c.lengths));
    // att from the GPU forward, poisoned first: whatever it leaves outside the visible region
    // must not reach the gradients.
    auto d_qkv = to_device<T>(c.qkv, s);
    auto d_dout = to_device<T>(c.dout, s);
    auto d_dqkv = to_device<T>(c.dqkv0, s);
    DeviceBuffer<int32_t> d_lengths(c.lengths, s);
    DeviceBuffer<T> d_out(c.out.size());
    DeviceBuffer<float> d_att(c.att.size());
    d_out.poison(s);
    d_att.poison(s);
    cf::cuda::reference_attention_forward<T>(d_out.get(), d_att.get(), d_qkv.get(), d_lengths.get(),
                                             B, Tlen, C, NH, s);
    cf::cuda::reference_attention_backward<T>(d_dqkv.get(), d_dout.get(), d_qkv.get(), d_att.get(),
                                              d_lengths.get(), B, Tlen, C, NH, s);
    expect_attention_grads("reference_attention_backward", d_dqkv.download(s), c.dqkv,
                           c.grad_scales, kTol<T>, B, Tlen, C);
  }
}

// ---- losses -------------------------------------------------------------------------------

TYPED_TEST(CudaOpsTyped, SoftmaxXentRows) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  struct Shape {
    int N, V;
  };
  for (const Shape& shape :
       {Shape{1, 2}, Shape{7, 1000}, Shape{65, 5003}, Shape{4, 50000}, Shape{33, 37}}) {
    for (const bool with_bias : {true, false}) {
      const int N = shape.N, V = shape.V;
      const size_t NV = size_t(N) * V;
      SCOPED_TRACE(cat("N ", N, ", V ", V, with_bias ? ", with bias" : ", no bias"));
      // Logits (always fp32) in [-8, 8) around a per-row offset: +90 and -90 on some rows, where
      // exp overflows / underflows in fp32 unless the row maximum is subtracted first.
      std::vector<float> logits(NV);
      for (int n = 0; n < N; ++n) {
        const double offset = n % 5 == 1 ? 90.0 : n % 5 == 3 ? -90.0 : rng.uniform(-10, 10);
        for (int v = 0; v < V; ++v) logits[size_t(n) * V + v] = float(offset + rng.uniform(-8, 8));
      }
      const auto bias = rng.values<T>(size_t(V), -1, 1);
      // Ignored rows: target 0 (padding) and negative.
      std::vector<int32_t> targets(static_cast<size_t>(N));
      for (int n = 0; n < N; ++n)
        targets[size_t(n)] = n % 4 == 2 ? 0 : n % 7 == 5 ? -1 : rng.integer(1, V - 1);
      const float grad_scale = 1.0f / 3.0f;
      auto d_logits = to_device<float>(logits, s);
      auto d_bias = to_device<T>(bias, s);
      DeviceBuffer<int32_t> d_targets(targets, s), d_counted(static_cast<size_t>(N));
      DeviceBuffer<float> d_loss(static_cast<size_t>(N));
      DeviceBuffer<T> d_dlogits(NV);  // written (=), not accumulated
      d_counted.poison(s);
      d_loss.poison(s);
      d_dlogits.poison(s);
      cf::cuda::softmax_xent_rows<T>(d_loss.get(), d_counted.get(), d_dlogits.get(), d_logits.get(),
                                     with_bias ? d_bias.get() : nullptr, d_targets.get(), N, V,
                                     grad_scale, s);

      // Reference in double: z = logits + bias, loss = logsumexp(z) - z[target],
      // dlogits = grad_scale (softmax(z) - onehot(target)); ignored rows all zero.
      std::vector<double> loss(size_t(N), 0.0), dlogits(NV, 0.0), row_scale(size_t(N), 0.0);
      std::vector<int32_t> counted(size_t(N), 0);
      std::vector<double> z(static_cast<size_t>(V));
      for (int n = 0; n < N; ++n) {
        for (int v = 0; v < V; ++v)
          z[size_t(v)] =
              double(logits[size_t(n) * V + v]) + (with_bias ? double(bias[size_t(v)]) : 0.0);
        double top = -std::numeric_limits<double>::infinity();
        for (double x : z) {
          top = std::max(top, x);
          row_scale[size_t(n)] = std::max(row_scale[size_t(n)], std::abs(x));
        }
        const int target = targets[size_t(n)];
        if (target <= 0) continue;
        double sum = 0;
        for (double x : z) sum += std::exp(x - top);
        const double lse = top + std::log(sum);
        loss[size_t(n)] = lse - z[size_t(target)];
        counted[size_t(n)] = 1;
        for (int v = 0; v < V; ++v)
          dlogits[size_t(n) * V + v] =
              double(grad_scale) * (std::exp(z[size_t(v)] - lse) - (v == target ? 1.0 : 0.0));
      }

      const std::vector<int32_t> got_counted = d_counted.download(s);
      EXPECT_EQ(got_counted, counted) << "softmax_xent_rows counted";
      // loss: fp32 from fp32 logits and exact bias, so 1e-5 in both tests. It is a difference
      // of numbers the size of the row's logits (lse ~ max z), so its absolute error is set by
      // them: scale = max |z| of the row.
      expect_close_scaled("softmax_xent_rows loss", d_loss.download(s), loss, kTolF32,
                          [&](size_t n) { return row_scale[n]; }, {N});
      // dlogits: scale = rms of the gradient, except at the target, where p - 1 cancels when
      // p ~ 1 (an error of ~2^-24 grad_scale on a tiny result): there the scale is grad_scale.
      // A derived extra term for large logits: p = exp(z - lse) with z = logit + bias and lse
      // both rounded to fp32 at the size of the row's largest logit carries up to
      // 2 x 2^-24 max|z| relative error (1.2e-5 on the +-90 rows, over 1e-5 by itself), so the
      // bound gets |cpu| 2^-23 max|z| on top (written into the scale as |cpu| 2^-23 max|z| / tol).
      // Rows with |z| < 10 barely notice it (1.2e-6).
      const double dlogits_rms = rms(dlogits);
      const double tol = kTol<T>;
      expect_close_scaled("softmax_xent_rows dlogits", d_dlogits.download(s), dlogits, tol,
                          [&](size_t i) {
                            const size_t n = i / size_t(V);
                            const bool target = int(i % size_t(V)) == targets[n];
                            const double exponent_error = std::ldexp(row_scale[n], -23);
                            return (target ? double(grad_scale) : dlogits_rms) +
                                   std::abs(dlogits[i]) * exponent_error / tol;
                          },
                          {N, V});
    }
  }
}

TYPED_TEST(CudaOpsTyped, BceWithLogits) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  for (const int N : {1, 7, 1000, 100003}) {
    for (const bool with_grad : {true, false}) {
      SCOPED_TRACE(cat("N ", N, with_grad ? ", with dlogits" : ", dlogits = null"));
      // Mostly moderate logits, every tenth one large (|x| up to 80: exp(-|x|) underflows in
      // the naive form). Labels 0, 1, and -1 (ignored).
      std::vector<float> logits(static_cast<size_t>(N)), labels(static_cast<size_t>(N));
      for (int n = 0; n < N; ++n) {
        const double x =
            n % 10 == 3 ? (rng.chance(0.5) ? 1 : -1) * rng.uniform(20, 80) : rng.uniform(-4, 4);
        logits[size_t(n)] = float(as_double(from_float<T>(float(x))));
        labels[size_t(n)] = n % 5 == 4 ? -1.0f : float(rng.integer(0, 1));
      }
      const float grad_scale = 0.75f;  // increments of the size of dlogits0, so they show in bf16
      const auto dlogits0 = rng.values<T>(size_t(N), -1, 1);
      auto d_logits = to_device<T>(logits, s), d_dlogits = to_device<T>(dlogits0, s);
      auto d_labels = to_device<float>(labels, s);
      DeviceBuffer<float> d_loss(static_cast<size_t>(N));
      d_loss.poison(s);
      cf::cuda::bce_with_logits<T>(d_loss.get(), with_grad ? d_dlogits.get() : nullptr,
                                   d_logits.get(), d_labels.get(), N, grad_scale, s);

      // Reference: ops::bce_with_logits_forward_backward row by row (it returns the sum).
      std::vector<double> loss(static_cast<size_t>(N)), dlogits = to_doubles(dlogits0);
      const std::vector<double> logits_d = to_doubles(logits);
      for (int n = 0; n < N; ++n) {
        int64_t counted = 0;
        loss[size_t(n)] = cf::ops::bce_with_logits_forward_backward<double>(
            with_grad ? &dlogits[size_t(n)] : nullptr, &counted, &logits_d[size_t(n)],
            &labels[size_t(n)], 1, double(grad_scale));
      }
      // loss: fp32 from exact inputs, 1e-5 in both tests; scale 1 (nats: the log1p term's
      // absolute error is relative to 1; the max(x, 0) - x y part is exact or relative to |loss|).
      expect_close("bce_with_logits loss", d_loss.download(s), loss, kTolF32, 1.0, {N});
      // dlogits: scale grad_scale, the size of grad_scale (sigmoid - label), a difference of
      // numbers <= 1 that cancels for confident rows (sigmoid(20) is 1 in fp32).
      if (with_grad)
        expect_close("bce_with_logits dlogits", d_dlogits.download(s), dlogits, kTol<T>,
                     double(grad_scale), {N});
    }
  }
}

// ---- optimizer ----------------------------------------------------------------------------

// T is the compute copy's type (bf16 or a second fp32 buffer); params, grads, m, v are fp32.
TYPED_TEST(CudaOpsTyped, AdamWUpdate) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  const float lr = 1e-2f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.1f,
              grad_scale = 0.5f;
  for (const int64_t n : kSizes) {
    for (const int64_t step : {int64_t(1), int64_t(1000)}) {
      for (const bool with_copy : {true, false}) {
        SCOPED_TRACE(cat("n ", n, ", step ", step, with_copy ? "" : ", compute copy = null"));
        const auto params0 = rng.values<float>(size_t(n), -1, 1);
        const auto grads = rng.values<float>(size_t(n), -1, 1);
        const auto m0 = rng.values<float>(size_t(n), -0.1, 0.1);
        const auto v0 = rng.values<float>(size_t(n), 0, 0.01);
        auto d_params = to_device<float>(params0, s), d_grads = to_device<float>(grads, s);
        auto d_m = to_device<float>(m0, s), d_v = to_device<float>(v0, s);
        DeviceBuffer<T> d_copy(static_cast<size_t>(n));
        d_copy.poison(s);
        cf::cuda::adamw_update<T>(d_params.get(), with_copy ? d_copy.get() : nullptr, d_grads.get(),
                                  d_m.get(), d_v.get(), n, lr, beta1, beta2, eps, weight_decay,
                                  step, grad_scale, s);
        std::vector<float> params = params0, m = m0, v = v0;
        cf::ops::adamw_update(params.data(), grads.data(), m.data(), v.data(), n, lr, beta1, beta2,
                              eps, weight_decay, step, grad_scale);
        // fp32 arithmetic on both sides (contractions into FMAs, division and sqrt variants are
        // a few ulp): 1e-5. Scale: rms of each tensor's starting value, the operands of the
        // updates (m = beta1 m + (1 - beta1) g can cancel to ~0; so can p - lr (...)).
        const std::vector<float> got_params = d_params.download(s);
        expect_close("adamw_update params", got_params, to_doubles(params), kTolF32, rms(params0));
        expect_close("adamw_update m", d_m.download(s), to_doubles(m), kTolF32, rms(m0));
        expect_close("adamw_update v", d_v.download(s), to_doubles(v), kTolF32, rms(v0));
        if (!with_copy) continue;
        // The compute copy is the GPU's own new parameter, rounded to T: bit for bit.
        const std::vector<T> copy = d_copy.download(s);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < copy.size(); ++i) {
          const T want = from_float<T>(got_params[i]);
          if (std::memcmp(&copy[i], &want, sizeof(T)) != 0 && bad++ == 0) first = i;
        }
        EXPECT_EQ(bad, 0u) << std::setprecision(9) << "adamw_update compute copy: " << bad
                           << " elements are not the updated parameter rounded to T, first ["
                           << first << "]: copy " << as_double(copy[first]) << ", param "
                           << got_params[first];
      }
    }
  }
}

TEST_F(CudaOps, SumOfSquaresIsDoubleAndDeterministic) {
  const cudaStream_t s = stream();
  const int partials = cf::cuda::sum_of_squares_partials();
  ASSERT_GT(partials, 0);
  DeviceBuffer<double> d_partials(static_cast<size_t>(partials));
  // n = 0 last: the sum of nothing is 0.
  for (const int64_t n : {int64_t(1), int64_t(7), int64_t(1000), int64_t(65537),
                          (int64_t(1) << 22) + 3, int64_t(0)}) {
    SCOPED_TRACE(cat("n ", n));
    const auto x = rng().values<float>(size_t(n), -3, 3);
    DeviceBuffer<float> d_x(x, s);
    d_partials.poison(s);
    const double first = cf::cuda::sum_of_squares(d_x.get(), n, d_partials.get(), s);
    d_partials.poison(s);
    const double second = cf::cuda::sum_of_squares(d_x.get(), n, d_partials.get(), s);
    const double want = cf::ops::sum_of_squares<float>(x.data(), n);
    // Accumulated in double: squares rounded to fp32 would cost at most 2^-24 ~ 6e-8 relative,
    // so 1e-6 (tighter than the fp32 1e-5) still passes them and catches fp32 accumulation.
    EXPECT_LE(std::abs(first - want), 1e-6 * want)
        << std::setprecision(17) << "sum_of_squares: gpu " << first << ", cpu " << want;
    EXPECT_EQ(std::memcmp(&first, &second, sizeof(double)), 0)
        << std::setprecision(17) << "sum_of_squares differs between two runs: " << first << " vs "
        << second;
  }
}

// ---- MatmulLt -----------------------------------------------------------------------------

struct GemmShape {
  int N, C, OC;
};
// N = 1, odd N and OC, C not a multiple of 32, a long K (C = 1024), an odd OC (7).
const GemmShape kGemmShapes[] = {{1, 64, 48},     {7, 200, 48},    {65, 64, 256},
                                 {200, 256, 768}, {37, 1024, 200}, {64, 48, 7}};
std::string describe(const GemmShape& shape) {
  return cat("N ", shape.N, ", C ", shape.C, ", OC ", shape.OC);
}

// GEMM scales: with i.i.d. inputs the rms of out[n, o] = sum_c inp[n, c] w[o, c] is the row
// norms' product / sqrt(K), i.e. the relative-to-row-norm scale; fp32 accumulation over K <= 1024
// terms errs by ~2^-24 sqrt(K) of it, far inside 1e-5.

TYPED_TEST(CudaOpsTyped, MatmulForward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  cf::cuda::MatmulLt lt;
  for (const GemmShape& shape : kGemmShapes) {
    for (const Epilogue epilogue : {Epilogue::none, Epilogue::bias}) {
      const int N = shape.N, C = shape.C, OC = shape.OC;
      const bool with_bias = epilogue == Epilogue::bias;
      SCOPED_TRACE(cat(describe(shape), with_bias ? ", Epilogue::bias" : ", Epilogue::none"));
      const auto inp = rng.values<T>(size_t(N) * C, -1, 1);
      const auto weight = rng.values<T>(size_t(OC) * C, -1, 1);
      const auto bias = rng.values<T>(size_t(OC), -1, 1);
      auto d_inp = to_device<T>(inp, s), d_weight = to_device<T>(weight, s);
      auto d_bias = to_device<T>(bias, s);
      DeviceBuffer<T> d_out(size_t(N) * OC);
      d_out.poison(s);
      lt.forward<T, T>(d_out.get(), d_inp.get(), d_weight.get(), with_bias ? d_bias.get() : nullptr,
                       N, C, OC, epilogue, nullptr, s);
      std::vector<double> want(size_t(N) * OC);
      const std::vector<double> bias_d = to_doubles(bias);
      cf::ops::matmul_forward<double>(want.data(), to_doubles(inp).data(),
                                      to_doubles(weight).data(),
                                      with_bias ? bias_d.data() : nullptr, N, C, OC);
      expect_close("MatmulLt::forward out", d_out.download(s), want, kTol<T>, rms(want), {N, OC});
    }
  }
}

TEST_F(CudaOps, MatmulBiasGeluBf16) {
  const cudaStream_t s = stream();
  cf::cuda::MatmulLt lt;
  for (const GemmShape& shape : kGemmShapes) {
    const int N = shape.N, C = shape.C, OC = shape.OC;
    // cuBLASLt needs the GELU aux (pre_gelu) width to be a multiple of 8, and MatmulLt::gemm
    // refuses other widths (callers run bias + gelu_forward for those).
    if (OC % 8 != 0) continue;
    SCOPED_TRACE(describe(shape));
    const auto inp = rng().values<bf16>(size_t(N) * C, -1, 1);
    const auto weight = rng().values<bf16>(size_t(OC) * C, -1, 1);
    const auto bias = rng().values<bf16>(size_t(OC), -1, 1);
    auto d_inp = to_device<bf16>(inp, s), d_weight = to_device<bf16>(weight, s);
    auto d_bias = to_device<bf16>(bias, s);
    DeviceBuffer<bf16> d_out(size_t(N) * OC), d_pre(size_t(N) * OC);
    d_out.poison(s);
    d_pre.poison(s);
    lt.forward<bf16, bf16>(d_out.get(), d_inp.get(), d_weight.get(), d_bias.get(), N, C, OC,
                           Epilogue::bias_gelu, d_pre.get(), s);
    std::vector<double> pre(size_t(N) * OC), out(size_t(N) * OC);
    cf::ops::matmul_forward<double>(pre.data(), to_doubles(inp).data(), to_doubles(weight).data(),
                                    to_doubles(bias).data(), N, C, OC);
    cf::ops::gelu_forward<double>(out.data(), pre.data(), int64_t(pre.size()));
    expect_close("MatmulLt::forward bias_gelu pre_gelu", d_pre.download(s), pre, kTolBf16, rms(pre),
                 {N, OC});
    // out = gelu(pre): pre's error (<= 2^-8 |pre| if the epilogue used the rounded value) times
    // gelu' <= 1.13, plus out's own rounding (2^-8 |out|) and cuBLASLt's GELU approximation
    // (within ~5e-4 of the tanh form): for large pre (out ~ pre) at most ~0.008 |out|, and
    // 2^-8 (1.13 |pre| + |out|) + 5e-4 near the knee, inside 1e-2 (|out| + rms(out)).
    // Scale: rms of out.
    expect_close("MatmulLt::forward bias_gelu out", d_out.download(s), out, kTolBf16, rms(out),
                 {N, OC});
  }
}

TEST_F(CudaOps, MatmulBf16InFp32Out) {
  const cudaStream_t s = stream();
  cf::cuda::MatmulLt lt;
  // The loss head's logits GEMM: hidden [N, C] x items [V, C]^T, vocabularies of any size.
  for (const GemmShape& shape : {GemmShape{1, 64, 1001}, GemmShape{7, 48, 37},
                                 GemmShape{65, 200, 5003}, GemmShape{128, 64, 4096}}) {
    const int N = shape.N, C = shape.C, OC = shape.OC;
    SCOPED_TRACE(describe(shape));
    const auto inp = rng().values<bf16>(size_t(N) * C, -1, 1);
    const auto weight = rng().values<bf16>(size_t(OC) * C, -1, 1);
    auto d_inp = to_device<bf16>(inp, s), d_weight = to_device<bf16>(weight, s);
    DeviceBuffer<float> d_out(size_t(N) * OC);
    d_out.poison(s);
    // Fused epilogues need out in the input type (MatmulLt::gemm), so Epilogue::none.
    lt.forward<bf16, float>(d_out.get(), d_inp.get(), d_weight.get(), nullptr, N, C, OC,
                            Epilogue::none, nullptr, s);
    std::vector<double> want(size_t(N) * OC);
    cf::ops::matmul_forward<double>(want.data(), to_doubles(inp).data(), to_doubles(weight).data(),
                                    nullptr, N, C, OC);
    // bf16 x bf16 products are exact in fp32 and accumulate in fp32: an fp32 result, 1e-5.
    expect_close("MatmulLt::forward<bf16, float> logits", d_out.download(s), want, kTolF32,
                 rms(want), {N, OC});
  }
}

TYPED_TEST(CudaOpsTyped, MatmulBackward) {
  using T = TypeParam;
  Random& rng = this->rng();
  const cudaStream_t s = this->stream();
  cf::cuda::MatmulLt lt;
  enum class Grads { all, no_dinp, no_dbias };
  for (const GemmShape& shape : kGemmShapes) {
    for (const Grads grads : {Grads::all, Grads::no_dinp, Grads::no_dbias}) {
      const int N = shape.N, C = shape.C, OC = shape.OC;
      const bool with_dinp = grads != Grads::no_dinp, with_dbias = grads != Grads::no_dbias;
      SCOPED_TRACE(cat(describe(shape), with_dinp ? "" : ", dinp = null",
                       with_dbias ? "" : ", dbias = null"));
      const auto inp = rng.values<T>(size_t(N) * C, -1, 1);
      const auto weight = rng.values<T>(size_t(OC) * C, -1, 1);
      const auto dout = rng.values<T>(size_t(N) * OC, -1, 1);
      // Every gradient accumulates (+=) onto random starting values.
      const auto dinp0 = rng.values<T>(size_t(N) * C, -1, 1);
      const auto dweight0 = rng.values<float>(size_t(OC) * C, -1, 1);
      const auto dbias0 = rng.values<float>(size_t(OC), -1, 1);
      auto d_inp = to_device<T>(inp, s), d_weight = to_device<T>(weight, s);
      auto d_dout = to_device<T>(dout, s), d_dinp = to_device<T>(dinp0, s);
      auto d_dweight = to_device<float>(dweight0, s), d_dbias = to_device<float>(dbias0, s);
      lt.backward<T>(with_dinp ? d_dinp.get() : nullptr, d_dweight.get(),
                     with_dbias ? d_dbias.get() : nullptr, d_dout.get(), d_inp.get(),
                     d_weight.get(), N, C, OC, s);
      std::vector<double> dinp = to_doubles(dinp0), dweight = to_doubles(dweight0),
                          dbias = to_doubles(dbias0);
      cf::ops::matmul_backward<double>(with_dinp ? dinp.data() : nullptr, dweight.data(),
                                       with_dbias ? dbias.data() : nullptr, to_doubles(dout).data(),
                                       to_doubles(inp).data(), to_doubles(weight).data(), N, C, OC);
      // Scales: rms of what each GEMM added (see the GEMM note above). dinp is T; dweight and
      // dbias are fp32 sums of exact products, so 1e-5 in both tests.
      if (with_dinp)
        expect_close("MatmulLt::backward dinp", d_dinp.download(s), dinp, kTol<T>,
                     rms_increment(dinp, dinp0), {N, C});
      expect_close("MatmulLt::backward dweight", d_dweight.download(s), dweight, kTolF32,
                   rms_increment(dweight, dweight0), {OC, C});
      if (with_dbias)
        expect_close("MatmulLt::backward dbias", d_dbias.download(s), dbias, kTolF32,
                     rms_increment(dbias, dbias0), {OC});
    }
  }
}

}  // namespace
}  // namespace cf::cuda_test
