#!/usr/bin/env bash
# Data-parallel scaling on one machine: the same training step on 1 rank and on 2 ranks (each rank
# one CPU thread, the same images per rank, so 2 ranks do twice the work per step), for ConvNet
# and ResNet-18 with SimCLR on 32x32 images. Prints per model: time per step at 1 and 2 ranks,
# the scaling efficiency (ideal 1.0), rank 0's time per step inside collectives, and the gradient
# bytes each step all-reduces. Then a model of the communication cost for P GPUs (see
# BENCHMARKS.md): a ring all-reduce moves 2(P-1)/P of the gradient bytes through each rank's link,
#   t_comm = 2(P-1)/P * bytes / bandwidth + 2(P-1) * latency,
# and, with no overlap of communication and compute (the pessimistic case), a step keeps 90%
# efficiency while t_comm <= t_compute / 9, i.e. at a per-rank batch of at least
#   b_90 = 9 * t_comm * images_per_s_per_gpu.
# usage: bench/bench-dist.sh [-B BUILD_DIR] [--steps N] [--batch PER_RANK]
#        [--bandwidth GB/s (25)] [--latency us (5)] [--gpu-rate convnet=IMG/S,resnet18=IMG/S]
#        [--models "convnet resnet18"]
# A model left out of --models is not timed; the cost model then uses its gradient size as
# measured on this code (SimCLR heads included): convnet 5.8 MB, resnet18 51.0 MB.
set -euo pipefail
build=build steps=8 per=32 bw=25 lat=5 rates="convnet=40000,resnet18=8000" models="convnet resnet18"
while [ $# -gt 0 ]; do
  case $1 in
  -B) build=$2; shift 2 ;;
  --steps) steps=$2; shift 2 ;;
  --batch) per=$2; shift 2 ;;
  --bandwidth) bw=$2; shift 2 ;;
  --latency) lat=$2; shift 2 ;;
  --gpu-rate) rates=$2; shift 2 ;;
  --models) models=$2; shift 2 ;;
  *) echo "bench-dist.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
gessl=$(cd "$build" && pwd)/bin/gessl
[ -x "$gessl" ] || { echo "bench-dist.sh: no $gessl (build first)" >&2; exit 2; }
[ -f "$build/lib/gessl/gessl-comm-mpi.so" ] || { echo "bench-dist.sh: built without MPI" >&2; exit 2; }
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_hwloc_base_binding_policy=none
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "bench-dist: $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
  "$(nproc) cores; $steps steps, $per images per rank, 1 thread per rank"
run() { # RANKS MODEL -> "seconds_per_step comm_seconds_per_step grad_bytes"
  local n=$1 model=$2 log="$work/$1-$2.txt"
  local args=(train --data synthetic:32x32x3 --data-limit 4096 --model "$model" --method simclr
    --batch $((per * n)) --max-steps "$steps" --warmup-steps 0 --threads 1 --log-every 1000)
  if [ "$n" = 1 ]; then
    "$gessl" "${args[@]}" >"$log" 2>&1
  else
    mpirun --oversubscribe --allow-run-as-root -np "$n" "$gessl" "${args[@]}" >"$log" 2>&1
  fi
  python3 - "$log" "$steps" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"(\d+) steps, \d+ images in ([0-9.]+) s", text)
c = re.search(r"(\d+) gradient bytes per step; rank 0 spent ([0-9.]+) s per step", text)
print(float(m.group(2)) / int(m.group(1)), c.group(2) if c else 0, c.group(1) if c else 0)
PY
}
printf '%-9s %10s %10s %10s %12s %14s\n' model "1 rank s" "2 ranks s" efficiency "comm s/step" "grad MB/step"
declare -A bytes=([convnet]=5800000 [resnet18]=50984192) # convnet rounded to 0.1 MB
for model in $models; do
  read -r t1 _ _ < <(run 1 $model)
  read -r t2 c2 gb < <(run 2 $model)
  bytes[$model]=$gb
  python3 -c "import sys; t1,t2,c,b=map(float,sys.argv[1:]); print('%-9s %10.3f %10.3f %10.2f %12.4f %14.1f' % ('$model', t1, t2, t1/t2, c, b/1e6))" \
    "$t1" "$t2" "$c2" "$gb"
done
echo
echo "communication model: ring all-reduce, $bw GB/s per rank link, ${lat} us per message;"
echo "per-GPU training rate assumed: $rates (images/s); batch per rank for 90% efficiency with no overlap"
python3 - "$bw" "$lat" "$rates" "${bytes[convnet]}" "${bytes[resnet18]}" <<'PY'
import math, sys
bw, lat = float(sys.argv[1]) * 1e9, float(sys.argv[2]) * 1e-6
rates = dict(kv.split("=") for kv in sys.argv[3].split(","))
size = {"convnet": float(sys.argv[4]), "resnet18": float(sys.argv[5])}
print("%-9s %6s %12s %14s %16s" % ("model", "P", "t_comm ms", "b_90 per rank", "global batch"))
for model in ("convnet", "resnet18"):
    for p in (8, 64):
        t = 2 * (p - 1) / p * size[model] / bw + 2 * (p - 1) * lat
        b = math.ceil(9 * t * float(rates[model]))
        print("%-9s %6d %12.3f %14d %16d" % (model, p, t * 1e3, b, b * p))
PY
