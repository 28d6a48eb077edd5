#!/bin/sh
# The out-of-tree example method plugin (examples/method-plugin) against an installed gessl:
# install this build into a fresh prefix, build the example with find_package(gessl) from only
# that prefix (and once more with pkg-config), list it with `gessl methods` from
# GESSL_PLUGIN_PATH and train two steps with it.
# Usage: example_plugin.sh CMAKE BUILD_DIR SOURCE_DIR WORK_DIR
set -eu
CMAKE=$1 BUILD=$2 SRC=$3 WORK=$4
case "$WORK" in */example-plugin) ;; *) echo "unexpected work dir $WORK" >&2; exit 2 ;; esac
rm -rf "$WORK"
mkdir -p "$WORK"
"$CMAKE" --install "$BUILD" --prefix "$WORK/prefix" >"$WORK/install.log"
"$CMAKE" -S "$SRC/examples/method-plugin" -B "$WORK/build" -DCMAKE_PREFIX_PATH="$WORK/prefix" \
  >"$WORK/configure.log"
"$CMAKE" --build "$WORK/build" >"$WORK/build.log"
# The pkg-config file names everything a plain compiler line needs.
PC="$WORK/prefix/lib/pkgconfig"
[ -d "$PC" ] || PC=$(dirname "$(find "$WORK/prefix" -name gessl.pc | head -n 1)")
mkdir -p "$WORK/pc"
# shellcheck disable=SC2046 # the flags are words on purpose
cc -std=c11 -shared -fPIC -o "$WORK/pc/libgessl-cosine.so" "$SRC/examples/method-plugin/cosine.c" \
  $(PKG_CONFIG_PATH="$PC" pkg-config --cflags --libs gessl)
echo "built with pkg-config"
GESSL=$WORK/prefix/bin/gessl
export GESSL_PLUGIN_PATH="$WORK/build"
"$GESSL" methods >"$WORK/methods.txt"
grep -q '^  cosine ' "$WORK/methods.txt" || { echo "cosine is not listed:"; cat "$WORK/methods.txt"; exit 1; }
grep -q 'var_weight' "$WORK/methods.txt" || { echo "its hyperparameters are not listed"; exit 1; }
echo "gessl methods lists the example plugin"
"$GESSL" train --method cosine --data synthetic:16x16x3 --batch 8 --max-steps 2 --threads 2 \
  --set proj_dim=16
echo "trained with the example plugin"
