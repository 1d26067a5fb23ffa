#!/usr/bin/env bash
# The whole test suite: type check (sources, tests, benches), the layer rules (depcheck), lint,
# format and unused code (lint), build dist/ (what bin/tlkit.js and the package run), then every
# *.test.ts beside the code (node's test runner through tsx).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
npm run --silent depcheck
npm run --silent lint
npx tsc -p tsconfig.build.json   # incremental: a no-op after npm ci built dist/
# Exported graphs the tests cache go to a folder of this run, not the user's ~/.cache/tlkit.
export TLKIT_GRAPH_CACHE="${TLKIT_GRAPH_CACHE:-$(mktemp -d)/graphs}"
mapfile -t files < <(find src bench -name '*.test.ts' | sort)
# --test-timeout: nothing hangs forever. Node 20 applies it to each test file (its own process);
# the slowest files take about 2 min (ortTraining/families.test.ts), so 10 min is generous.
exec node --import tsx --test --test-concurrency=2 --test-timeout=600000 --test-reporter=spec "${files[@]}"
