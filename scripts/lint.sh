#!/usr/bin/env bash
# Style (clang-format, .clang-format at the root) and static analysis (cppcheck) of the C sources,
# and shellcheck (warnings and errors) of the shell scripts.
# invalidPointerCast is off: kernels copy 4-byte elements as uint32 on purpose (f32 and i32 alike).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/corpus/')
echo "clang-format: ${#files[@]} files"
clang-format --dry-run --Werror "${files[@]}"
echo "cppcheck"
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
  --inline-suppr --suppress=missingIncludeSystem --suppress=invalidPointerCast -I include -I runtime -I ops \
  -D__GNUC__ -DGS_API= \
  runtime ops backends plugins cli
mapfile -t scripts < <(git ls-files '*.sh')
echo "shellcheck: ${#scripts[@]} scripts"
shellcheck --severity=warning "${scripts[@]}"
