#!/usr/bin/env bash
# Faults on the device (docs/reliability.md): an allocation that fails, a program build that
# fails, a launch that fails mid-run and a device that stops answering (GESSL_FAULT, injected in
# the backend behind the runtime's test-only switch) each end `gessl train` with status 1 and one
# message naming the device, the cause and the checkpoint kept; that checkpoint is whole: --resume
# loads it and finishes the run. The hang is given up after GESSL_WAIT_TIMEOUT=5 seconds.
# Usage: device_faults.sh GESSL WORKDIR SPEC
set -u
gessl=$1 work=$2 spec=$3
# shellcheck source=tests/check.sh
. "$(dirname "$0")/../check.sh"
fresh_dir "$work" 'device_faults_*'
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

# Program runs, counted by a fault that does not fire (it says how many it saw): those of a resume
# to step 4, so the next one is the first of step 5, after the checkpoint of step 4; and those of
# a resume's set-up alone (a run already at its last step), so the next one is its first step's.
runs() { # runs DIR MAX_STEPS
  GESSL_FAULT=launch:1000000000 "$gessl" train --resume "$1" --max-steps "$2" >"$1.log" 2>&1
  sed -n 's/.*GESSL_FAULT=launch:1000000000 did not fire: \([0-9]*\) launch occurrences.*/\1/p' "$1.log"
}
cp -a "$work/base" "$work/count"
cp -a "$work/base" "$work/setup"
to4=$(runs "$work/count" 4)
setup=$(runs "$work/setup" 2)
[ -n "$to4" ] && [ -n "$setup" ] && [ "$(ckpt_step "$work/count")" = 4 ] ||
  { echo "cannot count the program runs"; cat "$work/count.log" "$work/setup.log"; exit 1; }
echo "program runs: $setup to set up a resumed run, $to4 to resume to step 4"

# One case: the fault, the cause the message gives, the checkpoint step kept and how the message
# says so, resuming a copy of FROM towards step 6. fault NAME FROM GESSL_FAULT CAUSE STEP KEPT
fault() {
  local name=$1 from=$2 what=$3 cause=$4 step=$5 kept=$6 run="$work/$1"
  cp -a "$work/$from" "$run"
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
  # Kept as it was: the very file the base run wrote (which the count runs resumed from); else
  # the run's last checkpoint, which must resume.
  if [ "$step" = 2 ]; then
    cmp -s "$work/base/checkpoint.safetensors" "$run/checkpoint.safetensors" && ok ||
      bad "$name: the checkpoint changed"
  elif "$gessl" train --resume "$run" --max-steps 6 >"$run.2.log" 2>&1 && [ "$(ckpt_step "$run")" = 6 ]; then
    ok; else bad "$name: the kept checkpoint does not resume to step 6"; tail -3 "$run.2.log"; fi
  echo "$name ($what, ${secs} s): $msg"
}
# The default wait limit, except for the hang, which resumes from step 4 so that its first step
# is the one that hangs: no real step waits under the short limit (a step on lavapipe under the
# validation layer, or on rusticl, can take longer on a loaded machine).
limit=600
fault alloc base alloc "out of memory|OUT_OF_.*MEMORY|ALLOCATION_FAILURE" 2 \
  "the checkpoint in $work/alloc is kept as it was"
fault build base build "build failed|pipeline|shader" 2 "the checkpoint in $work/build is kept as it was"
fault launch base "launch:$((to4 + 1))" "step 5 .*(launch|LOST|OUT_OF_RESOURCES)" 4 \
  "the last checkpoint, step 4, is kept in $work/launch"
limit=5
fault hang count "hang:$((setup + 1))" "step 5 .*no result in 5 s.*stopped answering" 4 \
  "the last checkpoint, step 4, is kept in $work/hang"
check_summary
