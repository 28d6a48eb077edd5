#!/bin/sh
# GeSSL against the method it wraps, with the controls the comparison needs (issue: "GeSSL,
# measured fairly"). CPU backend, Fashion-MNIST (all 60,000 training images), the ConvNet, by
# default; BACKEND, DATA and MODEL choose others (a GPU run: see docs/gessl-results.md).
#
# For every method and seed it trains these conditions, paired by seed (same initialisation,
# same data order):
#   random     the initial network (one step at learning rate 1e-9: only BN statistics move)
#   base       --meta none, EPOCHS epochs
#   accum      --meta gessl with alpha = lambda = 0: the plain step on the mean gradient of M
#              batches, i.e. the plain method at M x the batch by gradient accumulation (the
#              control for "GeSSL sees M batches per update")
#   gessl      --meta gessl with the plugin's defaults
#   kl-only    reading 1: the outer objective is lambda KL alone (lambda = 1)
#   ahead      reading 2: the target from the outer iterate K steps ahead along training
#   base-long  --meta none, LONG_EPOCHS epochs (equal compute time to GeSSL)
# then evaluates every final checkpoint with `gessl eval`: linear probe on the full training
# set (the primary measure), kNN, few-shot (Fashion-MNIST and digits) and sigma (train / test /
# transfer to digits, projector and backbone level). bench/gessl_fair_report.py prints the
# tables: mean +- std over seeds, paired differences against base with a 95% t-interval, and
# the cost of each condition.
#
# The cost: the long runs' own seconds depend on whatever else the machine ran meanwhile, so the
# cost stage times one epoch of COST_IMAGES images per condition, the conditions alternating for
# COST_ROUNDS rounds in one go (the median is kept), and the report divides by base's time.
#
# Usage: bench/gessl-fair.sh [OUTDIR]   (default /tmp/gessl-fair; finished runs are kept, so
#        running it again continues where it stopped)
# Settings (environment): GESSL (the gessl program), BACKEND (cpu), DATA (fashion-mnist), MODEL
# (convnet), METHODS ("simclr byol"), SEEDS ("0 1 2"),
# CONDITIONS (all of the above), EPOCHS (1), LONG_EPOCHS (3), BATCH (256), LR (0.12), WIDTH (0.5),
# LIMIT (0: all training images), JOBS (2 runs at a time), THREADS (1 per run), TRANSFER (digits),
# EVAL_ARGS (more arguments for gessl eval, e.g. "--limit N"; default none), COST_IMAGES (10240),
# COST_ROUNDS (3), STAGE (all | train | eval | cost | report; all = train,
# eval, cost and report).
set -eu

ONE=0
if [ "${1:-}" = --one ]; then ONE=1; shift; fi
OUT=${OUT:-/tmp/gessl-fair}
[ $ONE = 1 ] || OUT=${1:-/tmp/gessl-fair}
HERE=$(cd "$(dirname "$0")/.." && pwd)
GESSL=${GESSL:-$HERE/build/bin/gessl}
BACKEND=${BACKEND:-cpu}
DATA=${DATA:-fashion-mnist}
MODEL=${MODEL:-convnet}
METHODS=${METHODS:-"simclr byol"}
SEEDS=${SEEDS:-"0 1 2"}
CONDITIONS=${CONDITIONS:-"random base accum gessl kl-only ahead base-long"}
EPOCHS=${EPOCHS:-1}
LONG_EPOCHS=${LONG_EPOCHS:-3}
BATCH=${BATCH:-256}
LR=${LR:-0.12}
WIDTH=${WIDTH:-0.5}
LIMIT=${LIMIT:-0}
JOBS=${JOBS:-2}
THREADS=${THREADS:-1}
TRANSFER=${TRANSFER:-digits}
EVAL_ARGS=${EVAL_ARGS:-}
COST_IMAGES=${COST_IMAGES:-10240}
COST_ROUNDS=${COST_ROUNDS:-3}
STAGE=${STAGE:-all}

method_set() {
  case $1 in
  simclr) echo "--set proj_hidden_dim=512 --set proj_output_dim=128 --set temperature=0.5" ;;
  byol) echo "--set proj_hidden_dim=512 --set proj_output_dim=128 --set pred_hidden_dim=512" ;;
  *) echo "--set proj_hidden_dim=512 --set proj_output_dim=128" ;;
  esac
}

# The training arguments of a condition: meta, epochs, extra flags.
condition() {
  case $1 in
  random) echo "none $EPOCHS --lr 1e-9 --max-steps 1" ;;
  base) echo "none $EPOCHS" ;;
  accum) echo "gessl $EPOCHS --set gessl.alpha=0 --set gessl.lambda=0" ;;
  gessl) echo "gessl $EPOCHS" ;;
  kl-only) echo "gessl $EPOCHS --set gessl.objective=kl --set gessl.lambda=1" ;;
  ahead) echo "gessl $EPOCHS --set gessl.target=ahead" ;;
  base-long) echo "none $LONG_EPOCHS" ;;
  *) echo "gessl-fair: unknown condition $1" >&2; return 2 ;;
  esac
}

# One run: train (unless done), then evaluate (unless done). Arguments: method seed condition.
one() {
  m=$1 s=$2 c=$3
  d="$OUT/$m-s$s-$c"
  if [ "$STAGE" != eval ] && [ ! -e "$d.trained" ]; then
    # shellcheck disable=SC2046
    set -- $(condition "$c")
    meta=$1 ep=$2
    shift 2
    rm -rf "$d"
    monitor="--monitor-knn 1"
    [ "$c" = random ] && monitor=""
    start=$(date +%s)
    # shellcheck disable=SC2046,SC2086
    if "$GESSL" train --backend "$BACKEND" --data "$DATA" --data-limit "$LIMIT" --model "$MODEL" \
      --width "$WIDTH" --method "$m" --meta "$meta" --batch "$BATCH" --epochs "$ep" --lr "$LR" \
      --seed "$s" --threads "$THREADS" --log-every 50 $monitor --out "$d" $(method_set "$m") "$@" \
      >"$d.train.txt" 2>&1; then
      echo "$(($(date +%s) - start))" >"$d.trained"
    else
      echo "gessl-fair: $m seed $s $c: training failed, see $d.train.txt" >&2
      tail -3 "$d.train.txt" >&2
      return 0
    fi
  fi
  [ "$STAGE" = train ] && return 0
  [ -e "$d.trained" ] || return 0
  [ -e "$d/eval.json.done" ] && return 0
  # shellcheck disable=SC2086 # EVAL_ARGS is a word list on purpose
  if "$GESSL" eval --checkpoint "$d" --backend "$BACKEND" --threads "$THREADS" --knn --linear --fewshot \
    --sigma --transfer "$TRANSFER" --seed 0 $EVAL_ARGS >"$d.eval.txt" 2>&1; then
    touch "$d/eval.json.done"
  else
    echo "gessl-fair: $m seed $s $c: evaluation failed, see $d.eval.txt" >&2
    tail -3 "$d.eval.txt" >&2
  fi
}

if [ $ONE = 1 ]; then
  one "$@"
  exit 0
fi

[ -x "$GESSL" ] || { echo "gessl-fair: no program at $GESSL (set GESSL)" >&2; exit 2; }
mkdir -p "$OUT"
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores; $GESSL"
  "$GESSL" devices 2>/dev/null | grep -i -m2 "cpu\|blas" || true
  echo "BACKEND=$BACKEND DATA=$DATA MODEL=$MODEL METHODS=\"$METHODS\" SEEDS=\"$SEEDS\" EPOCHS=$EPOCHS LONG_EPOCHS=$LONG_EPOCHS BATCH=$BATCH" \
    "LR=$LR WIDTH=$WIDTH LIMIT=$LIMIT JOBS=$JOBS THREADS=$THREADS TRANSFER=$TRANSFER"
} >>"$OUT/machine.txt"

# The cost stage: seconds for one epoch of COST_IMAGES images, every training condition in turn,
# COST_ROUNDS times, one run at a time. Appends "method condition epochs seconds" lines to
# OUT/cost.txt. base-long is not timed again: its epochs are base's, LONG_EPOCHS of them.
cost() {
  for r in $(seq "$COST_ROUNDS"); do
    for m in $METHODS; do
      for c in $CONDITIONS; do
        [ "$c" = random ] && continue
        if [ "$c" = base-long ]; then # the same epochs as base's, LONG_EPOCHS of them
          echo "$m $c $LONG_EPOCHS ${base_t:?base-long needs base timed first} round $r" >>"$OUT/cost.txt"
          continue
        fi
        # shellcheck disable=SC2046
        set -- $(condition "$c")
        meta=$1 ep=$2
        shift 2
        d="$OUT/cost-run"
        rm -rf "$d"
        # shellcheck disable=SC2046,SC2086
        "$GESSL" train --backend "$BACKEND" --data "$DATA" --data-limit "$COST_IMAGES" --model "$MODEL" \
          --width "$WIDTH" --method "$m" --meta "$meta" --batch "$BATCH" --epochs 1 --lr "$LR" \
          --seed 0 --threads "$THREADS" --log-every 1000 --out "$d" $(method_set "$m") "$@" \
          >"$d.txt" 2>&1 || { echo "gessl-fair: cost run $m $c failed:" >&2; tail -3 "$d.txt" >&2; return 1; }
        t=$(sed -n 's/.* images in \([0-9.]*\) s .*/\1/p' "$d.txt")
        echo "$m $c $ep ${t:?no timing in $d.txt} round $r" >>"$OUT/cost.txt"
        [ "$c" = base ] && base_t=$t
      done
    done
  done
  rm -rf "$OUT/cost-run" "$OUT/cost-run.txt"
}

if [ "$STAGE" = all ] || [ "$STAGE" = train ] || [ "$STAGE" = eval ]; then
  # Seeds outermost, so a partial run still gives complete pairs.
  for s in $SEEDS; do
    for m in $METHODS; do
      for c in $CONDITIONS; do echo "$m $s $c"; done
    done
  done >"$OUT/queue.txt"
  export OUT GESSL BACKEND DATA MODEL EPOCHS LONG_EPOCHS BATCH LR WIDTH LIMIT THREADS TRANSFER EVAL_ARGS STAGE
  xargs -P "$JOBS" -L 1 sh "$0" --one <"$OUT/queue.txt"
fi
if [ "$STAGE" = all ] || [ "$STAGE" = cost ]; then
  rm -f "$OUT/cost.txt"
  cost
fi

/usr/bin/python3 "$HERE/bench/gessl_fair_report.py" "$OUT" --methods "$METHODS" --seeds "$SEEDS" \
  --conditions "$CONDITIONS"
