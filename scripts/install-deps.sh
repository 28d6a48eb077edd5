#!/usr/bin/env bash
# Installs the Debian 12 packages gessl builds, tests and trains with. Run as root on a fresh
# machine (a fresh machine has no package lists, hence the update).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake pkg-config git
  libopenblas-dev                                   # CPU backend: cblas sgemm
  libdnnl-dev                                       # CPU backend: oneDNN convolutions (optional)
  ocl-icd-opencl-dev opencl-headers libclblast-dev  # OpenCL backend: ICD loader, CLBlast
  pocl-opencl-icd mesa-opencl-icd clinfo            # OpenCL drivers on CPUs: PoCL, Mesa rusticl
  libvulkan-dev glslc mesa-vulkan-drivers vulkan-tools vulkan-validationlayers  # Vulkan: lavapipe
  libpng-dev zlib1g-dev libcjson-dev                # data sets, checkpoints, logs
  libturbojpeg0-dev                                 # JPEG folders (TurboJPEG, DCT-domain scaling)
  libopenmpi-dev openmpi-bin                        # data-parallel training: gessl-comm-mpi, mpirun
  dataset-fashion-mnist                             # --data fashion-mnist
  python3-sklearn                                   # --data digits (its digits.csv.gz)
  python3 python3-torch                             # golden values, export check
  clang libclang-rt-14-dev                          # libFuzzer targets
  clang-format cppcheck                             # style and static checks
  valgrind                                          # CPU backend tests under memcheck (CI)
  time                                              # GNU time: peak RSS in bench-train-vs-torch.sh (gpu-check test)
  shellcheck                                        # shell scripts (lint.sh)
)
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (apt-get needs it)" >&2
  exit 1
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps.sh: ${#packages[@]} packages present"
