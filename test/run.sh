#!/usr/bin/env bash
# The project's one test command (`npm test`): installs everything it needs, sets up the real test
# ground (Milvus servers in a project-local venv, a local Kubernetes cluster unless KUBECONFIG is
# given, the project's image), runs lint, type-check and every test, and tears it all down again,
# also when a test fails or the run is interrupted.
#
# Environment:
#   KUBECONFIG=...          use this cluster (kind, a real one) instead of starting the local one
#   MM_SKIP_CLUSTER=1       skip the cluster and the image (and so the e2e tests)
#   MM_KEEP_CLUSTER=1       leave the local cluster running after the tests (for debugging)
#   VITEST_ARGS="..."       extra arguments for vitest (e.g. a file filter)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
mkdir -p .cache
t0=$(date +%s)
stamp() { echo "[test $(( $(date +%s) - t0 ))s] $*"; }

# 1. npm packages, only when the lock file changed since the last install.
if [ ! -d node_modules ] || ! cmp -s package-lock.json node_modules/.package-lock.stamp 2>/dev/null; then
  stamp "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.stamp
fi

cleanup() {
  local rc=$?
  set +e
  if [ -n "${started_cluster:-}" ] && [ -z "${MM_KEEP_CLUSTER:-}" ]; then
    stamp "tearing down the local cluster"
    bash test/setup/cluster/down.sh >/dev/null 2>&1 || bash test/setup/cluster/down.sh
  fi
  [ -x test/setup/image/down.sh ] && bash test/setup/image/down.sh >/dev/null 2>&1
  bash test/setup/milvus/kill-leftovers.sh >/dev/null 2>&1
  stamp "done (exit $rc)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 2. Set-up that takes long runs in the background while the static checks run.
stamp "installing Milvus test servers (project-local venv)"
bash test/setup/milvus/install.sh > .cache/milvus-install.log 2>&1 &
milvus_pid=$!

use_cluster=""
if [ -z "${MM_SKIP_CLUSTER:-}" ]; then
  use_cluster=1
  if [ -z "${KUBECONFIG:-}" ]; then
    stamp "building the local Kubernetes binaries (cached by version)"
    bash test/setup/cluster/build.sh > .cache/cluster-build.log 2>&1 &
    build_pid=$!
  fi
fi

# kstatus-check (the GitOps health tests read status with the real kstatus library), Go, cached.
bash test/setup/kstatus/build.sh > .cache/kstatus-build.log 2>&1 &
kstatus_pid=$!

stamp "lint"
npm run --silent lint
stamp "type-check"
npm run --silent typecheck
stamp "build (the CLI tests run dist/ as a user would)"
npm run --silent build

wait "$kstatus_pid" || { tail -30 .cache/kstatus-build.log; echo "kstatus-check build failed (log above)"; exit 1; }
wait "$milvus_pid" || { tail -50 .cache/milvus-install.log; echo "Milvus test server install failed (log above)"; exit 1; }

if [ -n "$use_cluster" ]; then
  if [ -z "${KUBECONFIG:-}" ]; then
    wait "$build_pid" || { tail -50 .cache/cluster-build.log; echo "Kubernetes build failed (log above)"; exit 1; }
    stamp "starting the local Kubernetes cluster"
    started_cluster=1
    bash test/setup/cluster/up.sh > .cache/cluster-up.log 2>&1 || { tail -50 .cache/cluster-up.log; exit 1; }
    export KUBECONFIG="$repo/.cache/cluster/kubeconfig"
  fi
  stamp "building the project's image and importing it into the cluster"
  bash test/setup/image/build.sh > .cache/image-build.log 2>&1 || { tail -50 .cache/image-build.log; exit 1; }
  export MM_E2E=1
fi

stamp "vitest"
# shellcheck disable=SC2086
npx vitest run ${VITEST_ARGS:-}
