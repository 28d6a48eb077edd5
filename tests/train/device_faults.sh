#!/usr/bin/env bash
# Faults on the device (docs/reliability.md): an allocation that fails, a program build that
# fails, a launch that fails mid-run and a device that stops answering (GESSL_FAULT, injected in
# the backend behind the runtime's test-only switch) each end `gessl train` with status 1 and one
# message naming the device, the cause and the checkpoint kept; that checkpoint is whole: --resume
# loads it and finishes the run. The hang is given up after GESSL_WAIT_TIMEOUT=10 seconds.
# Usage: device_faults.sh GESSL WORKDIR SPEC
set -u
gessl=$1 work=$2 spec=$3
case "$work" in */device_faults_*) ;; *) echo "refusing work dir $work"; exit 1 ;; esac
rm -rf "$work" && mkdir -p "$work"
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "check failed: $*"; }
tiny=(--data synthetic:16x16x3 --data-limit 128 --batch 16 --width 0.25 --seed 5 --threads 2
  --data-threads 1 --log-every 1 --checkpoint-every 1 --set proj_hidden_dim=32
  --set proj_output_dim=16)
ckpt_step() { head -c 2048 "$1/checkpoint.safetensors" | grep -ao '"step":"[0-9]*"' | tr -dc 0-9; }

# A run checkpointed at step 2: every case resumes a copy of it towards step 6.
"$gessl" train "${tiny[@]}" --backend "$spec" --max-steps 2 --out "$work/base" >"$work/base.log" 2>&1 ||
  { echo "base run failed"; cat "$work/base.log"; exit 1; }
# "final loss ... on opencl: <device name>" names the device every message must name.
backend=$(sed -n 's/^final loss .* on \([a-z]*\): .*$/\1/p' "$work/base.log")
device=$(sed -n 's/^final loss .* on [a-z]*: \(.*\)$/\1/p' "$work/base.log")
[ -n "$device" ] || { echo "no device in the base run's output"; cat "$work/base.log"; exit 1; }
echo "device: $backend device $device"

# Program runs of a resume to step 4: the next one is the first of step 5, after the checkpoint
# of step 4 (a fault that does not fire says how many it saw).
cp -a "$work/base" "$work/count"
GESSL_FAULT=launch:1000000000 "$gessl" train --resume "$work/count" --max-steps 4 >"$work/count.log" 2>&1
runs=$(sed -n 's/.*GESSL_FAULT=launch:1000000000 did not fire: \([0-9]*\) launch occurrences.*/\1/p' "$work/count.log")
[ -n "$runs" ] || { echo "cannot count the program runs"; cat "$work/count.log"; exit 1; }
next=$((runs + 1))

# One case: the fault, the cause the message gives, the checkpoint step kept and how the message
# says so. fault NAME GESSL_FAULT CAUSE STEP KEPT
fault() {
  local name=$1 what=$2 cause=$3 step=$4 kept=$5 run="$work/$1"
  cp -a "$work/base" "$run"
  local t0=$SECONDS
  GESSL_WAIT_TIMEOUT=$limit GESSL_FAULT=$what timeout 300 "$gessl" train --resume "$run" \
    --max-steps 6 >"$run.1.log" 2>&1
  local rc=$? secs=$((SECONDS - t0)) msg
  # The message, from its first line on (a build log spans several).
  msg=$(sed -n '/^gessl train:/,$p' "$run.1.log" | tr '\n' ' ')
  if [ $rc -eq 1 ] && grep -qF "$backend device" <<<"$msg" && grep -qF "$device" <<<"$msg" &&
    grep -qE "$cause" <<<"$msg" && grep -qF "$kept" <<<"$msg" &&
    [ "$(grep -c '^gessl train:' "$run.1.log")" -eq 1 ]; then ok; else
    bad "$name: status $rc, expected 1 and one message naming $backend, $device, /$cause/ and '$kept'"
    cat "$run.1.log"
  fi
  [ "$(ckpt_step "$run")" = "$step" ] && ok || bad "$name: checkpoint at step $(ckpt_step "$run"), not $step"
  [ "$(find "$run" -name '.*.tmp-*' | wc -l)" -eq 0 ] && ok || bad "$name: temporary files left"
  # Kept as it was: the very file the base run wrote (which the count run resumed from); else
  # the run's own last checkpoint, which must resume.
  if [ "$step" = 2 ]; then
    cmp -s "$work/base/checkpoint.safetensors" "$run/checkpoint.safetensors" && ok ||
      bad "$name: the checkpoint changed"
  elif "$gessl" train --resume "$run" --max-steps 6 >"$run.2.log" 2>&1 && [ "$(ckpt_step "$run")" = 6 ]; then
    ok; else bad "$name: the kept checkpoint does not resume to step 6"; tail -3 "$run.2.log"; fi
  echo "$name ($what, ${secs} s): $msg"
}
# The default wait limit, except for the hang: long enough for any step here on a loaded machine
# (a step on lavapipe under the validation layer), short enough to keep the test quick.
limit=600
fault alloc alloc "out of memory|OUT_OF_.*MEMORY|ALLOCATION_FAILURE" 2 "the checkpoint in $work/alloc is kept as it was"
fault build build "build failed|pipeline|shader" 2 "the checkpoint in $work/build is kept as it was"
fault launch "launch:$next" "step 5 .*(launch|LOST|OUT_OF_RESOURCES)" 4 "the last checkpoint, step 4, is kept in $work/launch"
limit=10
fault hang "hang:$next" "no result in 10 s.*stopped answering" 4 "the last checkpoint, step 4, is kept in $work/hang"
echo "$passed passed, $failed failed"
test "$failed" -eq 0
