#!/usr/bin/env bash
# tools/fetch_cudnn_frontend.sh: puts NVIDIA's cudnn_frontend headers (the C++ graph API of
# cuDNN 9, header-only, MIT licence) in .deps/cudnn-frontend/include, where CMake looks for them
# to build `cuda.attention: cudnn` (kernels/cuda/cudnn_attention.cpp). They come from the
# nvidia-cudnn-frontend wheel on PyPI, pinned by version and SHA-256. Idempotent; without network
# it says so and exits 0: the build then goes on without cuDNN attention.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=1.32.0
wheel=nvidia_cudnn_frontend-$version-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
sha256=c6006556017a4d1c914c52a556c71b1267f2d6a0500f742e7b4edef539878df0
dest=$root/.deps/cudnn-frontend
if [ -f "$dest/include/cudnn_frontend.h" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  echo "cudnn_frontend $version: present"
  exit 0
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
if ! python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
     --platform manylinux_2_28_x86_64 "nvidia-cudnn-frontend==$version" -d "$stage" >/dev/null 2>&1; then
  echo "cudnn_frontend: could not download nvidia-cudnn-frontend==$version from PyPI;" \
       "building without cuda.attention: cudnn" >&2
  exit 0
fi
echo "$sha256  $stage/$wheel" | sha256sum --check --quiet || {
  echo "cudnn_frontend: $wheel does not have the pinned SHA-256; not using it" >&2
  exit 1
}
python3 - "$stage/$wheel" "$stage/unpacked" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in wheel.namelist():
        if name.startswith("include/"):
            wheel.extract(name, sys.argv[2])
PY
rm -rf "$dest"
mkdir -p "$dest"
mv "$stage/unpacked/include" "$dest/include"
echo "$version" > "$dest/VERSION"
echo "cudnn_frontend $version: headers in ${dest#$root/}/include"
