// CF_HOST_DEVICE: marks a function that CPU and CUDA code both call, so one definition of a
// numerical rule serves every backend.
#pragma once

#if defined(__CUDACC__)
#define CF_HOST_DEVICE __host__ __device__
#else
#define CF_HOST_DEVICE
#endif
