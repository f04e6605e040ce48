#!/usr/bin/env bash
# `npm run demo`: installs what the demo needs (npm packages, Milvus 2.3.5 in the project venv),
# then runs test/demo/demo.ts: two local servers, a seeded source, plan, run with live progress.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
bash test/setup/milvus/install.sh milvus-2.3.5 >/dev/null
npm run --silent build
exec npx tsx test/demo/demo.ts
