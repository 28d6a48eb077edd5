#!/usr/bin/env bash
# SIGKILL at any moment: `gessl train --checkpoint-every 1` is killed at random moments (a fixed
# seed makes them repeatable), over and over, each time resumed with --resume. After every kill
# past the first checkpoint the run directory must hold a checkpoint that --resume loads, and the
# run, once finished, must have logged exactly the losses of a run that was never killed. The
# kills land in steps, in checkpoint writes (two fsyncs and renames per step here) and in start-up.
# Usage: kill_resume.sh GESSL WORKDIR [KILLS] [SEED]
set -u
gessl=$1 work=$2 kills=${3:-24} RANDOM=${4:-1}
# shellcheck source=tests/check.sh
. "$(dirname "$0")/../check.sh"
fresh_dir "$work" kill_resume
tiny=(--data synthetic:16x16x3 --data-limit 128 --batch 16 --epochs 3 --width 0.25 --seed 5
  --threads 2 --data-threads 1 --log-every 1 --checkpoint-every 1
  --set proj_hidden_dim=32 --set proj_output_dim=16)
losses() { grep '"type":"step"' "$1/log.jsonl" | sed -E 's/.*"step":([0-9]+),.*"loss":([^,]+),.*/\1 \2/'; }

start=$(date +%s%N)
"$gessl" train "${tiny[@]}" --out "$work/ref" >"$work/ref.log" 2>&1 || {
  echo "reference run failed"; cat "$work/ref.log"; exit 1; }
ref_ms=$((($(date +%s%N) - start) / 1000000))
echo "reference run: $ref_ms ms, $(losses "$work/ref" | wc -l) steps"

steps=$(losses "$work/ref" | wc -l)
run="$work/run"
killed=0 early=0 resumed=0 rounds=0 torn=0 midwrite=0
# Rounds: a fresh run killed and resumed until it finishes, then its losses are compared.
while [ $killed -lt "$kills" ]; do
  rounds=$((rounds + 1))
  rm -rf "$run"
  while :; do
    if [ -e "$run/checkpoint.safetensors" ]; then
      "$gessl" train --resume "$run" >>"$work/run.log" 2>&1 &
      resumed=$((resumed + 1))
    else
      "$gessl" train "${tiny[@]}" --out "$run" --force >>"$work/run.log" 2>&1 &
    fi
    pid=$!
    # Anywhere in a whole run's time; a kill that comes after the end finds the run finished.
    delay=$((RANDOM % (ref_ms + 1)))
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    if kill -KILL "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      killed=$((killed + 1))
      if [ -e "$run/checkpoint.safetensors" ]; then
        at=$(sed -nE 's/^\s*"step":\s*([0-9]+),.*/\1/p' "$run/state.json" 2>/dev/null | head -1)
        ck=$(head -c 2048 "$run/checkpoint.safetensors" | grep -ao '"step":"[0-9]*"' | tr -dc 0-9)
        tmp=$(find "$run" -name '.*.tmp-*' | wc -l)
        [ "${at:-none}" != "$ck" ] && torn=$((torn + 1))
        [ "$tmp" -gt 0 ] && midwrite=$((midwrite + 1))
        echo "kill $killed after $delay ms: checkpoint at step $ck, state.json at ${at:-none}, $tmp temporary files"
      else
        early=$((early + 1))
        echo "kill $killed after $delay ms: before the first checkpoint"
      fi
      continue
    fi
    wait "$pid"
    rc=$?
    if [ $rc -ne 0 ]; then
      echo "run exited with $rc after $killed kills:"; tail -5 "$work/run.log"; exit 1
    fi
    break
  done
  if ! diff <(losses "$work/ref") <(losses "$run") >"$work/diff"; then
    echo "round $rounds: losses differ from the run that was never killed:"; head -20 "$work/diff"
    exit 1
  fi
  leftover=$(find "$run" -name '.*.tmp-*' | wc -l)
  if [ "$leftover" -ne 0 ]; then echo "round $rounds: temporary files left: $leftover"; exit 1; fi
done
echo "$killed kills ($early before the first checkpoint, $midwrite during a file write, $torn" \
  "between the checkpoint's and state.json's renames), $resumed resumes, $rounds runs: every" \
  "resume loaded its checkpoint, and every run logged the $steps losses of the run never killed"
