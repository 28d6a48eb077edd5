#!/usr/bin/env bash
# gessl on an NVIDIA GPU in one run: the GPU and its driver, the devices gessl sees, launch
# conformance on Vulkan and on NVIDIA's OpenCL driver against the CPU reference, the GEMM and
# convolution benchmarks beside torch on CUDA (cuBLAS and cuDNN, TF32 off), and the SimCLR training
# step (ConvNet at batch 256, ResNet-18 CIFAR stem at 128 and 256) on OpenCL and Vulkan against
# bench/torch_train_step.py on CUDA, with the per-step counters. Made for a bare machine with the
# NVIDIA driver and a Python with PyTorch but no package manager or internet: it runs from the
# folder scripts/gpu-bundle.sh makes (a build and the Debian packages of its libraries).
#
# usage: scripts/gpu-check.sh [--cpu-drivers] [-b BUILD] [--bundle DIR] [OUTDIR]
#   OUTDIR         where every figure goes (default: $OUT); seven files, rewritten each run:
#                  summary.txt (one line per section, the key figures, the result), system.txt
#                  (nvidia-smi, drivers, libraries, gessl devices), conform-vulkan.json,
#                  conform-opencl.json, gemm.txt, step.txt, log.txt (conformance case lines)
#   --cpu-drivers  run on the CPU drivers (PoCL, lavapipe) with tiny sizes, the GPU-only parts
#                  reported as not run; also chosen when nvidia-smi is missing or finds no GPU
#   --bundle DIR   what scripts/gpu-bundle.sh made (default .gpu-bundle): its build, and its
#                  debs/ unpacked into a temporary folder and put on LD_LIBRARY_PATH for gessl
#                  (not for Python)
#   -b BUILD       a build to run instead, with this machine's libraries unless --bundle is
#                  given too (default: the bundle's build if there is one, else build/)
#
# Every section runs under its own timeout, cut to what is left of GPU_CHECK_BUDGET seconds
# (465 on a GPU, 840 on the CPU drivers), so a hang costs that section only. Exit status: 0
# every section ran and passed; 1 a section failed or timed out; 3 none failed but some could
# not run (no NVIDIA GPU, driver or torch with CUDA; always so on the CPU drivers); 2 bad usage
# or no build.
# Settings: PYTHON (a python with torch; default the first of python3, /usr/bin/python3 that has
# it), GPU_CHECK_STEPS ("convnet:256 resnet18:128 resnet18:256", model:batch per step run),
# GPU_CHECK_ROUNDS (1).
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n 10,30p "$0"; }
cpu=0
build=
bundle=
outdir=
while [ $# -gt 0 ]; do
  case $1 in
  --cpu-drivers) cpu=1 ;;
  -b) [ $# -ge 2 ] || { usage >&2; exit 2; }; build=$2; shift ;;
  --bundle) [ $# -ge 2 ] || { usage >&2; exit 2; }; bundle=$2; shift ;;
  -h | --help) usage; exit 0 ;;
  -*) echo "gpu-check: unknown option $1" >&2; usage >&2; exit 2 ;;
  *) [ -z "$outdir" ] || { echo "gpu-check: one OUTDIR only" >&2; exit 2; }; outdir=$1 ;;
  esac
  shift
done
outdir=${outdir:-${OUT:-}}
[ -n "$outdir" ] || { echo "gpu-check: no output directory: give OUTDIR or set OUT" >&2; exit 2; }
if ! mkdir -p "$outdir" || ! outdir=$(cd "$outdir" && pwd); then echo "gpu-check: cannot make $outdir" >&2; exit 2; fi
if [ -z "$build" ]; then
  bundle=${bundle:-$src/.gpu-bundle}
  if [ -x "$bundle/build/bin/gessl" ]; then build=$bundle/build; else build=$src/build; fi
fi
[ -x "$build/bin/gessl" ] || { echo "gpu-check: $build/bin/gessl not found (build, or scripts/gpu-bundle.sh)" >&2; exit 2; }

# -- mode and settings
gpu_why=
if [ $cpu = 1 ]; then
  gpu_why="--cpu-drivers given"
elif ! command -v nvidia-smi >/dev/null 2>&1; then
  gpu_why="nvidia-smi not found"
elif ! nvidia-smi -L >/dev/null 2>&1; then
  gpu_why="nvidia-smi finds no GPU"
fi
if [ -z "$gpu_why" ]; then
  mode=gpu
  budget=${GPU_CHECK_BUDGET:-465}
  ocl_spec=opencl:nvidia vk_spec=vulkan:nvidia ocl_sel=NVIDIA vk_sel=NVIDIA
  conform_args=()
  scale=1
  steps=${GPU_CHECK_STEPS:-convnet:256 resnet18:128 resnet18:256}
  step_env=(CONVNET_STEPS=8 RESNET_STEPS=3)
  counters_env=(STEP_BATCH=128 STEP_STEPS=2)
  counters_model=resnet18
  counters_be="opencl vulkan"
  torch_dev=cuda
  tscale=1
else
  mode="cpu-drivers"
  budget=${GPU_CHECK_BUDGET:-840}
  ocl_spec=opencl:pthread vk_spec=vulkan:llvmpipe ocl_sel=pthread vk_sel=llvmpipe
  conform_args=(--ops "fill,axpby" --runs 1)
  scale=32
  steps=${GPU_CHECK_STEPS:-convnet:2}
  step_env=(CONVNET_STEPS=1 RESNET_STEPS=1)
  counters_env=(STEP_BATCH=2 STEP_STEPS=1)
  counters_model=convnet
  # Every lavapipe step costs seconds of CPU whatever its size: the counters on PoCL only.
  counters_be=opencl
  torch_dev=cpu
  # CPU drivers share the machine's cores with whatever else runs: longer limits per section.
  tscale=3
fi
rounds=${GPU_CHECK_ROUNDS:-1}
start=$(date +%s)
deadline=$((start + budget))

umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/gessl-gpu-check.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
export GESSL_CACHE_DIR=${GESSL_CACHE_DIR:-$work/cache} POCL_CACHE_DIR=${POCL_CACHE_DIR:-$work/pocl-cache}
for f in summary.txt system.txt log.txt gemm.txt step.txt; do : >"$outdir/$f"; done
rm -f "$outdir/conform-vulkan.json" "$outdir/conform-opencl.json"
: >"$work/figures"

version=$(sed -n 's/^source: //p' "$bundle/MANIFEST" 2>/dev/null)
[ -n "$version" ] && [ "$build" = "$bundle/build" ] || version=$(git -C "$src" describe --always --dirty 2>/dev/null || echo unknown)
{
  echo "gessl gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), gessl $version"
  echo "mode: $mode${gpu_why:+ (no NVIDIA GPU: $gpu_why)}; budget $budget s"
  echo "sections:"
} >>"$outdir/summary.txt"

# -- recording
n_failed=0
n_notrun=0
n_sections=0
# record NAME RESULT SECONDS [NOTE]: a line of summary.txt (RESULT: ok, FAILED ..., TIMED OUT, not run).
record() {
  local line="$1: $2 [$3 s]${4:+ - $4}"
  n_sections=$((n_sections + 1))
  case $2 in
  ok) ;;
  "not run") n_notrun=$((n_notrun + 1)) ;;
  *) n_failed=$((n_failed + 1)) ;;
  esac
  echo "$line" >>"$outdir/summary.txt"
  echo "gpu-check: $line"
}
figure() { sed "s/^/$1: /" >>"$work/figures"; }
lastline() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -1 | cut -c1-200; }

# section NAME FILE LIMIT CMD...: CMD under a timeout of LIMIT seconds (less if the budget has
# less left), its output appended to OUTDIR/FILE and kept in $work/NAME.out; 0 when it passed.
section() {
  local name=$1 file=$2 limit=$3 t0 left rc
  shift 3
  t0=$(date +%s)
  left=$((deadline - t0))
  if [ "$left" -lt 10 ]; then
    record "$name" "not run" 0 "the budget of $budget s is spent"
    return 1
  fi
  limit=$((limit * tscale))
  [ "$limit" -le "$left" ] || limit=$left
  printf '\n==== %s: %s\n' "$name" "$*" >>"$outdir/$file"
  timeout -k 5 "$limit" "$@" >"$work/$name.out" 2>&1
  rc=$?
  cat "$work/$name.out" >>"$outdir/$file"
  case $rc in
  0) record "$name" ok $(($(date +%s) - t0)) ;;
  124 | 137) record "$name" "TIMED OUT" $(($(date +%s) - t0)) "after $limit s" ;;
  *) record "$name" "FAILED (exit $rc)" $(($(date +%s) - t0)) "$(lastline "$work/$name.out")" ;;
  esac
  return $rc
}
sysnote() { printf '\n==== %s\n' "$1" >>"$outdir/system.txt"; }

# -- Python with torch, run with the caller's library path (the bundle's libraries are gessl's)
pyexe=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  if "$p" -c 'import torch' >/dev/null 2>&1; then pyexe=$(command -v "$p") && break; fi
done
q() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }
if [ -n "$pyexe" ]; then
  {
    echo '#!/bin/sh'
    if [ -n "${LD_LIBRARY_PATH+x}" ]; then
      echo "LD_LIBRARY_PATH=$(q "$LD_LIBRARY_PATH"); export LD_LIBRARY_PATH"
    else
      echo 'unset LD_LIBRARY_PATH'
    fi
    echo "exec $(q "$pyexe") \"\$@\""
  } >"$work/python"
  chmod +x "$work/python"
fi
py=$work/python

# -- section gpu: nvidia-smi
if [ $mode = gpu ]; then
  if section gpu system.txt 30 nvidia-smi; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | figure gpu
    sed -n 's/.*\(CUDA Version: [0-9.]*\).*/\1/p' "$work/gpu.out" | head -1 | figure gpu
  fi
else
  record gpu "not run" 0 "no NVIDIA GPU ($gpu_why)"
fi

# -- section torch-cuda: the peer the GPU figures are measured against
torch_why=
if [ -z "$pyexe" ]; then
  torch_why="no python with torch (tried ${PYTHON:+$PYTHON, }python3, /usr/bin/python3)"
  record torch-cuda "not run" 0 "$torch_why"
elif [ $mode = gpu ]; then
  if section torch-cuda system.txt 60 "$py" -c 'import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())
assert torch.cuda.is_available(), "this torch sees no CUDA device"
print("device:", torch.cuda.get_device_name(0))'; then
    figure torch <"$work/torch-cuda.out"
  else
    torch_why="torch has no CUDA device here"
  fi
else
  record torch-cuda "not run" 0 "no NVIDIA GPU: the torch peers run on the CPU ($pyexe)"
fi

# -- section libraries: the build staged where the plugin loader accepts it, the bundle unpacked
# Plugins load only from files and folders that no one but root and this user owns or may write
# (docs/reliability.md); a copied source tree can belong to anyone, so gessl runs from a copy.
t0=$(date +%s)
stage=$work/build
mkdir -p "$stage/bin" "$stage/lib/gessl"
for p in gessl gessl-bench-cpu gessl-bench-opencl gessl-bench-vulkan; do
  [ ! -x "$build/bin/$p" ] || cp "$build/bin/$p" "$stage/bin/"
done
cp -P "$build"/lib/libgessl.so* "$stage/lib/"
cp "$build"/lib/gessl/libgessl-*.so "$stage/lib/gessl/"
lib_note="the system's libraries"
lib_fail=
ldp=
if [ -n "$bundle" ] && compgen -G "$bundle/debs/*.deb" >/dev/null; then
  if ! command -v dpkg-deb >/dev/null; then
    lib_fail="dpkg-deb not found: cannot unpack $bundle/debs"
  else
    for d in "$bundle"/debs/*.deb; do dpkg-deb -x "$d" "$work/root" || lib_fail="cannot unpack $d"; done
    ldp=$(find "$work/root" \( -type f -o -type l \) -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
    # Fallback packages only where the machine has none of their libraries.
    have=$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null)
    for d in "$bundle"/debs/fallback/*.deb; do
      [ -e "$d" ] || continue
      dpkg-deb -x "$d" "$work/fb1" || lib_fail="cannot unpack $d"
      # Each library by its soname (libX.so.N), copied only when the machine has none.
      find "$work/fb1" -name '*.so.*' ! -name '*.so.*.*' | while read -r so; do
        grep -q "^[[:space:]]*${so##*/} " <<<"$have" || { mkdir -p "$work/fallback" && cp -L "$so" "$work/fallback/"; }
      done
      rm -rf "$work/fb1"
    done
    if compgen -G "$work/fallback/*" >/dev/null; then ldp=$ldp:$work/fallback; fi
    [ -x /usr/bin/time ] || [ ! -x "$work/root/usr/bin/time" ] || export GNU_TIME=$work/root/usr/bin/time
    lib_note="bundle $bundle ($(compgen -G "$bundle/debs/*.deb" | wc -l) packages)"
  fi
fi
# NVIDIA's driver libraries where a container runtime mounts them outside the linker's path.
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ ! -d "$d" ] || ldp=${ldp:+$ldp:}$d; done
# The staged lib/ first: a build's RUNPATH names the folder it was built in, absent elsewhere.
export LD_LIBRARY_PATH="$stage/lib${ldp:+:$ldp}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
chmod -R go-w "$stage"
sysnote "libraries: $lib_note; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
cat "$bundle/MANIFEST" >>"$outdir/system.txt" 2>/dev/null
echo "this machine: $(getconf GNU_LIBC_VERSION 2>/dev/null), $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null | tr -d '"'), $(uname -r)" >>"$outdir/system.txt"
ldd "$stage"/bin/* "$stage"/lib/libgessl.so.0 "$stage"/lib/gessl/*.so >"$work/ldd" 2>&1
cat "$work/ldd" >>"$outdir/system.txt"
missing=$(grep 'not found' "$work/ldd" | sed 's/^[[:space:]]*//; s/ =>.*//' | sort -u | paste -sd' ')
[ -z "$missing" ] || lib_fail="${lib_fail:+$lib_fail; }not found: $missing"
if [ -n "$lib_fail" ]; then
  record libraries FAILED $(($(date +%s) - t0)) "$lib_fail"
else
  record libraries ok $(($(date +%s) - t0)) "$lib_note"
fi

# -- section drivers: NVIDIA's Vulkan and OpenCL drivers made visible to the carried loaders
# find_lib SONAME: the path of a library the dynamic linker or the driver's folders hold.
find_lib() {
  local p d
  p=$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null | awk -v s="$1" '$1 == s && /x86-64/ { print $NF; exit }')
  if [ -n "$p" ]; then echo "$p"; return 0; fi
  for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib; do
    [ ! -e "$d/$1" ] || { echo "$d/$1"; return 0; }
  done
  return 1
}
t0=$(date +%s)
vk_why=
ocl_why=
if [ $mode = gpu ]; then
  sysnote drivers
  # A driver file or ICD folder the caller names is used as it is.
  json=${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-}}
  json=${json%%:*}
  [ -n "$json" ] || for f in /etc/vulkan/icd.d/nvidia*.json /usr/share/vulkan/icd.d/nvidia*.json \
    /usr/local/share/vulkan/icd.d/nvidia*.json /usr/local/nvidia/share/vulkan/icd.d/nvidia*.json \
    /usr/local/nvidia/icd.d/nvidia*.json; do
    [ -e "$f" ] && { json=$f; break; }
  done
  [ -n "$json" ] || json=$(find /usr /etc /opt -maxdepth 7 -name 'nvidia_icd*.json' 2>/dev/null | head -1)
  if [ -z "$json" ]; then
    vk_why="no NVIDIA Vulkan ICD file (nvidia_icd.json) on this machine"
  else
    # Only NVIDIA's driver: the loader reads no other ICD file.
    export VK_DRIVER_FILES=$json VK_ICD_FILENAMES=$json
    vklib=$(sed -n 's/.*"library_path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$json" | head -1)
    case $vklib in
    /*) [ -e "$vklib" ] || vk_why="$json names $vklib, which is missing" ;;
    *) vklib=$(find_lib "$vklib") || vk_why="$json names a library that is not on this machine" ;;
    esac
    {
      echo "vulkan: $json"
      cat "$json"
      [ -n "$vk_why" ] || ldd "$vklib"
    } >>"$outdir/system.txt" 2>&1
  fi
  if [ -n "${OCL_ICD_VENDORS:-}" ]; then
    echo "opencl: OCL_ICD_VENDORS=$OCL_ICD_VENDORS (given)" >>"$outdir/system.txt"
  elif grep -qil nvidia /etc/OpenCL/vendors/*.icd 2>/dev/null; then
    echo "opencl: $(grep -il nvidia /etc/OpenCL/vendors/*.icd | paste -sd' ')" >>"$outdir/system.txt"
  elif ocllib=$(find_lib libnvidia-opencl.so.1); then
    # The driver ships the library without the ICD file the loader looks for: write one here.
    mkdir -p "$work/icd" && echo "$ocllib" >"$work/icd/nvidia.icd"
    export OCL_ICD_VENDORS=$work/icd
    echo "opencl: no ICD file for $ocllib in /etc/OpenCL/vendors: wrote $work/icd/nvidia.icd, OCL_ICD_VENDORS=$work/icd" >>"$outdir/system.txt"
  else
    ocl_why="no libnvidia-opencl.so.1 (NVIDIA's OpenCL driver) on this machine"
  fi
  if [ -z "$vk_why$ocl_why" ]; then
    record drivers ok $(($(date +%s) - t0)) "vulkan $json, opencl ${ocllib:-${OCL_ICD_VENDORS:-ICD in /etc/OpenCL/vendors}}"
  else
    record drivers "not run" $(($(date +%s) - t0)) "${vk_why}${vk_why:+${ocl_why:+; }}$ocl_why"
  fi
else
  record drivers ok 0 "CPU drivers: OpenCL $ocl_spec (PoCL), Vulkan $vk_spec (lavapipe)"
fi

# -- section devices
gessl=$stage/bin/gessl
plug=$stage/lib/gessl
section devices system.txt 60 "$gessl" devices -v && grep -E '^  (opencl|vulkan):' "$work/devices.out" | sed 's/^ *//' | figure devices

# -- sections conform-vulkan, conform-opencl: every op against the CPU reference, a JSON report
for be in vulkan opencl; do
  if [ $be = vulkan ]; then spec=$vk_spec why=$vk_why; else spec=$ocl_spec why=$ocl_why; fi
  if [ -n "$why" ]; then record "conform-$be" "not run" 0 "$why"; continue; fi
  section "conform-$be" log.txt 120 "$gessl" conform --backend "$spec" --json "$outdir/conform-$be.json" "${conform_args[@]}"
  grep -E '[0-9]+ passed, [0-9]+ failed' "$work/conform-$be.out" | tail -1 | figure "conform-$be"
done

# -- sections gemm-vulkan, gemm-opencl, gemm-torch: the GEMM benchmarks, then torch on the same shapes
gemm_outs=()
if [ -n "$vk_why" ]; then
  record gemm-vulkan "not run" 0 "$vk_why"
else
  ocl_args=()
  [ -n "$ocl_why" ] || ocl_args=("$plug/libgessl-opencl.so" "$ocl_sel")
  section gemm-vulkan gemm.txt 90 "$stage/bin/gessl-bench-vulkan" "$plug/libgessl-cpu.so" "$plug/libgessl-vulkan.so" "$vk_sel" "$scale" "${ocl_args[@]}"
  gemm_outs+=("$work/gemm-vulkan.out")
fi
if [ -n "$ocl_why" ]; then
  record gemm-opencl "not run" 0 "$ocl_why"
else
  section gemm-opencl gemm.txt 60 "$stage/bin/gessl-bench-opencl" "$plug/libgessl-cpu.so" "$plug/libgessl-opencl.so" "$ocl_sel" "$scale"
  gemm_outs+=("$work/gemm-opencl.out")
fi
if [ -n "$torch_why" ]; then
  record gemm-torch "not run" 0 "$torch_why"
elif [ ${#gemm_outs[@]} = 0 ]; then
  record gemm-torch "not run" 0 "no gessl GEMM benchmark ran"
else
  section gemm-torch gemm.txt 90 "$py" "$src/bench/torch_gemm.py" --device "$torch_dev" "${gemm_outs[@]}" &&
    grep '^speed vs torch: ' "$work/gemm-torch.out" | sed 's/^speed vs torch: //' | figure gemm-torch
fi

# -- sections step-BACKEND-MODEL-bBATCH: the SimCLR step against torch (bench-train-vs-torch.sh)
for cfg in $steps; do
  model=${cfg%%:*} batch=${cfg#*:}
  for be in opencl vulkan; do
    name=step-$be-$model-b$batch
    if [ $be = vulkan ]; then spec=$vk_spec why=$vk_why; else spec=$ocl_spec why=$ocl_why; fi
    [ -n "$why" ] || why=$torch_why
    if [ -n "$why" ]; then record "$name" "not run" 0 "$why"; continue; fi
    section "$name" step.txt 150 env "${step_env[@]}" CONVNET_BATCH="$batch" RESNET_BATCH="$batch" \
      PYTHON="$py" TORCH_DEVICE="$torch_dev" sh "$src/bench/bench-train-vs-torch.sh" -b "$stage" \
      -r "$rounds" -m "$model" -k "$spec"
    grep -E "^$model(/| +)(gessl|torch) " "$work/$name.out" | sed 's/  */ /g' | figure "$name"
  done
done

# -- section counters: launches, host waits and the GEMM + convolution share per step (bench-step.sh)
cbe=
for be in $counters_be; do
  if [ "$be" = vulkan ]; then why=$vk_why; else why=$ocl_why; fi
  [ -n "$why" ] || cbe="$cbe $be"
done
if [ -z "$cbe" ]; then
  record counters "not run" 0 "no OpenCL or Vulkan driver"
else
  section counters step.txt 120 env "${counters_env[@]}" OPENCL_SPEC="$ocl_spec" VULKAN_SPEC="$vk_spec" \
    sh "$src/bench/bench-step.sh" -b "$stage" -r 1 -m "$counters_model" -k "${cbe# }"
  sed -n '/^backend /,/^load at end/p' "$work/counters.out" | grep -v '^load at end' | figure counters
fi

# -- result
{
  echo "figures:"
  cat "$work/figures"
  if [ $n_failed -gt 0 ]; then
    echo "result: $n_failed of $n_sections sections failed or timed out, $n_notrun not run"
  elif [ $n_notrun -gt 0 ]; then
    echo "result: every section that could run passed; $n_notrun of $n_sections not run"
  else
    echo "result: all $n_sections sections ran and passed"
  fi
  echo "time: $(($(date +%s) - start)) s"
} >>"$outdir/summary.txt"
echo
cat "$outdir/summary.txt"
[ $n_failed -eq 0 ] || exit 1
[ $n_notrun -eq 0 ] || exit 3
exit 0
