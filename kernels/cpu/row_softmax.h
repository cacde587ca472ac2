// Row primitives of a numerically stable softmax over long rows (item vocabularies).
#pragma once

namespace cf::ops::cpu {

// Adds bias[0..n) (skipped when null) to x in place and returns the row maximum.
template <class T>
T add_bias_and_max(T* x, const T* bias, int n);

// x[i] = exp(x[i] - shift) in place; returns the sum of the new values, accumulated in double.
// The float version uses a polynomial exp (about 1 ulp, the same bits with AVX-512 and AVX2).
template <class T>
double exp_shifted_and_sum(T* x, T shift, int n);

// x[i] = exp(x[i] + bias[i] - shift) * factor (bias skipped when null): a block's softmax
// share computed again in one pass, with the bits that add_bias_and_max, exp_shifted_and_sum
// and scale_row give in turn.
template <class T>
void exp_shifted_scaled(T* x, const T* bias, T shift, T factor, int n);

// x[i] *= factor.
template <class T>
void scale_row(T* x, T factor, int n);

}  // namespace cf::ops::cpu
