// The attention mask every backend applies: causal, with key padding.
#pragma once
#include "kernels/host_device.h"

namespace cf::ops {

// Keys visible to query t of a sequence with `length` real positions: s < min(t + 1, length).
CF_HOST_DEVICE inline int visible_keys(int t, int length) {
  return t + 1 < length ? t + 1 : length;
}

}  // namespace cf::ops
