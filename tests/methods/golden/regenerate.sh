#!/bin/sh
# Recomputes every method's golden values (<method>.json) from its PyTorch script.
# Needs Debian's python3-torch: /usr/bin/python3 -c 'import torch'.
set -e
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}
for script in *.py; do
  [ "$script" = common.py ] && continue
  "$PY" "$script"
done
