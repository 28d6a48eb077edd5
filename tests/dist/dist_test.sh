#!/usr/bin/env bash
# Data-parallel training on one machine: `mpirun -np 2 gessl train` (the gessl program itself runs
# under mpirun; it joins the world through the gessl-comm-mpi plugin).
#   match   with --sync-bn, two ranks follow the loss of one process at the same global batch
#           within 1e-3 relative (every method; SimCLR + GeSSL with its tasks spread over the
#           ranks), with parameters compared across ranks after every step (--check-sync 1)
#   mixed   one rank on the CPU backend and one on OpenCL (PoCL) train one model
#   resume  a 2-rank checkpoint resumed with 1 rank, and a 1-rank one with 2
#   kill    a rank killed mid-run ends the job non-zero within 30 s; the checkpoint stays readable
# usage: dist_test.sh CASE GESSL MPIRUN WORKDIR
set -euo pipefail
case_=$1 gessl=$2 mpirun=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work"
# Shared memory between the ranks only: no network transports (they fail in sandboxes and CI
# containers), no single-copy mechanism (needs ptrace rights), and ranks that yield while they
# wait, since CI runs two ranks on two busy cores.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=none OMPI_MCA_orte_base_help_aggregate=0
mpi() { "$mpirun" --oversubscribe --allow-run-as-root -np "$@"; }
base=(--data synthetic:16x16x3 --data-limit 256 --batch 32 --width 0.25 --threads 1 --seed 3
  --lr 0.05 --log-every 1)
common=("${base[@]}" --set proj_hidden_dim=64 --set proj_output_dim=32)
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Fails unless the two runs' losses agree within 1e-3 relative, step by step.
same_losses() {
  python3 - "$1" "$2" <<'PY'
import json, sys
def read(d):
    return [json.loads(l)["loss"] for l in open(d + "/log.jsonl") if '"type":"step"' in l]
a, b = read(sys.argv[1]), read(sys.argv[2])
assert len(a) == len(b) and a, f"{len(a)} against {len(b)} steps"
worst = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a, b))
print(f"{sys.argv[1]} vs {sys.argv[2]}: {len(a)} steps, worst relative difference {worst:.2e}")
assert worst < 1e-3, (a, b)
PY
}

case $case_ in
match)
  for m in simclr byol barlowtwins vicreg swav dino mocov2; do
    extra=(--set proj_hidden_dim=64 --set proj_output_dim=32)
    [ $m = byol ] && extra+=(--set pred_hidden_dim=64)
    [ $m = mocov2 ] && extra+=(--set queue_size=64)
    [ $m = dino ] && extra=(--set proj_hidden_dim=64 --set bottleneck_dim=32 --set num_prototypes=256)
    "$gessl" train "${base[@]}" "${extra[@]}" --method $m --max-steps 4 --out one-$m >/dev/null
    mpi 2 "$gessl" train "${base[@]}" "${extra[@]}" --method $m --max-steps 4 --sync-bn \
      --check-sync 1 --out two-$m >/dev/null
    same_losses one-$m two-$m || fail "$m: 2 ranks do not follow 1 process"
  done
  # GeSSL: 1 process with M=2 tasks of 16 images against 2 ranks with M=1 each.
  "$gessl" train "${common[@]}" --meta gessl --set M=2 --batch 16 --max-steps 3 --out one-gessl \
    >/dev/null
  mpi 2 "$gessl" train "${common[@]}" --meta gessl --set M=1 --batch 16 --max-steps 3 \
    --check-sync 1 --out two-gessl >/dev/null
  same_losses one-gessl two-gessl || fail "simclr + gessl: 2 ranks do not follow 1 process"
  # Without --sync-bn each rank normalises with its own share: another run, still in step.
  mpi 2 "$gessl" train "${common[@]}" --max-steps 3 --check-sync 1 --out two-local >/dev/null
  ;;
mixed)
  "$gessl" train "${common[@]}" --max-steps 4 --out one >/dev/null
  mpi 2 "$gessl" train "${common[@]}" --max-steps 4 --sync-bn --check-sync 1 \
    --backend cpu,opencl:pthread --out two >/dev/null
  same_losses one two || fail "cpu + opencl ranks do not follow 1 process"
  ;;
resume)
  # 2 ranks for 3 steps, then 1 rank to step 6; against one process for 6 steps.
  "$gessl" train "${common[@]}" --max-steps 6 --out ref >/dev/null
  mpi 2 "$gessl" train "${common[@]}" --max-steps 3 --sync-bn --out a >/dev/null
  "$gessl" train --resume a --max-steps 6 >/dev/null
  same_losses ref a || fail "2 ranks then 1 do not follow 1 process"
  # 1 process for 3 steps, then 2 ranks to step 6.
  "$gessl" train "${common[@]}" --max-steps 3 --out b >/dev/null
  mpi 2 "$gessl" train --resume b --max-steps 6 --sync-bn >/dev/null
  same_losses ref b || fail "1 process then 2 ranks do not follow 1 process"
  ;;
kill)
  # Checkpoints every step of a long run; rank 1 is killed once one exists.
  mpi 2 "$gessl" train "${common[@]}" --max-steps 100000 --epochs 1000 --checkpoint-every 1 \
    --out run >out.txt 2>err.txt &
  job=$!
  trap 'kill "$job" 2>/dev/null || true' EXIT
  for _ in $(seq 1 600); do
    [ -f run/state.json ] && break
    sleep 0.1
  done
  [ -f run/state.json ] || fail "no checkpoint appeared"
  victim=""
  for p in $(pgrep -f -- "--out run" || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
      victim=$p
      break
    fi
  done
  [ -n "$victim" ] || fail "rank 1 not found"
  t0=$(date +%s)
  kill -9 "$victim"
  rc=0
  wait "$job" || rc=$?
  t1=$(date +%s)
  echo "job ended with status $rc $((t1 - t0)) s after rank 1 was killed"
  [ "$rc" != 0 ] || fail "the job ended with status 0"
  [ $((t1 - t0)) -le 30 ] || fail "the job took $((t1 - t0)) s to end"
  # The last checkpoint is whole: a single process resumes from it.
  step=$(python3 -c 'import json; print(json.load(open("run/state.json"))["step"])')
  "$gessl" train --resume run --max-steps $((step + 1)) >/dev/null
  ;;
*) fail "unknown case $case_" ;;
esac
echo "dist $case_: ok"
