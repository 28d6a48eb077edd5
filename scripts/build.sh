#!/usr/bin/env bash
# Configures and builds gessl into build/ (Release, warnings are errors). Extra arguments go to
# cmake's configure step, e.g. scripts/build.sh -DGESSL_SANITIZE=ON with BUILD_DIR=build-asan.
# TARGETS (space-separated) builds only those targets.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
# Group- or world-writable plugins and build directories are refused by the plugin loader.
umask 022
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGESSL_WERROR=ON "$@" >/dev/null
# shellcheck disable=SC2086 # TARGETS is a word list on purpose
cmake --build "$build" -j"$(nproc)" ${TARGETS:+--target $TARGETS}
