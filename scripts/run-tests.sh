#!/usr/bin/env bash
# Installs the dependencies, builds gessl, checks style and static analysis, and runs every test:
# the Release build on every backend (CPU; OpenCL on PoCL and on Mesa rusticl; Vulkan on
# lavapipe with the validation layer), the unit tests again under ASan+UBSan, and the fuzz targets
# over their corpora. Exits non-zero on the first failing stage.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

stage() { printf '\n==== %s\n' "$*"; }

stage "install dependencies"
if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh; else echo "not root: assuming dependencies are installed"; fi

stage "style and static analysis"
bash scripts/lint.sh

stage "release build (-Werror)"
BUILD_DIR=build bash scripts/build.sh

stage "tests: every backend"
# A backend that cannot start is a failing test, never a skip: the conformance tests exit
# non-zero when their device does not open.
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900)

stage "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
BUILD_DIR=build-asan bash scripts/build.sh -DCMAKE_BUILD_TYPE=Debug -DGESSL_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" -L unit --timeout 900)

if [ -d tests/fuzz ] && command -v clang >/dev/null; then
  stage "fuzz targets over their corpora (libFuzzer + ASan)"
  BUILD_DIR=build-fuzz CC=clang CXX=clang++ bash scripts/build.sh -DGESSL_FUZZ=ON
  (cd build-fuzz && ctest --output-on-failure -L fuzz --timeout 300)
fi

stage "all stages passed"
