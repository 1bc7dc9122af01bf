#!/usr/bin/env bash
# The third-party packages the test suite runs against, each pinned: the
# Telegram Bot API emulator (telegram-test-api, for host/tests/gateway_delivery.rs),
# the test262-parser-tests syntax corpus (host/tests/syntax_corpus.rs) and the
# MCP reference servers (@modelcontextprotocol/server-everything and
# server-filesystem, for host/tests/mcp_client.rs), each by its package-lock.json;
# and the official MCP Python SDK (`mcp`, every package pinned in
# tests/mcp-client/requirements.txt, in a virtualenv there) as the client that
# drives `clambot mcp serve` (host/tests/mcp_serve.rs). Needs Node.js, npm and
# Python 3.10+ with venv.
set -euo pipefail
cd "$(dirname "$0")/.."
for dir in tests/telegram-emulator tests/test262-parser tests/mcp-servers; do
  (cd "$dir" && npm ci --no-audit --no-fund)
done
(
  cd tests/mcp-client
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements.txt
)
