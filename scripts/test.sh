#!/usr/bin/env bash
# The whole test suite: type check (sources, tests, benches), build dist/ (what bin/tlkit.js
# and the package run), then every *.test.ts beside the code (node's test runner through tsx).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
npx tsc -p tsconfig.build.json   # incremental: a no-op after npm ci built dist/
mapfile -t files < <(find src bench -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec "${files[@]}"
