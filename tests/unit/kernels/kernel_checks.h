// Shared by the kernel tests: seeded random tensors, element-wise comparisons that name the
// worst element, and central finite differences for gradient checks in double precision.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace cf::kernel_test {

template <class T = double>
std::vector<T> random_values(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = T(dist(rng));
  return v;
}

inline std::vector<int32_t> random_ids(size_t n, uint64_t seed, int lo, int hi) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

template <class To, class From>
std::vector<To> cast(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// Every |got - want| <= rtol * max(1, |want|): relative for large values, absolute near zero.
template <class A, class B>
::testing::AssertionResult all_close(const std::vector<A>& got, const std::vector<B>& want,
                                     double rtol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  size_t worst = 0;
  double worst_ratio = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(double(got[i]) - double(want[i]));
    const double ratio = err / (rtol * std::max(1.0, std::abs(double(want[i]))));
    if (!(ratio <= worst_ratio)) {  // also catches NaN
      worst_ratio = ratio;
      worst = i;
    }
  }
  if (worst_ratio <= 1.0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "element " << worst << ": got " << double(got[worst]) << ", want "
         << double(want[worst]) << " (rtol " << rtol << ")";
}

// Every |got - want| <= rtol * max_i |want_i|: for tensors of small entries (gradients spread over
// a vocabulary) whose precision is set by the largest one.
template <class A, class B>
::testing::AssertionResult close_to_scale(const std::vector<A>& got, const std::vector<B>& want,
                                          double rtol) {
  double scale = 0;
  for (const auto& w : want) scale = std::max(scale, std::abs(double(w)));
  std::vector<double> got_scaled(got.begin(), got.end()), want_scaled(want.begin(), want.end());
  if (scale > 0) {
    for (auto& x : got_scaled) x /= scale;
    for (auto& x : want_scaled) x /= scale;
  }
  return all_close(got_scaled, want_scaled, rtol);
}

// Central differences (f(x + h) - f(x - h)) / 2h for every element of x; x is restored.
inline std::vector<double> numeric_gradient(std::vector<double>& x,
                                            const std::function<double()>& loss, double h = 1e-6) {
  std::vector<double> grad(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

// Central differences for the listed elements of x only (large tensors); x is restored.
inline std::vector<double> numeric_gradient_at(std::vector<double>& x,
                                               const std::vector<size_t>& indices,
                                               const std::function<double()>& loss,
                                               double h = 1e-6) {
  std::vector<double> grad;
  for (size_t i : indices) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    grad.push_back((up - down) / (2 * h));
  }
  return grad;
}

template <class T>
std::vector<T> gather(const std::vector<T>& x, const std::vector<size_t>& indices) {
  std::vector<T> out;
  for (size_t i : indices) out.push_back(x[i]);
  return out;
}

// Finite-difference gradients in double agree to this relative error (h = 1e-6: truncation
// ~1e-12, rounding ~1e-10 relative to the loss).
constexpr double kGradTolerance = 1e-6;
// Float kernels against naive double references.
constexpr double kFloatTolerance = 1e-5;

// max |analytic - numeric| / max |numeric| <= kGradTolerance: one error per gradient tensor, so
// elements whose true gradient is zero do not need special care.
inline ::testing::AssertionResult gradient_matches(const std::vector<double>& analytic,
                                                   const std::vector<double>& numeric) {
  if (analytic.size() != numeric.size())
    return ::testing::AssertionFailure() << "size " << analytic.size() << " vs " << numeric.size();
  double max_diff = 0, max_ref = 0;
  size_t worst = 0;
  for (size_t i = 0; i < numeric.size(); ++i) {
    const double diff = std::abs(analytic[i] - numeric[i]);
    if (!(diff <= max_diff)) {
      max_diff = diff;
      worst = i;
    }
    max_ref = std::max(max_ref, std::abs(numeric[i]));
  }
  // A gradient that is truly zero everywhere (e.g. d layernorm / d input for C == 1) must be
  // zero analytically too.
  const double err = max_ref == 0 ? max_diff : max_diff / max_ref;
  if (err <= kGradTolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "relative error " << err << " at element " << worst << ": analytic " << analytic[worst]
         << ", numeric " << numeric[worst];
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace cf::kernel_test
