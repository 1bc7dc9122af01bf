#!/usr/bin/env bash
# Installs what rebuilding the tool components needs: the guest's toolchain
# (wasm32-wasip2, and clang 14 with wasi-libc for the QuickJS in JavaScript
# tools) and componentize-py for Python tools, at the version the committed
# components were built with. (Loading and calling tools needs none of this.)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-guest-toolchain.sh

componentize_py=0.25.1
export PATH="$PATH:$HOME/.local/bin"   # where a --user install puts it (xtask looks there too)
if ! componentize-py --version 2>/dev/null | grep -qx "componentize-py $componentize_py"; then
  # A Debian system Python refuses plain installs (PEP 668); then install for this user.
  python3 -m pip install --quiet "componentize-py==$componentize_py" ||
    python3 -m pip install --quiet --user --break-system-packages "componentize-py==$componentize_py"
  componentize-py --version | grep -qx "componentize-py $componentize_py"
fi
