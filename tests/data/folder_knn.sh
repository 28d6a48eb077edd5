#!/bin/sh
# A labelled folder of PNGs made from Fashion-MNIST: a brief training run holds out part of every
# class (recorded in config.json), gessl eval scores kNN on exactly those images (recorded in
# eval.json) and lands well above chance (10%); --test-data scores another folder numbered by
# class name, and a test class the bank lacks is refused by name. A broken file mid-run is skipped
# with a warning and logged, or stops the run with --bad-images fail. The decode-once cache is
# built once, recorded, and gives the run's losses.
# Usage: folder_knn.sh GESSL MAKE_FOLDER WORKDIR
gessl=$1
make_folder=$2
work=$3

# shellcheck source=tests/check.sh
. "$(dirname "$0")/../check.sh"
fresh_dir "$work" folder_knn
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

# A file that fails to decode mid-run (its header is fine): skipped with a warning naming it and a
# bad_image event in log.jsonl; with --bad-images fail the run stops on it. The statistics at
# open decode every n/256-th image, so the broken one is chosen among the others.
flat="$work/flat"
mkdir -p "$flat"
i=0
for f in "$work"/fm/*/000[0-2]*.png; do
  [ $i -lt 300 ] || break
  cp "$f" "$flat/$(printf %05d $i).png"
  i=$((i + 1))
done
victim=$(awk 'BEGIN { n = 300; for (k = 0; k < 256; k++) s[int(k * n / 256)] = 1;
  for (i = 1; i < n; i++) if (!(i in s)) { printf "%05d", i; exit } }')
head -c 60 "$flat/$victim.png" >"$flat/cut" && mv "$flat/cut" "$flat/$victim.png"
if "$gessl" train --data "folder:$flat" --batch 30 --epochs 1 --threads 2 --out "$work/run2" \
  >"$work/train2.log" 2>&1; then ok; else bad "training past a broken image"; cat "$work/train2.log"; fi
if grep -q "warning: skipped.*$victim.png" "$work/train2.log"; then ok; else
  bad "no warning naming $victim.png"; fi
if grep -q '"bad_image"' "$work/run2/log.jsonl"; then ok; else bad "log.jsonl lacks bad_image"; fi
"$gessl" train --data "folder:$flat" --batch 30 --epochs 1 --threads 2 --bad-images fail \
  >"$work/train3.log" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "$victim.png" "$work/train3.log"; then ok; else
  bad "--bad-images fail: status $rc"; cat "$work/train3.log"; fi

# The decode-once cache: built by the first run (said in its log) and recorded in config.json,
# the same losses as without it (stored at the files' own size), then used without a rebuild by
# --resume and by gessl eval.
common="--data folder:$work/fm --image-size 28 --batch 64 --epochs 2 --max-steps 3 --threads 2 --lr 0.1"
# shellcheck disable=SC2086 # common is a word list on purpose
"$gessl" train $common --image-cache "$work/fm.cache" --out "$work/runc" >"$work/trainc.log" 2>&1
# shellcheck disable=SC2086
"$gessl" train $common >"$work/trainp.log" 2>&1
if grep -q "image cache .*fm.cache: .* written" "$work/trainc.log"; then ok; else
  bad "no note of the cache being built"; cat "$work/trainc.log"; fi
if grep -q '"image-cache":[[:space:]]*".*fm.cache"' "$work/runc/config.json"; then ok; else
  bad "config.json lacks image-cache"; fi
lc=$(grep "^final loss" "$work/trainc.log" | cut -d' ' -f3-5)
lp=$(grep "^final loss" "$work/trainp.log" | cut -d' ' -f3-5)
if [ -n "$lc" ] && [ "$lc" = "$lp" ]; then ok; else bad "losses with and without the cache: '$lc' / '$lp'"; fi
"$gessl" train --resume "$work/runc" --max-steps 4 >"$work/trainr.log" 2>&1
if grep -q "^final loss" "$work/trainr.log" && ! grep -q "image cache" "$work/trainr.log"; then ok
else bad "resume with the cache"; cat "$work/trainr.log"; fi
if "$gessl" eval --checkpoint "$work/runc" --knn --threads 2 >"$work/evalc.out" 2>&1 &&
  ! grep -q "image cache" "$work/evalc.out"; then ok; else
  bad "eval with the run's cache"; cat "$work/evalc.out"; fi

check_summary
