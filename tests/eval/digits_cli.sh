#!/bin/sh
# Transfer to scikit-learn's digits from a short Fashion-MNIST run: gessl eval --transfer digits
# upscales the 8x8 digits to the run's 28x28 and scores kNN, few-shot and sigma on their held-out
# split; a digits file that is not there fails with status 1 and names it.
# Usage: digits_cli.sh GESSL WORKDIR
gessl=$1
work=$2

# shellcheck source=tests/check.sh
. "$(dirname "$0")/../check.sh"
fresh_dir "$work" digits_cli
run="$work/run"
if "$gessl" train --data fashion-mnist --data-limit 256 --width 0.25 --batch 32 --max-steps 2 \
  --threads 2 --set proj_hidden_dim=32 --set proj_output_dim=16 --out "$run" >"$work/train.log" 2>&1 &&
  test -s "$run/checkpoint.safetensors"; then ok; else bad "Fashion-MNIST run"; cat "$work/train.log"; fi

if "$gessl" eval --checkpoint "$run" --transfer digits --fewshot --sigma --knn --limit 400 \
  --test-limit 400 --episodes 30 --sigma-size 16 --sigma-tasks 2 --threads 2 >"$work/eval.out" 2>&1
then ok; else bad "eval --transfer digits"; fi
cat "$work/eval.out"
for row in 'transfer digits: 400 train images, test = 20% of each class held out' \
  'knn k=200 T=0.1        digits' 'few-shot 5-way 5-shot  digits' 'sigma transfer         digits' \
  'at 28x28'; do
  if grep -q "$row" "$work/eval.out"; then ok; else bad "table lacks '$row'"; fi
done
if python3 - "$run/eval.json" <<'PY'; then ok; else bad "eval.json: transfer fields"; fi
import json, sys
e = json.load(open(sys.argv[1]))
t = e["transfer"]
assert t["data"] == "digits" and t["test_images"] == 359, t
assert 0.1 <= t["knn"]["top1"] <= 1, t["knn"]
assert [f["shots"] for f in t["fewshot"]] == [1, 5] and all(0 < f["mean"] <= 1 for f in t["fewshot"])
s = e["sigma"]["transfer"]
assert s["data"] == "digits" and 0 < s["norm"] < 2 and 0 < s["backbone_norm"] < 2, s
for part in ("train", "test"):
    assert 0 < e["sigma"][part]["backbone_raw"] < 10, e["sigma"][part]
PY

echo old >"$run/eval.json"
"$gessl" eval --checkpoint "$run" --knn --transfer "digits:$work/none.csv.gz" --limit 64 \
  --test-limit 32 >"$work/missing.out" 2>"$work/missing.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "$work/none.csv.gz" "$work/missing.err" &&
  [ "$(cat "$run/eval.json")" = old ]; then ok; else bad "missing digits file: status $rc: $(cat "$work/missing.err")"; fi

check_summary
