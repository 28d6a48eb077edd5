#!/bin/sh
# A labelled folder of PNGs made from Fashion-MNIST: a brief training run holds out part of every
# class (recorded in config.json), gessl eval scores kNN on exactly those images (recorded in
# eval.json) and lands well above chance (10%); --test-data scores another folder numbered by
# class name, and a test class the bank lacks is refused by name.
# Usage: folder_knn.sh GESSL MAKE_FOLDER WORKDIR
gessl=$1
make_folder=$2
work=$3
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "check failed: $*"; }

case "$work" in */folder_knn) ;; *) echo "refusing work dir $work"; exit 1 ;; esac
rm -rf "$work"
mkdir -p "$work"
"$make_folder" "$work/fm" 60 28 || { echo "cannot make the folder"; exit 1; }
run="$work/run"
if "$gessl" train --data "folder:$work/fm" --batch 64 --epochs 2 --threads 2 --lr 0.1 \
  --holdout 0.25 --split-seed 3 --out "$run" >"$work/train.log" 2>&1; then ok; else
  bad "training on the folder"; cat "$work/train.log"; fi
for key in '"holdout":[[:space:]]*0.25' '"split_seed":[[:space:]]*"3"' \
  '"image-size":[[:space:]]*0' '"dataset_size":[[:space:]]*450'; do
  if grep -q "$key" "$run/config.json"; then ok; else bad "config.json lacks $key"; fi
done

if "$gessl" eval --checkpoint "$run" --knn --threads 2 >"$work/eval.out" 2>&1; then ok; else
  bad "eval --knn"; fi
cat "$work/eval.out"
if grep -q '"test_images":150' "$run/eval.json"; then ok; else bad "eval.json: not 150 held-out images"; fi
if grep -q '"holdout":0.25' "$run/eval.json"; then ok; else bad "eval.json lacks the holdout"; fi
top1=$(sed -n 's/.*"knn":{[^}]*"top1":\([0-9.e-]*\).*/\1/p' "$run/eval.json")
if awk "BEGIN { exit !($top1 > 0.35) }"; then ok; else bad "kNN top-1 $top1 not above 0.35"; fi

# --test-data: another folder (other images of two classes) scored against the whole bank.
mkdir -p "$work/other"
"$make_folder" "$work/more" 70 28 || exit 1
for c in bag dress; do
  mkdir -p "$work/other/$c"
  for f in 00060 00061 00062 00063 00064 00065 00066 00067 00068 00069; do
    cp "$work/more/$c/$f.png" "$work/other/$c/"
  done
done
if "$gessl" eval --checkpoint "$run" --knn --threads 2 --test-data "folder:$work/other" \
  >"$work/eval2.out" 2>&1; then ok; else bad "eval --test-data"; cat "$work/eval2.out"; fi
if grep -q '"test_images":20' "$run/eval.json" && grep -q '"train_images":600' "$run/eval.json"; then
  ok; else bad "eval.json of --test-data: $(cat "$run/eval.json")"; fi
mkdir -p "$work/other/zebra"
cp "$work/more/bag/00069.png" "$work/other/zebra/"
"$gessl" eval --checkpoint "$run" --knn --threads 2 --test-data "folder:$work/other" \
  >"$work/eval3.out" 2>"$work/eval3.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "zebra" "$work/eval3.err"; then ok; else
  bad "unknown test class: status $rc, $(cat "$work/eval3.err")"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
