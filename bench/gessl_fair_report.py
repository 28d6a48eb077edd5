"""Tables of bench/gessl-fair.sh: every condition against the plain method, paired by seed.

Reads OUTDIR/<method>-s<seed>-<condition>/eval.json and OUTDIR/cost.txt (the cost stage's
timings: "method condition epochs seconds ..." per line). Prints, per method, mean +- std over
seeds of each measure, the paired difference against `base` with a 95% t-interval (a condition
wins only where that interval excludes zero), and the cost: the timed training cost relative to
base (median over the rounds, times the condition's epochs), and the passes per batch the
algorithm needs (forward-backward passes; a forward-only pass counts 1/2)."""

import argparse
import json
import math
import os
import statistics

# Student t quantiles, 97.5%, by degrees of freedom (paired differences of n seeds: n - 1).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}

# Passes per batch, K = 1, one inner step (plugin defaults: M = 2, first-order):
#   gessl (task target): inner 1 + target step 1 + target forward 0.5 + task loss 1
#   kl-only: the same passes; ahead: look-ahead 1 + target forward 0.5 + inner 1 + task 1
#   accum (lambda = 0): inner 1 + task 1
PASSES = {"random": 0, "base": 1, "base-long": 1, "accum": 2, "gessl": 3.5, "kl-only": 3.5,
          "ahead": 3.5}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def get(o, *path):
    for p in path:
        if isinstance(p, int):
            if not isinstance(o, list) or p >= len(o):
                return None
        elif not isinstance(o, dict) or p not in o:
            return None
        o = o[p]
    return o


def measures(run):
    """The figures of one finished run, in percent where they are accuracies."""
    ev = load(os.path.join(run, "eval.json"))
    if ev is None:
        return None
    out = {}
    pct = lambda x: None if x is None else 100.0 * x
    out["linear"] = pct(get(ev, "linear", "top1"))
    out["knn"] = pct(get(ev, "knn", "top1"))
    for k, shots in ((0, 1), (1, 5)):
        out[f"fewshot{shots}"] = pct(get(ev, "fewshot", k, "mean"))
        out[f"digits_fewshot{shots}"] = pct(get(ev, "transfer", "fewshot", k, "mean"))
    out["digits_linear"] = pct(get(ev, "transfer", "linear", "top1"))
    for split in ("train", "test", "transfer"):
        out[f"sigma_{split}"] = get(ev, "sigma", split, "norm")
        out[f"sigma_backbone_{split}"] = get(ev, "sigma", split, "backbone_norm")
    return out


def costs(out):
    """{(method, condition): epochs x median seconds per epoch} from the cost stage."""
    per = {}
    try:
        with open(os.path.join(out, "cost.txt")) as f:
            for line in f:
                w = line.split()
                if len(w) >= 4:
                    per.setdefault((w[0], w[1]), (float(w[2]), []))[1].append(float(w[3]))
    except (OSError, ValueError):
        return {}
    return {k: ep * statistics.median(ts) for k, (ep, ts) in per.items()}


def fmt(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return f"{xs[0]:.2f}"
    return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}"


def paired(a, b):
    """Mean of b - a over the seeds both have, with its 95% t-interval."""
    d = [y - x for x, y in zip(a, b) if x is not None and y is not None]
    if len(d) < 2:
        return "n/a" if not d else f"{d[0]:+.2f} (1 seed)"
    m, s = statistics.mean(d), statistics.stdev(d)
    h = T975.get(len(d) - 1, 1.96) * s / math.sqrt(len(d))
    mark = " *" if (m - h > 0 or m + h < 0) else ""
    return f"{m:+.2f} [{m - h:+.2f}, {m + h:+.2f}]{mark}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--methods", default="simclr byol")
    ap.add_argument("--seeds", default="0 1 2")
    ap.add_argument("--conditions", default="random base accum gessl kl-only ahead base-long")
    a = ap.parse_args()
    seeds, conds = a.seeds.split(), a.conditions.split()
    rows = [("linear", "linear probe top-1 (%)"), ("knn", "kNN top-1 (%)"),
            ("fewshot5", "few-shot 5-way 5-shot (%)"),
            ("digits_fewshot5", "digits few-shot 5-way 5-shot (%)"),
            ("digits_linear", "digits linear probe (%)"),
            ("sigma_train", "σ train (projector)"), ("sigma_test", "σ test (projector)"),
            ("sigma_transfer", "σ digits (projector)"),
            ("sigma_backbone_train", "σ train (backbone)"),
            ("sigma_backbone_test", "σ test (backbone)"),
            ("sigma_backbone_transfer", "σ digits (backbone)")]
    cost_of = costs(a.out)
    for m in a.methods.split():
        data = {c: [measures(f"{a.out}/{m}-s{s}-{c}") for s in seeds] for c in conds}
        done = {c: sum(x is not None for x in data[c]) for c in conds}
        print(f"\n## {m} (seeds {' '.join(seeds)}; runs evaluated per condition: "
              + ", ".join(f"{c} {done[c]}" for c in conds) + ")\n")
        print("| measure | " + " | ".join(conds) + " |")
        print("|---" * (len(conds) + 1) + "|")
        for key, label in rows:
            cells = [fmt([x[key] if x else None for x in data[c]]) for c in conds]
            if all(c == "n/a" for c in cells):
                continue
            print(f"| {label} | " + " | ".join(cells) + " |")
        base_t = cost_of.get((m, "base"))
        cost = [f"{cost_of[(m, c)] / base_t:.2f}" if base_t and (m, c) in cost_of else "–"
                for c in conds]
        print("| training time / base (timed) | " + " | ".join(cost) + " |")
        print("| passes per batch | " + " | ".join(str(PASSES.get(c, "?")) for c in conds) + " |")
        if "base" not in conds:
            continue
        print(f"\nPaired differences against base ({m}), mean [95% interval]; * = excludes 0:\n")
        others = [c for c in conds if c != "base"]
        print("| measure | " + " | ".join(others) + " |")
        print("|---" * (len(others) + 1) + "|")
        for key, label in rows[:5]:
            b = [x[key] if x else None for x in data["base"]]
            cells = [paired(b, [x[key] if x else None for x in data[c]]) for c in others]
            if all(c == "n/a" for c in cells):
                continue
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
