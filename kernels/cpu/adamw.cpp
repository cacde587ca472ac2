// CPU AdamW step with bias correction and decoupled weight decay.
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "kernels/adamw_rule.h"
#include "kernels/ops.h"

namespace cf::ops {

void adamw_update(float* params, const float* grads, float* m, float* v, int64_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t step,
                  float grad_scale) {
  CF_CHECK(step >= 1, "adamw_update: step is 1-based");
  // Bias corrections in double: beta^step loses digits in float for long runs.
  const float correction1 = float(1.0 - std::pow(double(beta1), double(step)));
  const float correction2 = float(1.0 - std::pow(double(beta2), double(step)));
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i)
    params[i] = adamw_element(params[i], grads[i] * grad_scale, m[i], v[i], lr, beta1, beta2, eps,
                              weight_decay, correction1, correction2);
}

}  // namespace cf::ops
