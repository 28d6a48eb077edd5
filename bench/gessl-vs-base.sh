#!/bin/sh
# GeSSL against the method it wraps, trained the same way on Fashion-MNIST (CPU backend).
#
# For every method and seed it trains
#   base      --meta none   for EPOCHS epochs          (equal epochs)
#   base-long --meta none   for BASE_EPOCHS epochs      (equal wall-clock time, time to reach)
#   gessl     --meta gessl  for EPOCHS epochs           (GESSL_SET settings)
# with kNN monitored every epoch (log.jsonl), then evaluates each final checkpoint with
# `gessl eval --knn --linear --sigma --transfer TRANSFER`. It prints a table per method: kNN at
# equal epochs, at equal outer updates and at equal wall-clock time, the time GeSSL takes to reach
# the base run's final kNN accuracy, linear-probe accuracy, sigma on train/test/transfer tasks
# and the per-step cost ratio, all as mean +- std over seeds. Finally it times outer steps of
# both meta-optimizers back to back on the CPU backend (COST_STEPS each) and prints the ratio
# against the pass-count bound 5.5 M + 0.5 (K = 1).
#
# Usage: bench/gessl-vs-base.sh [OUTDIR]   (default /tmp/gessl-vs-base)
# Settings (environment): GESSL (the gessl program), METHODS ("simclr byol"), SEEDS ("0 1 2"),
# SUBSET (10000 training images), EPOCHS (4), BASE_EPOCHS (3 x EPOCHS), BATCH (256), LR (0.12),
# WIDTH (1), THREADS (2), DATA (fashion-mnist), TRANSFER (synthetic:28x28x1 - this machine has
# no second image data set), TEST_LIMIT (test images scored by eval, 0 = all), GESSL_SET
# (extra --set flags for GeSSL; default none: the plugin's defaults), METHOD_SET (per-method flags, default SimCLR's 512->128 projector
# and temperature 0.5), COST_STEPS (3; 0 skips the cost runs), SKIP_TRAIN (1: only re-report OUTDIR).
# Full size: SUBSET=60000 EPOCHS=100 BASE_EPOCHS=300 on a GPU backend (BACKEND=opencl).
set -eu

OUT=${1:-/tmp/gessl-vs-base}
HERE=$(cd "$(dirname "$0")/.." && pwd)
GESSL=${GESSL:-$HERE/build/bin/gessl}
METHODS=${METHODS:-"simclr byol"}
SEEDS=${SEEDS:-"0 1 2"}
SUBSET=${SUBSET:-10000}
EPOCHS=${EPOCHS:-4}
BASE_EPOCHS=${BASE_EPOCHS:-$((3 * EPOCHS))}
BATCH=${BATCH:-256}
LR=${LR:-0.12}
WIDTH=${WIDTH:-1}
THREADS=${THREADS:-2}
DATA=${DATA:-fashion-mnist}
TRANSFER=${TRANSFER:-synthetic:28x28x1}
TEST_LIMIT=${TEST_LIMIT:-0}
BACKEND=${BACKEND:-cpu}
GESSL_SET=${GESSL_SET:-}
COST_STEPS=${COST_STEPS:-3}
SKIP_TRAIN=${SKIP_TRAIN:-0}

method_set() {
  if [ -n "${METHOD_SET:-}" ]; then echo "$METHOD_SET"; return; fi
  case $1 in
  simclr) echo "--set proj_hidden_dim=512 --set proj_output_dim=128 --set temperature=0.5" ;;
  byol) echo "--set proj_hidden_dim=512 --set proj_output_dim=128 --set pred_hidden_dim=512" ;;
  *) echo "--set proj_hidden_dim=512 --set proj_output_dim=128" ;;
  esac
}

[ -x "$GESSL" ] || { echo "gessl-vs-base: no program at $GESSL (set GESSL)" >&2; exit 2; }
mkdir -p "$OUT"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores; $GESSL" | tee "$OUT/machine.txt"

train() { # dir meta epochs method seed evaluate extra...
  d=$1 meta=$2 ep=$3 m=$4 s=$5 evaluate=$6
  shift 6
  if [ -e "$d.done" ]; then return; fi
  rm -rf "$d" "$d.done"
  # shellcheck disable=SC2046,SC2086
  "$GESSL" train --backend "$BACKEND" --data "$DATA" --data-limit "$SUBSET" --model convnet \
    --width "$WIDTH" --method "$m" --meta "$meta" --batch "$BATCH" --epochs "$ep" --lr "$LR" \
    --seed "$s" --threads "$THREADS" --monitor-knn 1 --log-every 1000 --out "$d" \
    $(method_set "$m") "$@" >"$d.train.txt" 2>&1 || { tail -5 "$d.train.txt" >&2; return 1; }
  # The kNN bank and the linear probe's training set are the training subset.
  if [ "$evaluate" = 1 ]; then
    "$GESSL" eval --checkpoint "$d" --backend "$BACKEND" --threads "$THREADS" --knn --linear \
      --sigma --transfer "$TRANSFER" --limit "$SUBSET" --test-limit "$TEST_LIMIT" --seed 0 \
      >"$d.eval.txt" 2>&1 || { tail -5 "$d.eval.txt" >&2; return 1; }
  fi
  touch "$d.done"
}

if [ "$SKIP_TRAIN" != 1 ]; then
  for m in $METHODS; do
    for s in $SEEDS; do
      echo "== $m seed $s"
      train "$OUT/$m-s$s-base" none "$EPOCHS" "$m" "$s" 1
      train "$OUT/$m-s$s-base-long" none "$BASE_EPOCHS" "$m" "$s" 0
      # shellcheck disable=SC2086
      train "$OUT/$m-s$s-gessl" gessl "$EPOCHS" "$m" "$s" 1 $GESSL_SET
    done
  done
  # Per-outer-step cost, both meta-optimizers back to back in this run on the CPU backend: runs of
  # 1 and 1 + COST_STEPS steps, so the difference excludes set-up and the first step's warm-up.
  m=$(echo "$METHODS" | cut -d' ' -f1)
  metas="none gessl none gessl"
  [ "$COST_STEPS" -gt 0 ] || metas=""
  : >"$OUT/cost.txt"
  for meta in $metas; do
    extra=""
    [ "$meta" = gessl ] && extra=$GESSL_SET
    # More plain steps, so both timings span seconds (the final line's images/s has 4 digits).
    steps=$COST_STEPS
    [ "$meta" = none ] && steps=$((COST_STEPS * 10))
    for n in 1 $((1 + steps)); do
      # shellcheck disable=SC2046,SC2086
      "$GESSL" train --backend cpu --data "$DATA" --data-limit "$SUBSET" --model convnet \
        --width "$WIDTH" --method "$m" --meta "$meta" --batch "$BATCH" --epochs 100000 --max-steps "$n" \
        --lr "$LR" --threads "$THREADS" $(method_set "$m") $extra 2>&1 | tail -1 |
        sed -n 's/.* \([0-9]*\) steps, \([0-9]*\) images in .*  \([0-9.]*\) images\/s .*/\1 \2 \3/p' |
        tr '\n' ' ' >>"$OUT/cost.txt"
    done
    echo "$meta" >>"$OUT/cost.txt"
  done
fi

python3 - "$OUT" "$METHODS" "$SEEDS" "$GESSL_SET" "$COST_STEPS" "$EPOCHS" "${COST_FROM:-$OUT}" <<'EOF'
import json, math, os, re, statistics, sys
out, methods, seeds, gset = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]
COST, EPOCHS, cost_dir = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
def meta_m():
    """M as the GeSSL run logged it (its defaults or GESSL_SET)."""
    for name in sorted(os.listdir(out)):
        if name.endswith("-gessl.train.txt"):
            r = re.search(r"gessl: K=\d+ M=(\d+)", open(os.path.join(out, name)).read())
            if r: return int(r.group(1))
    r = re.search(r"M=(\d+)", gset)
    return int(r.group(1)) if r else 2
M = meta_m()

def epochs(d):
    rows, t = [], 0.0
    with open(os.path.join(d, "log.jsonl")) as f:
        for line in f:
            o = json.loads(line)
            if o.get("type") == "epoch":
                t += o.get("seconds") or 0.0
                rows.append((o["epoch"] + 1, o["step"], t, o.get("knn_top1"), o.get("sigma")))
    return rows

def ev(d):
    with open(os.path.join(d, "eval.json")) as f:
        return json.load(f)

def pct(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs: return "n/a"
    m = statistics.mean(xs)
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{m:.2f} ± {sd:.2f}" if len(xs) > 1 else f"{m:.2f}"

def get(o, *path):
    for p in path:
        if not isinstance(o, dict) or p not in o: return None
        o = o[p]
    return o

costs = {"none": [], "gessl": []}
if os.path.exists(f"{cost_dir}/cost.txt"):
    for line in open(f"{cost_dir}/cost.txt"):
        f = line.split()
        try:
            (s1, i1, r1, s2, i2, r2), meta = map(float, f[:6]), f[6]
            costs[meta].append((i2 / r2 - i1 / r1) / (s2 - s1))
        except (ValueError, KeyError): pass
R = None
if costs["none"] and costs["gessl"]:
    pn, pg = min(costs["none"]), min(costs["gessl"])
    ratio = R = pg / pn
    print(f"\nper-outer-step cost on the CPU backend (best of {len(costs['none'])}): plain {pn:.3f} s, "
          f"GeSSL {pg:.3f} s, ratio {ratio:.2f} (bound 5.5 M + 0.5 = {5.5 * M + 0.5:.1f} for M = {M}, "
          f"K = 1): {'within' if ratio <= 5.5 * M + 0.5 else 'OVER'}")

def knn_at_epoch(rows, e):
    """base-long kNN (%) at fractional epoch e, linear between monitored epochs; past its last
    epoch, the last value (a lower bound: kNN still rises at the end of these runs)."""
    if rows and rows[-1][3] is not None and e > rows[-1][0]: return 100 * rows[-1][3]
    pts = [(0.0, None)] + [(r[0], r[3]) for r in rows if r[3] is not None]
    for (e0, k0), (e1, k1) in zip(pts, pts[1:]):
        if e0 <= e <= e1:
            if k0 is None: return 100 * k1 if e >= e1 - 1e-9 else None
            return 100 * (k0 + (k1 - k0) * (e - e0) / (e1 - e0))
    return None

for m in methods:
    cols = {k: [] for k in ["base_ep", "gessl_ep", "base_upd", "base_time", "reach", "reach_base",
                            "lin_base", "lin_gessl", "steps_ratio", "cost"]}
    sig = {k: [] for k in ["base_train", "base_test", "base_transfer", "gessl_train",
                           "gessl_test", "gessl_transfer"]}
    for s in seeds:
        try:
            b, bl, g = (epochs(f"{out}/{m}-s{s}-{k}") for k in ("base", "base-long", "gessl"))
            eb, eg = ev(f"{out}/{m}-s{s}-base"), ev(f"{out}/{m}-s{s}-gessl")
        except (OSError, ValueError, KeyError) as e:
            print(f"{m} seed {s}: missing ({e})"); continue
        cols["base_ep"].append(100 * b[-1][3]); cols["gessl_ep"].append(100 * g[-1][3])
        cols["base_upd"].append(knn_at_epoch(bl, g[-1][1] / bl[0][1]))
        # Equal compute time: one GeSSL epoch costs R / M plain epochs (R measured per outer
        # step without monitoring or checkpoints, which the epochs' log times include).
        cols["base_time"].append(knn_at_epoch(bl, EPOCHS * R / M) if R else None)
        target = b[-1][3]
        reach = next((r[0] for r in g if r[3] is not None and r[3] >= target), None)
        cols["reach"].append(reach * R / M if (reach and R) else None)
        cols["reach_base"].append(float(b[-1][0]))
        cols["lin_base"].append(100 * (get(eb, "linear", "top1") or float("nan")))
        cols["lin_gessl"].append(100 * (get(eg, "linear", "top1") or float("nan")))
        per_b, per_g = b[-1][2] / b[-1][1], g[-1][2] / g[-1][1]
        cols["cost"].append(per_g / per_b)
        for who, e in (("base", eb), ("gessl", eg)):
            for split in ("train", "test", "transfer"):
                sig[f"{who}_{split}"].append(get(e, "sigma", split, "norm"))
    n = len(cols["base_ep"])
    print(f"\n### {m}: {n} seed(s), GeSSL {gset}\n")
    print("| measure | base | GeSSL |\n|---|---|---|")
    print(f"| kNN top-1 at equal epochs (%) | {pct(cols['base_ep'])} | {pct(cols['gessl_ep'])} |")
    print(f"| kNN at equal outer updates (%) | {pct(cols['base_upd'])} | {pct(cols['gessl_ep'])} |")
    print(f"| kNN at equal compute time (%) | {pct(cols['base_time'])} | {pct(cols['gessl_ep'])} |")
    reached = [r for r in cols["reach"] if r is not None]
    print(f"| time to the base run's final kNN (plain epochs) | {pct(cols['reach_base'])} | "
          f"{pct(reached) if reached else 'not reached'} ({len(reached)}/{n} seeds) |")
    print(f"| linear probe top-1 (%) | {pct(cols['lin_base'])} | {pct(cols['lin_gessl'])} |")
    for split in ("train", "test", "transfer"):
        print(f"| σ {split} (normalised) | {pct(sig['base_'+split])} | {pct(sig['gessl_'+split])} |")
    print(f"| time per outer step from the log, GeSSL / base | 1 | {pct(cols['cost'])} |")

EOF
