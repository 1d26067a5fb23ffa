#!/usr/bin/env bash
# Fresh-machine set-up: npm dependencies from the lockfile (no GPU binaries for
# onnxruntime-node), plus Debian's chromium (/usr/bin/chromium) for the browser tests
# when it is missing and we are allowed to install it (root with apt). Under CI (CI set)
# a chromium that cannot be installed fails the set-up: the browser tests would fail anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund

under_ci() { [ -n "${CI:-}" ] && [ "${CI}" != "0" ] && [ "${CI,,}" != "false" ]; }
no_chromium() {
  if under_ci; then
    echo "setup: ERROR: $1; the browser tests fail under CI without it. Install it: apt-get install chromium" >&2
    exit 1
  fi
  echo "setup: warning: $1; the browser tests will be skipped (apt-get install chromium to run them)" >&2
}
CHROMIUM=/usr/bin/chromium
if [ "${TLKIT_SKIP_CHROMIUM:-}" != "1" ] && [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian chromium for the browser tests" >&2
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); then
      no_chromium "could not install chromium with apt-get"
    elif [ ! -x "$CHROMIUM" ]; then
      no_chromium "apt-get installed chromium, but not at $CHROMIUM"
    fi
  else
    no_chromium "$CHROMIUM is missing and cannot be installed here (needs root with apt-get)"
  fi
fi
