#!/usr/bin/env bash
# Prints the path of kstatus-check (main.go beside this script): the kstatus library
# (sigs.k8s.io/cli-utils, what Flux reads health with) built from the Go module proxy,
# cached in the machine cache by the hash of its sources. Test set-up only.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
hash="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)"
bin="$CACHE_ROOT/kstatus-check-$hash/kstatus-check"
if [[ ! -x "$bin" ]]; then
  command -v go >/dev/null || { echo "kstatus-check needs Go (>= 1.25) to build" >&2; exit 1; }
  echo "[kstatus] building kstatus-check (sigs.k8s.io/cli-utils from the Go module proxy)" >&2
  mkdir -p "$(dirname "$bin")"
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp" .)
  mv -f "$bin.tmp" "$bin"
fi
echo "$bin"
