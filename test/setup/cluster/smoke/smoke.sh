#!/usr/bin/env bash
# Smoke test of a running local cluster (up.sh) with the project's image imported
# (image/build.sh): node Ready, a CRD served with printer columns, a Job running
# milvus-migrate:dev --version, a Secret value via secretKeyRef, a TCP server on
# the host reached at 10.88.0.1, and the API server via in-cluster config.
# Exits non-zero on the first failure. Uses a throwaway namespace "smoke".
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
SMOKE="$CLUSTER_DIR/smoke"
export KUBECONFIG="${KUBECONFIG:-$KUBECONFIG_PATH}"
k() { "$KUBE_BIN/kubectl" "$@"; }
port="${SMOKE_HOST_PORT:-18089}"

http_pid=
cleanup() {
  [[ -n "$http_pid" ]] && kill "$http_pid" 2>/dev/null
  k delete namespace smoke --wait=false >/dev/null 2>&1
  k delete -f "$SMOKE/crd.yaml" --wait=false >/dev/null 2>&1
  rm -rf "${www:-}"
}
trap cleanup EXIT

k wait node/localhost --for=condition=Ready --timeout=60s
k create namespace smoke --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -f "$SMOKE/crd.yaml" >/dev/null
k wait crd/widgets.smoke.milvus-migrate.test --for=condition=Established --timeout=30s >/dev/null
# Host TCP server on all interfaces; pods reach it at the bridge gateway.
www="$(mktemp -d)"; echo ok > "$www/index.html"
python3 -m http.server "$port" --bind 0.0.0.0 --directory "$www" >/dev/null 2>&1 &
http_pid=$!
sed "s/__HOST_PORT__/$port/" "$SMOKE/workloads.yaml" | k apply -f - >/dev/null
k -n smoke patch widget w1 --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' >/dev/null
echo "--- kubectl get widgets (printer columns)"
k -n smoke get widgets
for j in version probe; do
  if ! k -n smoke wait "job/$j" --for=condition=Complete --timeout=120s >/dev/null; then
    k -n smoke describe job "$j" | tail -20; k -n smoke describe pods -l "job-name=$j" | tail -30
    k -n smoke logs "job/$j" || true
    die "job $j did not complete"
  fi
  echo "--- job $j log"
  k -n smoke logs "job/$j"
done
log=$(k -n smoke logs job/probe)
grep -q '^secret=smoke-secret-value$' <<< "$log" || die "secretKeyRef value not seen"
grep -q "^host-http=200$" <<< "$log" || die "host TCP server not reached"
grep -qE "^incluster=$KUBERNETES_SVC_IP status=(200|403)$" <<< "$log" || die "API server not reached in-cluster"
echo "smoke: all checks passed"
