#!/usr/bin/env bash
# Nothing overwritten by accident: `gessl train --out DIR` refuses a DIR that holds a run (exit 2,
# a message naming the file and --resume/--force, every file as it was); --force replaces the
# run and removes its old checkpoint first; --resume continues it.
# Usage: overwrite_guard.sh GESSL WORKDIR
set -u
gessl=$1 work=$2
# shellcheck source=tests/check.sh
. "$(dirname "$0")/../check.sh"
fresh_dir "$work" overwrite_guard
run="$work/run"
tiny=(--data synthetic:16x16x3 --data-limit 64 --batch 16 --width 0.25 --threads 2
  --set proj_hidden_dim=32 --set proj_output_dim=16)
if "$gessl" train "${tiny[@]}" --max-steps 2 --out "$run" >"$work/first.log" 2>&1; then ok; else
  bad "first run"; cat "$work/first.log"; fi
sums() { (cd "$run" && cat config.json state.json checkpoint.safetensors log.jsonl | cksum); }
before=$(sums)
"$gessl" train "${tiny[@]}" --max-steps 3 --out "$run" >"$work/again.log" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "already holds a run (config.json); continue it with --resume" \
  "$work/again.log"; then ok; else bad "second --out: status $rc"; cat "$work/again.log"; fi
if [ "$(sums)" = "$before" ]; then ok; else bad "a refused --out changed the run directory"; fi
# A directory with only a checkpoint (config.json lost) is a run too.
mkdir -p "$work/bare" && cp "$run/checkpoint.safetensors" "$work/bare/"
"$gessl" train "${tiny[@]}" --max-steps 2 --out "$work/bare" >"$work/bare.log" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "checkpoint.safetensors" "$work/bare.log"; then ok; else
  bad "--out over a lone checkpoint: status $rc"; cat "$work/bare.log"; fi
if "$gessl" train --resume "$run" --max-steps 3 >"$work/resume.log" 2>&1 &&
  grep -q '"step":3' "$run/log.jsonl"; then ok; else bad "--resume"; cat "$work/resume.log"; fi
# --force: a new run whose log starts afresh; --force with a different model is allowed.
if "$gessl" train "${tiny[@]}" --width 0.5 --max-steps 1 --out "$run" --force >"$work/force.log" 2>&1 &&
  [ "$(grep -c '"type":"step"' "$run/log.jsonl")" -eq 1 ] && grep -q '"width":\s*0.5' "$run/config.json"
then ok; else bad "--force"; cat "$work/force.log"; fi
check_summary
