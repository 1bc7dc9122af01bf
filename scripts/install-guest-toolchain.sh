#!/usr/bin/env bash
# Installs what rebuilding the guest component needs on Debian 12: the
# wasm32-wasip2 Rust target, and clang 14 with wasi-libc headers for QuickJS's C.
# (The host itself needs none of this: it embeds the committed component.)
set -euo pipefail

rustup target add wasm32-wasip2

missing=()
command -v clang-14 >/dev/null || missing+=(clang-14)
command -v llvm-ar-14 >/dev/null || missing+=(llvm-14)
[ -e /usr/lib/llvm-14/lib/libclang.so.1 ] || [ -e /usr/lib/x86_64-linux-gnu/libclang-14.so.1 ] || missing+=(libclang1-14)
[ -d /usr/include/wasm32-wasi ] || missing+=(wasi-libc)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  $sudo apt-get install -y -q "${missing[@]}"
fi
