#!/usr/bin/env bash
# Installs what rebuilding the tool components needs: the guest's toolchain
# (wasm32-wasip2, and clang 14 with wasi-libc for the QuickJS in JavaScript
# tools) and componentize-py for Python tools, at the version the committed
# components were built with. (Loading and calling tools needs none of this.)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-guest-toolchain.sh

componentize_py=0.25.1
if ! componentize-py --version 2>/dev/null | grep -qx "componentize-py $componentize_py"; then
  python3 -m pip install --quiet "componentize-py==$componentize_py"
fi
