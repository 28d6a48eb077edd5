#!/usr/bin/env bash
# Installs the dependencies, builds gessl and runs the main job: a short real training run on the
# CPU backend that prints its result.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh; else echo "not root: assuming dependencies are installed"; fi
BUILD_DIR=build bash scripts/build.sh
build/bin/gessl devices
exec build/bin/gessl train --backend cpu --data synthetic --model convnet --method simclr \
  --batch 64 --max-steps 30 --lr 0.3 --seed 0 --out runs/main
