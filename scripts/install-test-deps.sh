#!/usr/bin/env bash
# The third-party Node.js packages the test suite runs against, each pinned by
# its package-lock.json: the Telegram Bot API emulator (telegram-test-api, for
# host/tests/gateway_delivery.rs) and the test262-parser-tests syntax corpus
# (for host/tests/syntax_corpus.rs). Needs Node.js and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
for dir in tests/telegram-emulator tests/test262-parser; do
  (cd "$dir" && npm ci --no-audit --no-fund)
done
