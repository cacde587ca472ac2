// CPU AdamW step with bias correction and decoupled weight decay.
#include <cmath>
#include <cstdint>

#include "core/error.h"
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
  for (int64_t i = 0; i < n; ++i) {
    const float g = grads[i] * grad_scale;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float m_hat = mi / correction1;
    const float v_hat = vi / correction2;
    // Decay acts on the parameter itself, not through the gradient (Loshchilov & Hutter).
    params[i] -= lr * (m_hat / (std::sqrt(v_hat) + eps) + weight_decay * params[i]);
  }
}

}  // namespace cf::ops
