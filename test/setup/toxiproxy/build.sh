#!/usr/bin/env bash
# Prints the path of toxiproxy-server: Shopify's Toxiproxy (a TCP proxy whose faults are set over
# an HTTP API: latency, bandwidth, timeout, reset_peer, limit_data, ...) built from the Go module
# proxy, cached in the machine cache by version. Test set-up only (test/integration/faults.test.ts).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"
version="${TOXIPROXY_VERSION:-v2.12.0}"
bin="$CACHE_ROOT/toxiproxy-$version/toxiproxy-server"
if [[ ! -x "$bin" ]]; then
  command -v go >/dev/null || { echo "toxiproxy-server needs Go (>= 1.22) to build" >&2; exit 1; }
  echo "[toxiproxy] building toxiproxy-server $version (github.com/Shopify/toxiproxy/v2 from the Go module proxy)" >&2
  mkdir -p "$(dirname "$bin")"
  # go install of a versioned package builds it in module mode outside any work tree.
  GOBIN="$(dirname "$bin")/.gobin" CGO_ENABLED=0 go install -trimpath \
    "github.com/Shopify/toxiproxy/v2/cmd/server@$version"
  mv -f "$(dirname "$bin")/.gobin/server" "$bin"
  rmdir "$(dirname "$bin")/.gobin" 2>/dev/null || true
fi
echo "$bin"
