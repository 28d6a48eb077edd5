#!/bin/sh
# A whole SimCLR training step on the CPU backend against PyTorch on the same CPU, same threads.
#
# For each model, each round runs `gessl train` on synthetic data (through the augmenting
# loader), then the same with OPENBLAS_CORETYPE unset (when the environment sets it), then
# bench/torch_train_step.py, back to back, so load from other processes falls on all of them
# alike. Prints every run, then per model the median over rounds of the ratios gessl/torch of
# images/s (above 1: gessl faster) and of peak RSS (below 1: gessl smaller), gessl's start-up
# (process start to first step: wall time less the steps' time), and its useful FLOP/s (model
# FLOPs from the torch peer x 3 x 2 views x images/s) against the best fp32 GEMM rate
# (gessl-bench-cpu --peak, measured before and after the rounds; the higher is used; on the CPU
# backend only, since a device's rate is not the CPU's).
#
# usage: bench/bench-train-vs-torch.sh [-b BUILD_DIR] [-B BASE_BUILD] [-r ROUNDS] [-t THREADS]
#                                       [-m MODELS] [-k BACKEND]
#   BUILD_DIR  gessl build (default: build)              ROUNDS   default 3
#   BASE_BUILD another gessl build (an older commit) timed in the same rounds as gessl-base
#   THREADS    threads for both (default: all cores)      MODELS   default "convnet resnet18"
#   BACKEND    gessl's --backend for both gessl builds (default cpu; torch runs on TORCH_DEVICE),
#              e.g. vulkan:llvmpipe with -B to time a backend against an older build of it
# OMP_WAIT_POLICY and the like are passed through to both (both use libgomp): on a machine
# shared with other work, OMP_WAIT_POLICY=passive keeps idle workers from spinning.
# Per model: CONVNET_INPUT (28x28x1), CONVNET_BATCH (256), CONVNET_STEPS (8), RESNET_INPUT
# (32x32x3), RESNET_BATCH (128), RESNET_STEPS (3). PYTHON (default /usr/bin/python3, which has
# Debian's python3-torch). TORCH_DEVICE (cpu): where the torch peer runs, e.g. cuda (TF32 off).
# GNU_TIME (/usr/bin/time): GNU time, for the peak RSS. gessl runs with the build's lib/ ahead
# of the caller's LD_LIBRARY_PATH (which may name libraries carried beside a copied build).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=build
base=
rounds=3
threads=$(nproc)
models="convnet resnet18"
backend=cpu
while getopts b:B:r:t:m:k: o; do
  case $o in
  b) build=$OPTARG ;;
  B) base=$OPTARG ;;
  r) rounds=$OPTARG ;;
  t) threads=$OPTARG ;;
  m) models=$OPTARG ;;
  k) backend=$OPTARG ;;
  *) sed -n 2,23p "$0" >&2; exit 2 ;;
  esac
done
gessl=$build/bin/gessl
py=${PYTHON:-/usr/bin/python3}
tdev=${TORCH_DEVICE:-cpu}
gtime=${GNU_TIME:-/usr/bin/time}
[ -x "$gessl" ] || { echo "bench-train-vs-torch: $gessl not found (build first)" >&2; exit 1; }
[ -z "$base" ] || [ -x "$base/bin/gessl" ] || { echo "bench-train-vs-torch: $base/bin/gessl not found" >&2; exit 1; }
"$py" -c 'import torch' 2>/dev/null || { echo "bench-train-vs-torch: $py has no torch" >&2; exit 1; }
[ -x "$gtime" ] || { echo "bench-train-vs-torch: $gtime (GNU time) missing" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -f "$tmp"/out "$tmp"/time "$tmp"/rows; rmdir "$tmp"' EXIT

# run LABEL CMD...: prints "LABEL images/s rss_kb startup_s gflop_per_view" and appends it to
# the rows file (startup: gessl only; GFLOP per view: torch only; "-" where absent).
run() {
  label=$1
  shift
  if ! "$gtime" -f '%M %e' -o "$tmp/time" "$@" >"$tmp/out" 2>&1; then
    echo "bench-train-vs-torch: $label failed:" >&2
    tail -5 "$tmp/out" >&2
    exit 1
  fi
  ips=$(sed -n 's/.*  \([0-9.]*\) images\/s.*/\1/p' "$tmp/out" | tail -1)
  rss=$(tail -1 "$tmp/time" | cut -d' ' -f1)
  wall=$(tail -1 "$tmp/time" | cut -d' ' -f2)
  steps_s=$(sed -n 's/.* images in \([0-9.]*\) s .*/\1/p' "$tmp/out" | tail -1)
  gflop=$(sed -n 's/^model forward GFLOP per view: //p' "$tmp/out")
  start=-
  [ -z "$steps_s" ] || start=$(echo "$wall $steps_s" | awk '{ printf "%.2f", $1 - $2 }')
  [ -n "$ips" ] || { echo "bench-train-vs-torch: $label: no images/s in its output" >&2; cat "$tmp/out" >&2; exit 1; }
  printf '%-28s %9s images/s  %7d MiB peak RSS  start-up %s s\n' "$label" "$ips" $((rss / 1024)) "$start"
  echo "$label $ips $rss $start ${gflop:--}" >>"$tmp/rows"
}

# gessl's library path: the build's lib/, then the caller's.
ldp="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
baseldp="$base/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# peak: the CPU's best fp32 GEMM rate now, in GFLOP/s (nothing on other backends).
peak() {
  case $backend in cpu | cpu:*) ;; *) return 0 ;; esac
  LD_LIBRARY_PATH="$ldp" "$build/bin/gessl-bench-cpu" --peak --reps 3 --threads "$threads" |
    sed -n 's/^peak fp32 GEMM [^:]*: \([0-9.]*\) GFLOP.*/\1/p'
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); threads $threads; backend $backend"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-(unset)}; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "gessl: $(LD_LIBRARY_PATH="$ldp" "$gessl" devices 2>/dev/null | sed -n 's/^ *driver: //p' | head -1)"
echo "gessl: $(LD_LIBRARY_PATH="$ldp" "$gessl" devices 2>/dev/null | sed -n '4p' | sed 's/^ *//')"
echo "torch: $("$py" -c 'import re, torch; m = re.search(r"MKL-DNN (v[0-9.]+)", torch.__config__.show()); print(torch.__version__, "with oneDNN", m.group(1) if m else "?", "CUDA", torch.version.cuda)') on $tdev"
peak1=$(peak)
[ -z "$peak1" ] || echo "peak fp32 GEMM before: $peak1 GFLOP/s"
: >"$tmp/rows"
for r in $(seq 1 "$rounds"); do
  for m in $models; do
    if [ "$m" = convnet ]; then
      b=${CONVNET_BATCH:-256} s=${CONVNET_STEPS:-8} img=${CONVNET_INPUT:-28x28x1}
    else
      b=${RESNET_BATCH:-128} s=${RESNET_STEPS:-3} img=${RESNET_INPUT:-32x32x3}
    fi
    # gessl's images/s covers every step but not the setup (graph build, compile), so one
    # extra step and an untimed warm-up step for torch keep the two comparable.
    a="train --backend $backend --data synthetic:$img --model $m --batch $b --max-steps $((s + 1)) --threads $threads --log-every 1000"
    # LD_LIBRARY_PATH: a build copied elsewhere still runs its own libgessl.
    run "$m/gessl" env LD_LIBRARY_PATH="$ldp" "$gessl" $a
    if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
      run "$m/gessl-no-coretype" env -u OPENBLAS_CORETYPE LD_LIBRARY_PATH="$ldp" "$gessl" $a
    fi
    if [ -n "$base" ]; then run "$m/gessl-base" env LD_LIBRARY_PATH="$baseldp" "$base/bin/gessl" $a; fi
    run "$m/torch" "$py" "$here/torch_train_step.py" --model "$m" --batch "$b" --steps "$s" --threads "$threads" --image "$img" --device "$tdev"
  done
  echo "-- round $r done, load $(cut -d' ' -f1-3 /proc/loadavg)"
done

peak2=$(peak)
[ -z "$peak2" ] || echo "peak fp32 GEMM after: $peak2 GFLOP/s"

# Per round the ratios against that round's torch run, then the median (and range) per model.
awk -v peak="$peak1" -v peak2="$peak2" '
  BEGIN { if (peak2 + 0 > peak + 0) peak = peak2 }
  function share(u) { return peak + 0 > 0 ? sprintf(" = %.2f of peak", u / peak) : "" }
  { split($1, p, "/"); m = p[1]; k = p[2]; ips[m, k, ++n[m, k]] = $2; rss[m, k, n[m, k]] = $3
    st[m, k, n[m, k]] = $4; if ($5 != "-") gf[m] = $5
    if (!(m in seen)) { seen[m] = 1; order[++nm] = m } kinds[m, k] = 1 }
  function median(a, c,   i, j, t) {
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
  }
  END {
    print ""
    print "ratios gessl/torch (median of rounds, [min..max]): images/s (>1: gessl faster), peak RSS (<1: gessl smaller)"
    for (i = 1; i <= nm; i++) {
      m = order[i]
      split("gessl gessl-no-coretype gessl-base", ks, " ")
      for (q = 1; q <= 3; q++) {
        k = ks[q]
        if (!((m, k) in kinds)) continue
        c = n[m, k]; lo = 1e9; hi = 0
        for (j = 1; j <= c; j++) {
          a[j] = ips[m, k, j] / ips[m, "torch", j]; b2[j] = rss[m, k, j] / rss[m, "torch", j]
          if (a[j] < lo) lo = a[j]; if (a[j] > hi) hi = a[j]
        }
        for (j = 1; j <= c; j++) { s2[j] = st[m, k, j]; u[j] = 6 * gf[m] * ips[m, k, j] }
        printf "%-10s %-18s speed %.2f [%.2f..%.2f]  memory %.2f  start-up %.2f s  useful %.1f GFLOP/s%s\n",
          m, k, median(a, c), lo, hi, median(b2, c), median(s2, c), median(u, c), share(median(u, c))
      }
      for (j = 1; j <= n[m, "torch"]; j++) u[j] = 6 * gf[m] * ips[m, "torch", j]
      printf "%-10s %-18s useful %.1f GFLOP/s%s%s\n", m, "torch", median(u, n[m, "torch"]), share(median(u, n[m, "torch"])),
        (peak + 0 > 0 ? sprintf(" (%.1f GFLOP/s)", peak) : "")
      if ((m, "gessl-base") in kinds) {
        c = n[m, "gessl"]
        for (j = 1; j <= c; j++) a[j] = ips[m, "gessl", j] / ips[m, "gessl-base", j]
        printf "%-10s %-18s speed %.2f (images/s of this build over the base build, median of rounds)\n", m, "gessl/gessl-base", median(a, c)
      }
    }
  }' "$tmp/rows"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
