// GELU (tanh form) of one element and its derivative: the one definition the CPU and CUDA
// kernels compute (the CPU's AVX2 path vectorises the same formula with these constants).
#pragma once
#include <cmath>

#include "kernels/host_device.h"

namespace cf::ops {

template <class T>
inline constexpr T kGeluScale = T(0.7978845608028654);  // sqrt(2 / pi)
template <class T>
inline constexpr T kGeluCubic = T(0.044715);
// Exponent -2u above which the gradient is taken as exactly 0: deep in the negative tail (x
// below about -9.3) it is below 1e-32, and exp(-2u) would overflow to inf * 0 = NaN.
inline constexpr float kGeluTailExponent = 80.0f;

// x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): equals 0.5 x (1 + tanh u) without its
// cancellation for negative x.
template <class T>
CF_HOST_DEVICE inline T gelu_value(T x) {
  using std::exp;
  const T u = kGeluScale<T> * (x + kGeluCubic<T> * x * x * x);
  return x / (T(1) + exp(T(-2) * u));
}

// s + 2 x s (1 - s) u' with s = sigmoid(2u), 1 - s = e s; 0 past kGeluTailExponent.
template <class T>
CF_HOST_DEVICE inline T gelu_derivative(T x) {
  using std::exp;
  const T u = kGeluScale<T> * (x + kGeluCubic<T> * x * x * x);
  if (T(-2) * u > T(kGeluTailExponent)) return T(0);
  const T du = kGeluScale<T> * (T(1) + T(3) * kGeluCubic<T> * x * x);
  const T e = exp(T(-2) * u);
  const T s = T(1) / (T(1) + e);
  return s + T(2) * x * s * (e * s) * du;
}

}  // namespace cf::ops
