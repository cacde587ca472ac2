// One AdamW update of one element: the arithmetic the CPU loop and the CUDA kernel share.
#pragma once
#include <cmath>

#include "kernels/host_device.h"

namespace cf::ops {

// Updates m and v in place and returns the new parameter. correction1/2 = 1 - beta^step
// (computed once per call, in double, by the caller); decay acts on the parameter itself
// (decoupled, Loshchilov & Hutter).
CF_HOST_DEVICE inline float adamw_element(float param, float grad, float& m, float& v, float lr,
                                          float beta1, float beta2, float eps, float weight_decay,
                                          float correction1, float correction2) {
  using std::sqrt;
  m = beta1 * m + (1.0f - beta1) * grad;
  v = beta2 * v + (1.0f - beta2) * grad * grad;
  const float m_hat = m / correction1;
  const float v_hat = v / correction2;
  return param - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * param);
}

}  // namespace cf::ops
