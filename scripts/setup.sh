#!/usr/bin/env bash
# Fresh-machine set-up: npm dependencies from the lockfile (no GPU binaries for
# onnxruntime-node), plus Debian's chromium for the HTML-report rendering test
# when it is missing and we are allowed to install it (root with apt).
set -euo pipefail
cd "$(dirname "$0")/.."
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
if [ "${TLKIT_SKIP_CHROMIUM:-}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian chromium for the report rendering test" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; the report rendering test will fail" >&2
  fi
fi
