#!/usr/bin/env bash
# Installs the dependencies, builds gessl, checks style and static analysis, and runs every test:
# the Release build on every backend (CPU; OpenCL on PoCL and on Mesa rusticl; Vulkan on
# lavapipe with the validation layer), the unit tests again under ASan+UBSan, the CPU backend's
# tests under Valgrind, the data loader's under ThreadSanitizer, and the fuzz targets over their
# corpora. Exits non-zero on the first failing stage.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# Plugins load only from files and directories that nobody but root and this user may write
# (docs/reliability.md): a umask such as 002 would make the build tree refuse its own plugins.
umask 022
chmod go-w .

stage() { printf '\n==== %s\n' "$*"; }

# Runs ctest in a build directory and adds its counts to the totals printed at the end.
passed=0
failed=0
run_ctest() {
  local dir=$1
  shift
  local log
  log=$(mktemp)
  local rc=0
  (cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$log" || rc=$?
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1 || true)
  rm -f "$log"
  if [ -n "$line" ]; then
    local total bad
    total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
    bad=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$line")
    passed=$((passed + total - bad))
    failed=$((failed + bad))
  fi
  return "$rc"
}

stage "install dependencies"
if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh; else echo "not root: assuming dependencies are installed"; fi

stage "style and static analysis"
bash scripts/lint.sh

stage "release build (-Werror)"
BUILD_DIR=build bash scripts/build.sh

stage "tests: every backend"
# A backend that cannot start is a failing test, never a skip: the conformance tests exit
# non-zero when their device does not open.
run_ctest build -j"$jobs" --timeout 900

stage "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
BUILD_DIR=build-asan bash scripts/build.sh -DCMAKE_BUILD_TYPE=Debug -DGESSL_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  run_ctest build-asan -j"$jobs" -L unit --timeout 900

stage "CPU backend unit tests under Valgrind memcheck"
# The release build's tests on the CPU backend (label backend-cpu), through ctest's memcheck: any
# invalid access, use of uninitialised memory or definite leak fails the test. The suppressions
# name third-party libraries only (tests/valgrind.supp says why for each).
run_ctest build -j"$jobs" -L backend-cpu -T memcheck --timeout 900 \
  --overwrite MemoryCheckCommandOptions="--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --num-callers=30" \
  --overwrite MemoryCheckSuppressionFile="$PWD/tests/valgrind.supp"

stage "data loader tests under ThreadSanitizer"
# Only the runtime and the loader's tests, built with -fsanitize=thread: the loader's worker
# threads, prefetch queue and seek are where the data races would be, and the image cache's
# parallel build.
BUILD_DIR=build-tsan TARGETS="test_data_loader test_data_stream test_data_image_cache" \
  bash scripts/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGESSL_SANITIZE_THREAD=ON
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  run_ctest build-tsan -j"$jobs" -R '^test_data_(loader|stream|image_cache)$' --timeout 900

stage "fuzz targets over their corpora (libFuzzer + ASan)"
# Only the fuzz targets: the rest of the tree was built and tested above.
# Each target fuzzes for 30 s (GESSL_FUZZ_SECONDS), two at a time.
BUILD_DIR=build-fuzz CC=clang CXX=clang++ \
  TARGETS="fuzz_idx fuzz_cifar fuzz_png fuzz_jpeg fuzz_cache fuzz_safetensors fuzz_settings fuzz_state fuzz_set" \
  bash scripts/build.sh -DGESSL_FUZZ=ON
run_ctest build-fuzz -j"$jobs" -L fuzz --timeout 300

stage "all stages passed"
echo "tests: $passed passed, $failed failed"
