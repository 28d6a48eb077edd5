#!/bin/sh
# bench/gessl-fair.sh end to end at toy size, so the script behind docs/gessl-results.md keeps
# working: two seeds of SimCLR, base and the accumulation control on 512 Fashion-MNIST images,
# the cost stage, and the report with its paired intervals.
# Usage: gessl_fair_smoke.sh GESSL_BINARY WORK_DIR
# shellcheck source=tests/check.sh
. "$(dirname "$0")/../check.sh"
gessl=$1
work=$2
fresh_dir "$work" "gessl_fair*"
here=$(cd "$(dirname "$0")/../.." && pwd)
GESSL=$gessl METHODS=simclr SEEDS="0 1" CONDITIONS="random base accum" LIMIT=512 BATCH=64 \
  WIDTH=0.25 JOBS=2 COST_IMAGES=256 COST_ROUNDS=1 \
  EVAL_ARGS="--limit 2048 --test-limit 1024 --linear-epochs 10 --episodes 50" sh "$here/bench/gessl-fair.sh" "$work" \
  >"$work/out.txt" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok; else bad "gessl-fair.sh exited $rc"; fi
for r in simclr-s0-base simclr-s1-base simclr-s0-accum simclr-s1-accum simclr-s0-random; do
  if [ -s "$work/$r/eval.json" ] && [ -e "$work/$r/eval.json.done" ]; then ok; else bad "$r not evaluated"; fi
done
if grep -q "runs evaluated per condition: random 2, base 2, accum 2" "$work/out.txt"; then ok
else bad "the report does not count 2 runs of each condition"; fi
# The paired difference of two seeds comes with an interval: "+x.xx [lo, hi]".
if grep -E '^\| linear probe top-1 \(%\) \| [-+][0-9.]+ \[[-+][0-9.]+, [-+][0-9.]+\]' "$work/out.txt" >/dev/null; then ok
else bad "no paired interval for the linear probe"; fi
# The cost stage timed every training condition; base-long is not in this run.
if [ "$(grep -c ' round 1$' "$work/cost.txt" 2>/dev/null)" = 2 ]; then ok; else bad "cost.txt: $(cat "$work/cost.txt" 2>&1)"; fi
if grep -E '^\| training time / base \(timed\) \| – \| 1\.00 \| [0-9]+\.[0-9]{2} \|' "$work/out.txt" >/dev/null; then ok
else bad "no timed cost row"; fi
[ "$failed" -eq 0 ] || tail -30 "$work/out.txt"
check_summary
