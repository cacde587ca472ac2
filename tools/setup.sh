#!/usr/bin/env bash
# Installs what Cartformer needs to build and test on Debian/Ubuntu, plus any packages given as
# arguments (tools/fuzz.sh passes clang and its runtimes). Idempotent: when every package is
# already present it makes no apt call at all.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libopenblas-openmp-dev            # BLAS for the CPU matmuls (OpenMP build, cooperates with our OpenMP)
  libdnnl-dev                       # oneDNN: bf16 matrix products (AMX / AVX512-BF16 CPUs)
  libhdf5-dev hdf5-tools            # corpus files (+ h5dump for inspection)
  libyaml-cpp-dev                   # configs
  nlohmann-json3-dev                # manifests, eval.json
  libssl-dev                        # SHA-256 and HMAC-SHA-256 from OpenSSL's libcrypto
  libgtest-dev                      # unit tests
  libopenmpi-dev openmpi-bin        # multi-rank training (mpirun)
  python3                           # optional format cross-checks in tests (h5py, safetensors)
  chromium fonts-dejavu-core        # headless rendering check of the HTML reports (tests)
  "$@"                              # what the caller needs besides
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
else
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# cuDNN's fused attention needs NVIDIA's cudnn_frontend headers, where a CUDA toolkit is.
if [ -f "${CUDA_HOME:-/usr/local/cuda}/include/cudnn.h" ]; then
  "$(dirname "$0")/fetch_cudnn_frontend.sh"
fi
