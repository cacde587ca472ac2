// CPU binary cross-entropy on logits (propensity heads), stable for any logit magnitude.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/ops.h"

namespace cf::ops {

template <class T>
double bce_with_logits_forward_backward(T* dlogits, int64_t* counted, const T* logits,
                                        const float* labels, int N, T grad_scale) {
  double loss = 0;
  int64_t rows = 0;
  for (int n = 0; n < N; ++n) {
    if (labels[n] < 0.0f) continue;
    ++rows;
    const double x = double(logits[n]);
    const double y = double(labels[n]);
    // -y log s(x) - (1 - y) log(1 - s(x)) = max(x, 0) - x y + log(1 + exp(-|x|)): no overflow and
    // no log of a rounded-to-zero probability however large |x| is.
    loss += std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
    if (dlogits) {
      const double e = std::exp(-std::abs(x));
      const double sigmoid = x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
      dlogits[n] += T((sigmoid - y) * double(grad_scale));
    }
  }
  if (counted) *counted = rows;
  return loss;
}

template double bce_with_logits_forward_backward<float>(float*, int64_t*, const float*,
                                                        const float*, int, float);
template double bce_with_logits_forward_backward<double>(double*, int64_t*, const double*,
                                                         const float*, int, double);

}  // namespace cf::ops
