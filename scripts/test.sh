#!/usr/bin/env bash
# The whole test suite: type check, then every *.test.ts beside the code (node's test runner through tsx).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
mapfile -t files < <(find src bench -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec "${files[@]}"
