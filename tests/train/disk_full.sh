#!/usr/bin/env bash
# Disk full and write errors: a checkpoint, log.jsonl or curves.png write that fails ends
# `gessl train` with status 1 and a message naming the file, the cause and the checkpoint kept;
# that checkpoint is the previous one, whole (--resume loads it and finishes with the losses of
# a run that never failed), and no temporary or truncated file is left under a run file's name.
# EFBIG comes from RLIMIT_FSIZE (SIGXFSZ ignored, so write() fails instead of killing); ENOSPC
# from a small tmpfs, mounted where the machine lets root do so; EIO from a test-only LD_PRELOAD
# shim (eio_shim.c) that fails the write, fsync or stdio flush of one file.
# Usage: disk_full.sh GESSL WORKDIR EIO_SHIM
set -u
gessl=$1 work=$2 shim=$3
# shellcheck source=tests/check.sh
. "$(dirname "$0")/../check.sh"
case "$work" in */disk_full) ;; *) echo "refusing work dir $work"; exit 1 ;; esac
umount "$work/tmpfs" 2>/dev/null
rm -rf "$work" && mkdir -p "$work"
tiny=(--data synthetic:16x16x3 --data-limit 128 --batch 16 --epochs 2 --width 0.25 --seed 5
  --threads 2 --data-threads 1 --log-every 1 --set proj_hidden_dim=32 --set proj_output_dim=16)
losses() { grep '"type":"step"' "$1/log.jsonl" | sed -E 's/.*"step":([0-9]+),.*"loss":([^,]+),.*/\1 \2/'; }
ckpt_step() { head -c 2048 "$1/checkpoint.safetensors" | grep -ao '"step":"[0-9]*"' | tr -dc 0-9; }

"$gessl" train "${tiny[@]}" --out "$work/ref" >"$work/ref.log" 2>&1 || {
  echo "reference run failed"; cat "$work/ref.log"; exit 1; }

# One case: a run checkpointed at step 3, resumed under a fault (FAULT: shell commands run before
# the resume, in its subshell) that fails the next write of FILE; then resumed without it to the
# end. Runs with $extra (long epochs) have their own reference run.
# fault NAME FAULT FILE CAUSE RESUME_ARGS...
fault() {
  local name=$1 setup=$2 file=$3 cause=$4
  shift 4
  local run="$work/$name" ref="$work/ref"
  if [ -n "$extra" ]; then ref="$work/ref-long"; fi
  "$gessl" train "${tiny[@]}" $extra --max-steps 3 --out "$run" >"$run.0.log" 2>&1 || {
    bad "$name: first run"; return; }
  (eval "$setup" && exec "$gessl" train --resume "$run" --max-steps 0 "$@") >"$run.1.log" 2>&1
  local rc=$?
  if [ $rc -eq 1 ] && grep -q "$file.*$cause" "$run.1.log" &&
    grep -q "the last checkpoint, step 3, is kept in $run" "$run.1.log"; then ok; else
    bad "$name: status $rc, expected 1 and a message naming $file, '$cause' and step 3"
    cat "$run.1.log"
  fi
  [ "$(ckpt_step "$run")" = 3 ] && ok || bad "$name: checkpoint not at step 3: $(ckpt_step "$run")"
  local tmp
  tmp=$(find "$run" -name '.*.tmp-*' | wc -l)
  [ "$tmp" -eq 0 ] && ok || bad "$name: $tmp temporary files left"
  if "$gessl" train --resume "$run" --max-steps 0 >"$run.2.log" 2>&1 &&
    diff <(losses "$ref") <(losses "$run") >/dev/null; then ok; else
    bad "$name: resumed run does not end with the reference losses"; tail -3 "$run.2.log"
  fi
  echo "$name: $(grep 'gessl train:' "$run.1.log")"
}
# EFBIG: the file size limit (KB) is below what the next write of FILE needs.
efbig() { fault "$1" "trap '' XFSZ && ulimit -f $2" "${@:3}"; }
# EIO: the shim fails CALL on FILE after SKIP such calls went through.
eio() { fault "$1" "export LD_PRELOAD=$shim GESSL_TEST_EIO=$2" "${@:3}"; }
extra=""
# The checkpoint (about 220 KB) does not fit in 100 KB.
efbig checkpoint 100 checkpoint.safetensors "File too large" --checkpoint-every 1
# curves.png (about 35 KB) at the end of the first epoch (step 8), with log.jsonl still small.
efbig plot 20 curves.png "File too large"
# The checkpoint of step 4 fails to write, or to reach the disk (fsync); the second log line
# after the resume (step 5's) cannot be flushed.
eio eio-write write:checkpoint.safetensors checkpoint.safetensors "Input/output error" \
  --checkpoint-every 1
eio eio-fsync fsync:checkpoint.safetensors checkpoint.safetensors "Input/output error" \
  --checkpoint-every 1
eio eio-log fflush:log.jsonl:2 log.jsonl "Input/output error"
# log.jsonl grows past 6 KB (config.json is about 3 KB) long before the first epoch (64 steps)
# ends.
extra="--data-limit 1024 --epochs 1"
"$gessl" train "${tiny[@]}" $extra --out "$work/ref-long" >"$work/ref-long.log" 2>&1 ||
  bad "long reference run"
efbig log 6 log.jsonl "File too large"

# ENOSPC: a tmpfs with room for one checkpoint, not for its replacement beside it.
mnt="$work/tmpfs"
mkdir -p "$mnt"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=400k gessl-disk-full "$mnt" 2>/dev/null; then
  trap 'umount "$mnt" 2>/dev/null' EXIT
  run="$mnt/run"
  "$gessl" train "${tiny[@]}" --checkpoint-every 1 --out "$run" >"$work/enospc.log" 2>&1
  rc=$?
  if [ $rc -eq 1 ] && grep -q "No space left on device" "$work/enospc.log" &&
    grep -q "the last checkpoint, step 1, is kept" "$work/enospc.log"; then ok; else
    bad "ENOSPC: status $rc"; cat "$work/enospc.log"; fi
  [ "$(ckpt_step "$run")" = 1 ] && ok || bad "ENOSPC: checkpoint not at step 1"
  [ "$(find "$run" -name '.*.tmp-*' | wc -l)" -eq 0 ] && ok || bad "ENOSPC: temporary files left"
  # Free space (drop the plot) and the run resumes from step 1 to the reference losses.
  rm -f "$run/curves.png"
  mkdir -p "$work/enospc" && cp -a "$run/." "$work/enospc/"
  umount "$mnt"
  if "$gessl" train --resume "$work/enospc" >"$work/enospc.2.log" 2>&1 &&
    diff <(losses "$work/ref") <(losses "$work/enospc") >/dev/null; then ok; else
    bad "ENOSPC: resumed run does not end with the reference losses"; tail -3 "$work/enospc.2.log"
  fi
  echo "ENOSPC: $(grep 'gessl train:' "$work/enospc.log")"
else
  echo "ENOSPC case not run: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)"
fi
check_summary
