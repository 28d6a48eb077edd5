# shellcheck shell=sh
# The shell tests' twin of check.h, sourced first (. "$(dirname "$0")/../check.sh"): ok and bad
# count the checks (bad prints what failed), check_summary prints the counts and is the script's
# status, and fresh_dir DIR NAME empties the work directory DIR, refusing one not named NAME (a
# pattern) since it is removed whole.
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() {
  failed=$((failed + 1))
  echo "check failed: $*"
}
check_summary() {
  echo "$passed passed, $failed failed"
  test "$failed" -eq 0
}
fresh_dir() {
  # shellcheck disable=SC2254 # NAME is a pattern on purpose
  case "$1" in */$2) ;; *)
    echo "refusing work dir $1"
    exit 1
    ;;
  esac
  rm -rf "$1" && mkdir -p "$1"
}
