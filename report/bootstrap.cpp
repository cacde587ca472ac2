// Percentile bootstrap over users, deterministic per (seed, resample) and parallel over resamples.
#include "report/bootstrap.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.h"
#include "core/random.h"

namespace cf::report {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Resamples whose multiplicities are multiplied with a metric row together: each row is then
// read from memory once per block instead of once per resample, and the per-user inner loop
// over the block vectorises.
constexpr size_t kBlock = 8;
// Users whose multiplicities are multiplied with every metric before moving on (64 KiB of them).
constexpr size_t kUserChunk = 1024;

// Two doubles as a GCC/Clang vector: the SIMD width of every x86-64 and AArch64 target. Written
// out by hand because GCC's -O3 vectoriser, left to itself, turns the product loop into
// shuffles, and a vector of all eight lanes is kept in memory. Each lane is computed exactly as
// scalar code would, so results are the same on every target.
using DoublePair = double __attribute__((vector_size(2 * sizeof(double))));
static_assert(kBlock == 8, "the product loop below holds the eight lanes in four pairs");

DoublePair load_pair(const double* from) {
  DoublePair pair;
  std::memcpy(&pair, from, sizeof pair);
  return pair;
}

void store_pair(const DoublePair& pair, double* to) { std::memcpy(to, &pair, sizeof pair); }

// lane_sums[lane] += sum over u < users of multiplicity[u * kBlock + lane] * values[u], adding
// the users in order.
void accumulate_lanes(const double* multiplicity, const double* values, size_t users,
                      double* lane_sums) {
  DoublePair sum01 = load_pair(lane_sums), sum23 = load_pair(lane_sums + 2);
  DoublePair sum45 = load_pair(lane_sums + 4), sum67 = load_pair(lane_sums + 6);
  for (size_t u = 0; u < users; ++u) {
    const DoublePair value = {values[u], values[u]};
    const double* counts = multiplicity + u * kBlock;
    sum01 += load_pair(counts) * value;
    sum23 += load_pair(counts + 2) * value;
    sum45 += load_pair(counts + 4) * value;
    sum67 += load_pair(counts + 6) * value;
  }
  store_pair(sum01, lane_sums);
  store_pair(sum23, lane_sums + 2);
  store_pair(sum45, lane_sums + 4);
  store_pair(sum67, lane_sums + 6);
}

std::string shortest(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

void validate(const BootstrapOptions& options) {
  if (options.resamples < 10) {
    throw UserError("bootstrap resamples must be >= 10 (got " + std::to_string(options.resamples) +
                    ")");
  }
  if (!(options.level > 0 && options.level < 1)) {
    throw UserError("bootstrap level must be within (0, 1) (got " + shortest(options.level) + ")");
  }
}

// The generator of resample r depends on (seed, r) only, never on which thread runs it.
Xoshiro256 resample_generator(uint64_t seed, size_t resample) {
  const uint64_t key =
      splitmix64_mix(seed) ^ (static_cast<uint64_t>(resample) * 0xD1B54A32D192ED03ULL);
  return Xoshiro256(splitmix64_mix(key));
}

// Uniform in [0, range) without modulo bias (Lemire's multiply-and-reject).
uint64_t uniform_below(Xoshiro256& generator, uint64_t range) {
  auto product = static_cast<unsigned __int128>(generator.next()) * range;
  auto low = static_cast<uint64_t>(product);
  if (low < range) {
    const uint64_t rejected_below = (0 - range) % range;  // 2^64 mod range
    while (low < rejected_below) {
      product = static_cast<unsigned __int128>(generator.next()) * range;
      low = static_cast<uint64_t>(product);
    }
  }
  return static_cast<uint64_t>(product >> 64);
}

// The n user indices of resample r, in draw order.
template <class Visit>
void draw_users(uint64_t seed, size_t resample, size_t n, Visit&& visit) {
  Xoshiro256 generator = resample_generator(seed, resample);
  for (size_t i = 0; i < n; ++i) visit(static_cast<size_t>(uniform_below(generator, n)));
}

// The linearly interpolated q-quantile of sorted, non-empty values.
double quantile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<size_t>(std::floor(position));
  if (below + 1 >= sorted.size()) return sorted.back();
  const double weight = position - static_cast<double>(below);
  return sorted[below] + weight * (sorted[below + 1] - sorted[below]);
}

// The percentile interval of one statistic's resampled values; NaN values are left out.
std::pair<double, double> percentile_interval(const double* values, size_t count, double level) {
  std::vector<double> finite;
  finite.reserve(count);
  for (size_t r = 0; r < count; ++r) {
    if (!std::isnan(values[r])) finite.push_back(values[r]);
  }
  if (finite.empty()) return {kNaN, kNaN};
  std::sort(finite.begin(), finite.end());
  return {quantile(finite, (1.0 - level) / 2.0), quantile(finite, (1.0 + level) / 2.0)};
}

size_t common_length(const std::vector<std::vector<double>>& rows) {
  const size_t n = rows.empty() ? 0 : rows.front().size();
  for (const auto& row : rows) CF_CHECK(row.size() == n, "every metric needs one value per user");
  return n;
}

double mean(const std::vector<double>& row) {
  return std::accumulate(row.begin(), row.end(), 0.0) / static_cast<double>(row.size());
}

// resampled[m * resamples + r] = mean of rows[m] over the users of resample r, computed as
// (multiplicity of each user in the resample) . rows[m] / n.
std::vector<double> resampled_means(const std::vector<const std::vector<double>*>& rows, size_t n,
                                    const BootstrapOptions& options) {
  const auto resamples = static_cast<size_t>(options.resamples);
  const size_t metrics = rows.size();
  std::vector<double> resampled(metrics * resamples);
  const size_t blocks = (resamples + kBlock - 1) / kBlock;
  const double inverse_n = 1.0 / static_cast<double>(n);
  // A user is drawn at most n times per resample.
  CF_CHECK(n <= std::numeric_limits<uint32_t>::max(), "too many users for the draw counters");
#pragma omp parallel
  {
    // draws[lane * n + u]: how often resample (block start + lane) drew user u. One lane's
    // counters stay in cache while its n random increments land.
    std::vector<uint32_t> draws(kBlock * n);
    // The multiplicities of kUserChunk users, interleaved by lane: [u * kBlock + lane].
    std::vector<double> multiplicity(kUserChunk * kBlock);
    std::vector<double> sums(metrics * kBlock);
#pragma omp for schedule(dynamic)
    for (size_t block = 0; block < blocks; ++block) {
      const size_t first = block * kBlock;
      const size_t lanes = std::min(kBlock, resamples - first);
      std::fill(draws.begin(), draws.end(), 0u);
      for (size_t lane = 0; lane < lanes; ++lane) {
        uint32_t* lane_draws = &draws[lane * n];
        draw_users(options.seed, first + lane, n, [&](size_t user) { ++lane_draws[user]; });
      }
      std::fill(sums.begin(), sums.end(), 0.0);
      // Users in chunks, all metrics per chunk: the multiplicities are read from cache, and every
      // sum still adds its users in order 0..n-1, so the result does not depend on the chunking.
      for (size_t chunk = 0; chunk < n; chunk += kUserChunk) {
        const size_t chunk_users = std::min(kUserChunk, n - chunk);
        for (size_t u = 0; u < chunk_users; ++u) {
          for (size_t lane = 0; lane < kBlock; ++lane) {
            multiplicity[u * kBlock + lane] = static_cast<double>(draws[lane * n + chunk + u]);
          }
        }
        for (size_t m = 0; m < metrics; ++m) {
          accumulate_lanes(multiplicity.data(), rows[m]->data() + chunk, chunk_users,
                           &sums[m * kBlock]);
        }
      }
      for (size_t m = 0; m < metrics; ++m) {
        for (size_t lane = 0; lane < lanes; ++lane) {
          resampled[m * resamples + first + lane] = sums[m * kBlock + lane] * inverse_n;
        }
      }
    }
  }
  return resampled;
}

// Runs body(indices, r) for every resample r, in parallel; the first exception is rethrown.
template <class Body>
void for_each_resample(size_t n, const BootstrapOptions& options, Body&& body) {
  const auto resamples = static_cast<size_t>(options.resamples);
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
#pragma omp parallel
  {
    std::vector<int64_t> indices(n);
#pragma omp for schedule(dynamic)
    for (size_t r = 0; r < resamples; ++r) {
      if (failed.load(std::memory_order_relaxed)) continue;
      try {
        size_t next = 0;
        draw_users(options.seed, r, n,
                   [&](size_t user) { indices[next++] = static_cast<int64_t>(user); });
        body(indices, r);
      } catch (...) {
#pragma omp critical(cf_report_bootstrap_failure)
        {
          if (!failure) failure = std::current_exception();
        }
        failed.store(true, std::memory_order_relaxed);
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
}

std::vector<int64_t> identity_sample(int64_t n) {
  std::vector<int64_t> indices(static_cast<size_t>(n));
  std::iota(indices.begin(), indices.end(), int64_t{0});
  return indices;
}

PairedDifference paired_from(double a, double b, std::pair<double, double> interval) {
  const auto [lower, upper] = interval;
  return {a, b, b - a, lower, upper, lower > 0 || upper < 0};  // false for NaN bounds
}

}  // namespace

std::vector<Interval> bootstrap_means(const std::vector<std::vector<double>>& per_user,
                                      const BootstrapOptions& options) {
  validate(options);
  const size_t n = common_length(per_user);
  if (n == 0) return std::vector<Interval>(per_user.size(), {kNaN, kNaN, kNaN});
  std::vector<const std::vector<double>*> rows;
  for (const auto& row : per_user) rows.push_back(&row);
  const std::vector<double> resampled = resampled_means(rows, n, options);
  const auto resamples = static_cast<size_t>(options.resamples);
  std::vector<Interval> out;
  for (size_t m = 0; m < per_user.size(); ++m) {
    const auto [lower, upper] =
        percentile_interval(&resampled[m * resamples], resamples, options.level);
    out.push_back({mean(per_user[m]), lower, upper});
  }
  return out;
}

std::vector<PairedDifference> paired_bootstrap(const std::vector<std::vector<double>>& a,
                                               const std::vector<std::vector<double>>& b,
                                               const BootstrapOptions& options) {
  validate(options);
  CF_CHECK(a.size() == b.size(), "paired bootstrap: a and b have different metric counts");
  const size_t n = common_length(a);
  CF_CHECK(b.empty() || common_length(b) == n, "paired bootstrap: a and b differ in users");
  if (n == 0) return std::vector<PairedDifference>(a.size(), {kNaN, kNaN, kNaN, kNaN, kNaN, false});
  // The difference of the two resampled means is the resampled mean of the per-user difference.
  std::vector<std::vector<double>> differences(a.size(), std::vector<double>(n));
  std::vector<const std::vector<double>*> rows;
  for (size_t m = 0; m < a.size(); ++m) {
    for (size_t u = 0; u < n; ++u) differences[m][u] = b[m][u] - a[m][u];
    rows.push_back(&differences[m]);
  }
  const std::vector<double> resampled = resampled_means(rows, n, options);
  const auto resamples = static_cast<size_t>(options.resamples);
  std::vector<PairedDifference> out;
  for (size_t m = 0; m < a.size(); ++m) {
    out.push_back(
        paired_from(mean(a[m]), mean(b[m]),
                    percentile_interval(&resampled[m * resamples], resamples, options.level)));
  }
  return out;
}

std::vector<Interval> bootstrap_statistic(int64_t n, const ResampleStatistic& statistic,
                                          const BootstrapOptions& options) {
  validate(options);
  CF_CHECK(n >= 0, "negative user count");
  const std::vector<double> estimate = statistic(identity_sample(n));
  const size_t metrics = estimate.size();
  std::vector<Interval> out;
  if (n == 0) {
    for (double value : estimate) out.push_back({value, kNaN, kNaN});
    return out;
  }
  const auto resamples = static_cast<size_t>(options.resamples);
  std::vector<double> resampled(metrics * resamples);
  for_each_resample(static_cast<size_t>(n), options,
                    [&](const std::vector<int64_t>& indices, size_t r) {
                      const std::vector<double> values = statistic(indices);
                      CF_CHECK(values.size() == metrics, "statistic changed its length");
                      for (size_t m = 0; m < metrics; ++m) resampled[m * resamples + r] = values[m];
                    });
  for (size_t m = 0; m < metrics; ++m) {
    const auto [lower, upper] =
        percentile_interval(&resampled[m * resamples], resamples, options.level);
    out.push_back({estimate[m], lower, upper});
  }
  return out;
}

std::vector<PairedDifference> paired_bootstrap_statistic(int64_t n,
                                                         const ResampleStatistic& statistic_a,
                                                         const ResampleStatistic& statistic_b,
                                                         const BootstrapOptions& options) {
  validate(options);
  CF_CHECK(n >= 0, "negative user count");
  const std::vector<int64_t> everyone = identity_sample(n);
  const std::vector<double> estimate_a = statistic_a(everyone);
  const std::vector<double> estimate_b = statistic_b(everyone);
  CF_CHECK(estimate_a.size() == estimate_b.size(),
           "paired bootstrap: the two statistics differ in length");
  const size_t metrics = estimate_a.size();
  std::vector<PairedDifference> out;
  if (n == 0) {
    for (size_t m = 0; m < metrics; ++m) {
      out.push_back(paired_from(estimate_a[m], estimate_b[m], {kNaN, kNaN}));
    }
    return out;
  }
  const auto resamples = static_cast<size_t>(options.resamples);
  std::vector<double> resampled(metrics * resamples);
  for_each_resample(static_cast<size_t>(n), options,
                    [&](const std::vector<int64_t>& indices, size_t r) {
                      const std::vector<double> values_a = statistic_a(indices);
                      const std::vector<double> values_b = statistic_b(indices);
                      CF_CHECK(values_a.size() == metrics && values_b.size() == metrics,
                               "statistic changed its length");
                      for (size_t m = 0; m < metrics; ++m) {
                        resampled[m * resamples + r] = values_b[m] - values_a[m];
                      }
                    });
  for (size_t m = 0; m < metrics; ++m) {
    out.push_back(
        paired_from(estimate_a[m], estimate_b[m],
                    percentile_interval(&resampled[m * resamples], resamples, options.level)));
  }
  return out;
}

}  // namespace cf::report
