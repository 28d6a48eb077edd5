#!/usr/bin/env bash
# Makes the folder that scripts/gpu-check.sh runs from on a GPU machine with no package manager
# and no internet: the programs and plugins of a build, and the Debian packages of every shared
# library they load that a bare Debian or Ubuntu with Python lacks (OpenCL ICD loader, CLBlast,
# Vulkan loader, OpenBLAS, oneDNN, libpng, libjpeg-turbo, cJSON, ...), found with ldd and
# fetched with `apt-get download` at the versions installed here.
#
# usage: scripts/gpu-bundle.sh [-b BUILD_DIR] [-o DIR]     (defaults: build, .gpu-bundle)
#
# DIR/build   gessl, gessl-bench-{cpu,opencl,vulkan}, libgessl and the plugins (no MPI plugin)
# DIR/debs    the packages; DIR/debs/fallback: packages whose libraries are used only where the
#             target has none of that name (libGLdispatch, libX11, libXext and theirs, which
#             libGLX_nvidia, NVIDIA's Vulkan driver, may link)
# DIR/MANIFEST  the source commit, the build, each package and version
#
# The packages stay packed (about 18 MB instead of about 90 MB unpacked): gpu-check.sh unpacks
# them with dpkg-deb -x into its own temporary folder and puts their library folders on
# LD_LIBRARY_PATH for gessl alone. This script unpacks them once here too, and fails unless
# every library the programs need then comes from the bundle or from the few packages left out
# on purpose: libc6, libgcc-s1, libstdc++6 and zlib1g, which every Debian and Ubuntu has and
# whose newer copies there must win. DIR is ignored by git (.gitignore).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
out=.gpu-bundle
while getopts b:o: o; do
  case $o in
  b) build=$OPTARG ;;
  o) out=$OPTARG ;;
  *) sed -n 2,21p "$0" >&2; exit 2 ;;
  esac
done
base_pkgs="libc6 libgcc-s1 libstdc++6 zlib1g"
# Not seen by ldd: GNU time (bench-train-vs-torch.sh reads peak RSS with it).
extra_pkgs="time"
fallback_pkgs="libglvnd0 libx11-6 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0"

die() { echo "gpu-bundle: $*" >&2; exit 1; }
for t in apt-get dpkg-deb; do command -v $t >/dev/null || die "needs apt-get and dpkg-deb (Debian or Ubuntu)"; done
progs="gessl gessl-bench-cpu gessl-bench-opencl gessl-bench-vulkan"
for p in $progs; do [ -x "$build/bin/$p" ] || die "$build/bin/$p not found (build first: scripts/build.sh)"; done
[ -e "$build/lib/libgessl.so.0" ] || die "$build/lib/libgessl.so.0 not found"
for p in cpu opencl vulkan; do
  [ -e "$build/lib/gessl/libgessl-$p.so" ] || die "$build/lib/gessl/libgessl-$p.so not found: gpu-check needs the $p backend"
done

umask 022
rm -rf "$out/build" "$out/debs" "$out/MANIFEST"
mkdir -p "$out/build/bin" "$out/build/lib/gessl" "$out/debs/fallback"
for p in $progs; do cp "$build/bin/$p" "$out/build/bin/"; done
cp -P "$build"/lib/libgessl.so* "$out/build/lib/"
cp "$build"/lib/gessl/libgessl-*.so "$out/build/lib/gessl/"
files=("$out"/build/bin/* "$out"/build/lib/libgessl.so.0 "$out"/build/lib/gessl/*.so)

# owner LIB: the package that installed LIB (dpkg -S knows one spelling: /lib or /usr/lib).
owner() {
  local p real r
  real=$(readlink -f "$1")
  for p in "$1" "$real" "/usr$real" "${real#/usr}"; do
    r=$(dpkg -S "$p" 2>/dev/null | grep -v '^diversion' | head -1) || true
    [ -z "$r" ] || { echo "${r%%:*}"; return 0; }
  done
  return 1
}

missing=$(LD_LIBRARY_PATH="$out/build/lib" ldd "${files[@]}" | grep 'not found' | sort -u || true)
[ -z "$missing" ] || die "libraries not found here: $missing"
pkgs=$extra_pkgs
while read -r lib; do
  case $lib in "$out"/* | "$PWD/$out"/*) continue ;; esac
  pkg=$(owner "$lib") || die "no package owns $lib"
  case " $base_pkgs " in *" $pkg "*) continue ;; esac
  pkgs="$pkgs $pkg"
done < <(LD_LIBRARY_PATH="$out/build/lib" ldd "${files[@]}" | awk '/=> \// { print $3 }' | sort -u)
pkgs=$(echo "$pkgs" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')

# fetch DIR PKG...: each package at the version installed here (the one the build linked against),
# else the archive's candidate, with a warning.
fetch() {
  local dir=$1 p v
  shift
  for p in "$@"; do
    v=$(dpkg-query -W -f='${Version}\n' "$p" 2>/dev/null | head -1 || true)
    if [ -n "$v" ] && (cd "$dir" && apt-get -q -o APT::Sandbox::User=root download "$p=$v" >/dev/null); then continue; fi
    echo "gpu-bundle: $p ${v:-(not installed)} cannot be downloaded at that version; taking the archive's" >&2
    (cd "$dir" && apt-get -q -o APT::Sandbox::User=root download "$p" >/dev/null) || die "apt-get download $p failed"
  done
}
echo "gpu-bundle: packages: $pkgs(fallback: $fallback_pkgs)"
# shellcheck disable=SC2086 # word lists on purpose
fetch "$out/debs" $pkgs
# shellcheck disable=SC2086
fetch "$out/debs/fallback" $fallback_pkgs

# The check gpu-check.sh relies on: with the bundle unpacked and on LD_LIBRARY_PATH, every
# library comes from it, from the build, or from a base package.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in "$out"/debs/*.deb; do dpkg-deb -x "$d" "$tmp/root"; done
libpath=$(find "$tmp/root" \( -type f -o -type l \) -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
bad=
while read -r lib; do
  case $lib in "$tmp"/* | "$out"/* | "$PWD/$out"/*) continue ;; esac
  pkg=$(owner "$lib") || pkg='?'
  case " $base_pkgs " in *" $pkg "*) continue ;; esac
  bad="$bad $lib ($pkg)"
done < <(LD_LIBRARY_PATH="$out/build/lib:$libpath" ldd "${files[@]}" | awk '/=> \// { print $3 }' | sort -u)
[ -z "$bad" ] || die "with the bundle unpacked these still come from the system:$bad"
[ -x "$tmp/root/usr/bin/time" ] || die "the bundle has no GNU time"

glibc=$(ldd --version | head -1 | sed 's/.* //')
{
  echo "gessl bundle for scripts/gpu-check.sh"
  echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"') $(dpkg --print-architecture)"
  echo "source: $(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "build: $(cd "$build" && pwd) ($(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || echo ?))"
  echo "needs: glibc >= $glibc; the target's own $base_pkgs"
  echo "packages:"
  for d in "$out"/debs/*.deb; do echo "  $(dpkg-deb -f "$d" Package) $(dpkg-deb -f "$d" Version)"; done
  echo "fallback packages (unpacked only where the target lacks their libraries):"
  for d in "$out"/debs/fallback/*.deb; do echo "  $(dpkg-deb -f "$d" Package) $(dpkg-deb -f "$d" Version)"; done
} >"$out/MANIFEST"
cat "$out/MANIFEST"
echo "gpu-bundle: $out is $(du -sh "$out" | cut -f1); take it to the GPU machine beside the source tree and run"
echo "  scripts/gpu-check.sh OUTDIR"
