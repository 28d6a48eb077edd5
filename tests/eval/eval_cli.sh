#!/bin/sh
# gessl eval on a tiny trained run writes eval.json with every probe; bad checkpoints (truncated,
# bad header, another model, wrong shapes, another method, missing) and bad exports fail with a
# message and exit status 1, and leave eval.json and the export target as they were.
# Usage: eval_cli.sh GESSL WORKDIR
gessl=$1
work=$2

# shellcheck source=tests/check.sh
. "$(dirname "$0")/../check.sh"
fresh_dir "$work" eval_cli
run="$work/run"
if "$gessl" train --data synthetic:16x16x3 --batch 16 --max-steps 3 --threads 2 \
  --set proj_hidden_dim=32 --set proj_output_dim=16 --out "$run" >"$work/train.log" 2>&1 &&
  test -s "$run/checkpoint.safetensors"; then ok; else bad "tiny training run"; cat "$work/train.log"; fi

if "$gessl" eval --checkpoint "$run" --limit 300 --test-limit 100 --linear-epochs 5 \
  --episodes 50 --sigma-size 16 --sigma-tasks 2 --transfer synthetic:20x20x1 --threads 2 \
  >"$work/eval.out" 2>&1; then ok; else bad "eval of the trained run"; fi
cat "$work/eval.out"
for key in '"knn"' '"linear"' '"fewshot"' '"sigma"' '"transfer"' '"norm"' '"top5"' '"backbone_norm"'; do
  if grep -q "$key" "$run/eval.json" 2>/dev/null; then ok; else bad "eval.json lacks $key"; fi
done
for row in 'knn k=200' 'linear 5 epochs' 'few-shot 5-way 1-shot' 'few-shot 5-way 5-shot' \
  'sigma train' 'sigma test' 'sigma transfer' 'on the backbone'; do
  if grep -q "$row" "$work/eval.out"; then ok; else bad "table lacks '$row'"; fi
done

# Each broken copy must fail with status 1 and a message naming the cause, and keep eval.json.
expect_refused() { # name pattern
  dir="$work/$1"
  echo old >"$dir/eval.json"
  "$gessl" eval --checkpoint "$dir" --knn --limit 64 --test-limit 32 >"$dir/out" 2>"$dir/err"
  rc=$?
  if [ $rc -eq 1 ]; then ok; else bad "$1: exit status $rc, expected 1"; fi
  if grep -q "$2" "$dir/err"; then ok; else bad "$1: message lacks '$2': $(cat "$dir/err")"; fi
  if [ "$(cat "$dir/eval.json")" = old ]; then ok; else bad "$1: eval.json overwritten"; fi
  echo "$1: $(cat "$dir/err")"
}
copy() { mkdir -p "$work/$1" && cp "$run/config.json" "$run/checkpoint.safetensors" "$work/$1/"; }

copy truncated
size=$(wc -c <"$run/checkpoint.safetensors")
head -c $((size - 100)) "$run/checkpoint.safetensors" >"$work/truncated/checkpoint.safetensors"
expect_refused truncated "checkpoint.safetensors"

copy header
printf '\377\377\377\377\377\377\377\177' |
  dd of="$work/header/checkpoint.safetensors" bs=1 count=8 conv=notrunc 2>/dev/null
expect_refused header "header"

copy garbage
printf '{"weights": [' | dd of="$work/garbage/checkpoint.safetensors" bs=1 seek=8 conv=notrunc 2>/dev/null
expect_refused garbage "checkpoint.safetensors"

copy model
sed 's/"model":[^,]*/"model": "resnet18"/' "$run/config.json" >"$work/model/config.json"
expect_refused model "resnet18"

copy shapes
sed 's/"width":[^,]*/"width": 0.5/' "$run/config.json" >"$work/shapes/config.json"
expect_refused shapes "needs \[16"

copy method
sed 's/"method":[^,]*/"method": "byol"/' "$run/config.json" >"$work/method/config.json"
expect_refused method "method simclr"

mkdir -p "$work/missing" && cp "$run/config.json" "$work/missing/"
expect_refused missing "No such file"

# Export: a good run writes the file; a broken one fails and leaves the old file alone.
if "$gessl" export --checkpoint "$run" --out "$work/backbone.safetensors" >"$work/export.out" 2>&1 &&
  test -s "$work/backbone.safetensors"; then ok; else bad "export"; cat "$work/export.out"; fi
echo old >"$work/old.safetensors"
"$gessl" export --checkpoint "$run" --out "$work/old.safetensors" 2>"$work/export.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "exists; give --force" "$work/export.err" &&
  [ "$(cat "$work/old.safetensors")" = old ]; then ok; else bad "export over a file without --force: status $rc"; fi
"$gessl" export --checkpoint "$work/truncated" --out "$work/old.safetensors" --force 2>"$work/export.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(cat "$work/old.safetensors")" = old ]; then ok; else bad "export of a bad run: status $rc"; fi
"$gessl" eval --checkpoint "$run" --bogus 2>/dev/null
if [ $? -eq 2 ]; then ok; else bad "unknown option: status 2"; fi

check_summary
