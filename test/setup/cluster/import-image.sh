#!/usr/bin/env bash
# Imports a docker-archive / OCI image tarball into the test cluster's containerd
# (namespace k8s.io, where the kubelet looks). Images are imported, never pulled:
# pods must use imagePullPolicy Never or IfNotPresent (a non-":latest" tag defaults to it).
# Usage: import-image.sh FILE.tar     or     docker save IMG | import-image.sh -
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $# -eq 1 ]] || die "usage: $0 FILE.tar | -"
[[ -S "$CONTAINERD_SOCK" ]] || die "cluster containerd not running (no $CONTAINERD_SOCK); run up.sh"
ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$1" >&2
log "imported into $CONTAINERD_SOCK (namespace k8s.io)"
