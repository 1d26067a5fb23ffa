#!/usr/bin/env bash
# Fresh-machine set-up: npm dependencies from the lockfile (no GPU binaries for
# onnxruntime-node), plus Debian's chromium (/usr/bin/chromium) for the browser tests and
# Debian's slurm-wlm and munge for the Slurm test (a one-node cluster it starts itself)
# when they are missing and we are allowed to install them (root with apt). Under CI (CI
# set) a package that cannot be installed fails the set-up: its tests would fail anyway.
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

# Slurm (slurmctld, slurmd, sbatch, ...) and munge for src/shard/slurm.test.ts. Installing
# them starts no daemon here: the test starts its own cluster in a temporary folder.
no_slurm() {
  if under_ci; then
    echo "setup: ERROR: $1; the Slurm test fails under CI without it. Install them: apt-get install slurm-wlm munge" >&2
    exit 1
  fi
  echo "setup: warning: $1; the Slurm test will be skipped (apt-get install slurm-wlm munge to run it)" >&2
}
if [ "${TLKIT_SKIP_SLURM:-}" != "1" ] && { [ ! -x /usr/sbin/slurmd ] || [ ! -x /usr/sbin/slurmctld ] || [ ! -x /usr/sbin/munged ]; }; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian slurm-wlm and munge for the Slurm test" >&2
    # policy-rc.d 101: the packages' maintainer scripts must not start munge or slurm daemons.
    policy=/usr/sbin/policy-rc.d
    made_policy=
    if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1; fi
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null); then
      [ -n "$made_policy" ] && rm -f "$policy"
      no_slurm "could not install slurm-wlm and munge with apt-get"
    else
      [ -n "$made_policy" ] && rm -f "$policy"
      [ -x /usr/sbin/slurmd ] && [ -x /usr/sbin/munged ] || no_slurm "apt-get installed slurm-wlm and munge, but /usr/sbin/slurmd or /usr/sbin/munged is missing"
    fi
  else
    no_slurm "slurm-wlm and munge are missing and cannot be installed here (needs root with apt-get)"
  fi
fi
