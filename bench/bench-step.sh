#!/bin/sh
# A whole SimCLR training step on every backend, this build against an older build, in one run.
#
# Each round runs, per backend, `gessl train` of this build and of the older build back to back
# (so load from other processes falls on both alike), then one short run of this build with
# GESSL_PROFILE=1 for its per-step counters. Prints every run, then per backend the median over
# rounds of images/s of both builds and their ratio, with this build's launches and host waits
# per step and the share of device time in GEMM and convolution kernels (the conv family
# includes the im2col and layout copies of the convolutions). The counters come from the
# profiled run, which times each launch and so runs slower; images/s comes from the plain runs.
#
# usage: bench/bench-step.sh [-b BUILD_DIR] [-B BASE_BUILD] [-r ROUNDS] [-k BACKENDS] [-m MODEL]
#   BUILD_DIR   gessl build (default: build)      BASE_BUILD  an older build (optional)
#   ROUNDS      default 2                         BACKENDS    default "cpu opencl vulkan"
#   MODEL       default convnet
# Batch and timed steps: STEP_BATCH (128), STEP_STEPS (3). Devices: CPU_SPEC (cpu), OPENCL_SPEC
# (opencl:pthread, PoCL), VULKAN_SPEC (vulkan:llvmpipe). THREADS (default: all cores). gessl runs
# with the build's lib/ ahead of the caller's LD_LIBRARY_PATH.
set -eu

build=build
base=
rounds=2
backends="cpu opencl vulkan"
model=convnet
while getopts b:B:r:k:m: o; do
  case $o in
  b) build=$OPTARG ;;
  B) base=$OPTARG ;;
  r) rounds=$OPTARG ;;
  k) backends=$OPTARG ;;
  m) model=$OPTARG ;;
  *) sed -n 2,19p "$0" >&2; exit 2 ;;
  esac
done
batch=${STEP_BATCH:-128}
steps=${STEP_STEPS:-3}
threads=${THREADS:-$(nproc)}
[ -x "$build/bin/gessl" ] || { echo "bench-step: $build/bin/gessl not found (build first)" >&2; exit 1; }
[ -z "$base" ] || [ -x "$base/bin/gessl" ] || { echo "bench-step: $base/bin/gessl not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -f "$tmp"/out "$tmp"/rows; rmdir "$tmp"' EXIT

spec() {
  case $1 in
  cpu) echo "${CPU_SPEC:-cpu}" ;;
  opencl) echo "${OPENCL_SPEC:-opencl:pthread}" ;;
  vulkan) echo "${VULKAN_SPEC:-vulkan:llvmpipe}" ;;
  *) echo "bench-step: unknown backend $1" >&2; exit 2 ;;
  esac
}

# train DIR BACKEND STEPS [ENV...]: runs gessl train of the build in DIR; output in $tmp/out.
train() {
  dir=$1 be=$2 n=$3
  shift 3
  # One extra step: images/s covers every step but not the setup, the first step compiles.
  if ! env LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@" "$dir/bin/gessl" train --data synthetic:32x32x3 \
    --model "$model" --batch "$batch" --max-steps $((n + 1)) --threads "$threads" \
    --backend "$(spec "$be")" --log-every 1000 >"$tmp/out" 2>&1; then
    echo "bench-step: $dir on $be failed:" >&2
    tail -5 "$tmp/out" >&2
    exit 1
  fi
}

ips() { sed -n 's/.*  \([0-9.]*\) images\/s.*/\1/p' "$tmp/out" | tail -1; }

echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); model $model, batch $batch, $steps timed steps"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$tmp/rows"
for r in $(seq 1 "$rounds"); do
  for be in $backends; do
    train "$build" "$be" "$steps"
    a=$(ips)
    b=-
    if [ -n "$base" ]; then
      train "$base" "$be" "$steps"
      b=$(ips)
    fi
    train "$build" "$be" 1 GESSL_PROFILE=1
    # The last step's note: "step N: L launches, W waits, ...; device time T ms: conv 38%, ..."
    note=$(grep '^step [0-9]*: ' "$tmp/out" | tail -1)
    launches=$(echo "$note" | sed -n 's/^step [0-9]*: \([0-9]*\) launches.*/\1/p')
    waits=$(echo "$note" | sed -n 's/.* \([0-9]*\) waits.*/\1/p')
    share=$(echo "$note" | awk '{ s = 0; for (i = 1; i < NF; i++) if ($i == "conv" || $i == "gemm") { v = $(i + 1); sub(/[%,]+$/, "", v); s += v } print s }')
    printf '%-7s this %9s images/s   base %9s images/s   %s launches, %s waits, %s%% gemm+conv\n' \
      "$be" "$a" "$b" "${launches:--}" "${waits:--}" "$share"
    echo "$be $a $b ${launches:--} ${waits:--} $share" >>"$tmp/rows"
  done
  echo "-- round $r done, load $(cut -d' ' -f1-3 /proc/loadavg)"
done

awk '
  function median(a, c,   i, j, t) {
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
  }
  { be = $1; k = ++n[be]; if (k == 1) order[++nb] = be
    ia[be, k] = $2; ib[be, k] = $3; la[be] = $4; wa[be] = $5; sh[be, k] = $6
    if ($3 != "-") rt[be, k] = $2 / $3 }
  END {
    print ""
    printf "%-7s %12s %12s %8s %9s %6s %10s\n", "backend", "images/s", "base", "ratio", "launches", "waits", "gemm+conv"
    for (i = 1; i <= nb; i++) {
      be = order[i]; c = n[be]
      for (j = 1; j <= c; j++) { x[j] = ia[be, j]; y[j] = sh[be, j] }
      a = median(x, c); s = median(y, c)
      if (ib[be, 1] != "-") {
        for (j = 1; j <= c; j++) { x[j] = ib[be, j]; z[j] = rt[be, j] }
        b = sprintf("%.1f", median(x, c)); r = sprintf("%.2f", median(z, c))
      } else { b = "-"; r = "-" }
      printf "%-7s %12.1f %12s %8s %9s %6s %9.0f%%\n", be, a, b, r, la[be], wa[be], s
    }
  }' "$tmp/rows"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
