#!/usr/bin/env bash
# Soak: trains on every backend that has a device for SECONDS each (default 3600) and samples
# the process's resident memory (VmRSS) every INTERVAL seconds, and the GPU memory the process
# holds where nvidia-smi can tell it. On PoCL, rusticl and lavapipe the device memory is host
# memory, so it is inside VmRSS. A leak shows as resident memory that keeps growing after the
# first epochs; the summary compares the median of the second tenth of the samples (past start-up)
# with the median of the last tenth. Resident memory is also split: anonymous memory (the heap,
# device buffers of CPU drivers, a driver's JIT) is where a leak shows; file-backed pages grow
# while the program first touches more of its shared libraries, and are not a leak.
# Not a CI test: it takes an hour per backend.
#
# Usage: bench/soak.sh [OUTDIR]  (default /tmp/gessl-soak)
# Settings (environment): GESSL (the program), SECONDS_EACH (3600), INTERVAL (10), BACKENDS
# (default: every backend `gessl devices` lists as available), TRAIN_ARGS (the run; default a
# convnet + SimCLR on 32x32 synthetic images, batch 64, 2 threads, checkpoint every 50 steps,
# log every 50 steps, many epochs).
set -u
OUT=${1:-/tmp/gessl-soak}
HERE=$(cd "$(dirname "$0")/.." && pwd)
GESSL=${GESSL:-$HERE/build/bin/gessl}
SECONDS_EACH=${SECONDS_EACH:-3600}
INTERVAL=${INTERVAL:-10}
TRAIN_ARGS=${TRAIN_ARGS:-"--data synthetic:32x32x3 --data-limit 2048 --batch 64 --epochs 100000 \
--threads 2 --data-threads 1 --checkpoint-every 50 --log-every 50 --set proj_hidden_dim=128 \
--set proj_output_dim=64"}
[ -x "$GESSL" ] || { echo "soak: no program at $GESSL (set GESSL)" >&2; exit 2; }
mkdir -p "$OUT"
if [ -z "${BACKENDS:-}" ]; then
  BACKENDS=$("$GESSL" devices | sed -nE 's/^  ([a-z]+):[0-9]+ .*  available$/\1/p' | sort -u | tr '\n' ' ')
fi
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $SECONDS_EACH s per backend: $BACKENDS" | tee "$OUT/summary.txt"

gpu_mib() { # GPU memory held by pid (MiB) where nvidia-smi knows; "-" otherwise
  command -v nvidia-smi >/dev/null 2>&1 || { echo -; return; }
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null |
    awk -F', ' -v p="$1" '$1 == p { print $2; found = 1 } END { if (!found) print "-" }'
}

for be in $BACKENDS; do
  run="$OUT/$be"
  rm -rf "$run" "$run.csv"
  # shellcheck disable=SC2086 # TRAIN_ARGS is a word list on purpose
  "$GESSL" train --backend "$be" $TRAIN_ARGS --out "$run" >"$run.log" 2>&1 &
  pid=$!
  echo "seconds,rss_mib,anon_mib,gpu_mib,step" >"$run.csv"
  t0=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    now=$(($(date +%s) - t0))
    [ "$now" -ge "$SECONDS_EACH" ] && break
    rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null)
    anon=$(awk '/^RssAnon/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null)
    step=$(grep -o '"step":[0-9]*' "$run/log.jsonl" 2>/dev/null | tail -1 | tr -dc 0-9)
    echo "$now,${rss:-0},${anon:-0},$(gpu_mib "$pid"),${step:-0}" >>"$run.csv"
    sleep "$INTERVAL"
  done
  kill -INT "$pid" 2>/dev/null  # a clean stop: checkpoint, then exit 130
  wait "$pid"
  rc=$?
  awk -F, -v be="$be" -v rc="$rc" 'NR > 1 { n++; r[n] = $2; an[n] = $3; s[n] = $5; t[n] = $1 }
    function med(a, lo, hi,   k, m, v, i, j, x) { m = 0; for (k = lo; k <= hi; k++) v[++m] = a[k]
      for (i = 2; i <= m; i++) { x = v[i]; for (j = i - 1; j > 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
      return m ? v[int((m + 1) / 2)] : 0 }
    END { if (n < 10) { printf "%s: only %d samples (exit %d)\n", be, n, rc; exit }
      a = med(r, int(n / 10) + 1, int(n / 5)); b = med(r, n - int(n / 10) + 1, n)
      c = med(an, int(n / 10) + 1, int(n / 5)); d = med(an, n - int(n / 10) + 1, n)
      printf "%s: %d s, %d steps, %d samples; resident memory %.1f MiB (second tenth) -> %.1f MiB (last tenth), %+.1f MiB (%+.2f%%), of it anonymous %.1f -> %.1f MiB (%+.1f MiB); max %.1f MiB; exit %d\n",
        be, t[n], s[n], n, a, b, b - a, a ? 100 * (b - a) / a : 0, c, d, d - c, max(r, n), rc }
    function max(a, n,   k, m) { m = 0; for (k = 1; k <= n; k++) if (a[k] > m) m = a[k]; return m }' \
    "$run.csv" | tee -a "$OUT/summary.txt"
done
