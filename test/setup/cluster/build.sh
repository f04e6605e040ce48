#!/usr/bin/env bash
# Builds (once per version) the binaries the local test cluster runs:
#   $KUBE_CACHE/bin/kube      one static multi-call binary (etcd, kube-apiserver,
#                             kube-controller-manager, kube-scheduler, kube-proxy,
#                             kubelet, kubectl) from kube/ via the Go module proxy
#   $KUBE_CACHE/bin/<name>    symlinks to it
#   $KUBE_CACHE/pause-image.tar  docker-archive of a static pause binary (pod sandbox image)
# A second run finds the stamp files and skips the build (prints "cached").
# Cold build: about 5-9 minutes on 2 cores. Go is used for test set-up only.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# CI's PATH may lack the toolchain's directory.
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "go toolchain not found (needed to build the test cluster binaries)"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

mkdir -p "$KUBE_BIN"

# The stamp records what was built, so an edit of kube/ (or a version bump) rebuilds.
src_hash() { cat "$@" | sha256sum | cut -c1-16; }

# ---- kube multi-call binary ------------------------------------------------
kube_hash="$KUBE_VERSION-$(src_hash "$CLUSTER_DIR"/kube/go.mod "$CLUSTER_DIR"/kube/go.sum "$CLUSTER_DIR"/kube/main.go)"
if [[ -x "$KUBE_BIN/kube" && "$(cat "$KUBE_CACHE/kube.stamp" 2>/dev/null)" == "$kube_hash" ]]; then
  log "kube $KUBE_VERSION: cached at $KUBE_BIN/kube"
else
  log "building kube $KUBE_VERSION (cold build takes ~5-9 min on 2 cores) ..."
  start=$SECONDS
  # A private build cache (~3 GB) that is removed afterwards: the binary is what we keep.
  gocache="$KUBE_CACHE/go-build.tmp"
  mkdir -p "$gocache"
  pkg=k8s.io/component-base/version
  cpkg=k8s.io/client-go/pkg/version
  minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for p in $pkg $cpkg; do
    ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ldflags+=" -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$CLUSTER_DIR/kube" && GOCACHE="$gocache" go build -trimpath -tags selinux,notest \
      -ldflags "$ldflags" -o "$KUBE_BIN/kube.tmp" .)
  mv -f "$KUBE_BIN/kube.tmp" "$KUBE_BIN/kube"
  rm -rf "$gocache"
  echo "$kube_hash" > "$KUBE_CACHE/kube.stamp"
  log "built kube in $((SECONDS - start)) s ($(du -h "$KUBE_BIN/kube" | cut -f1))"
fi
for n in etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl; do
  ln -sfn kube "$KUBE_BIN/$n"
done

# ---- pause (sandbox) image -------------------------------------------------
pause_hash="$(src_hash "$CLUSTER_DIR"/pause/go.mod "$CLUSTER_DIR"/pause/main.go)-$SANDBOX_IMAGE"
if [[ -s "$PAUSE_TAR" && "$(cat "$KUBE_CACHE/pause.stamp" 2>/dev/null)" == "$pause_hash" ]]; then
  log "pause image: cached at $PAUSE_TAR"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/rootfs" "$tmp/img"
  (cd "$CLUSTER_DIR/pause" && go build -trimpath -ldflags '-s -w' -o "$tmp/rootfs/pause" .)
  # A docker-archive (docker save format) written by hand: one layer, a config, a manifest.
  tar --numeric-owner --owner=65535 --group=65535 --mtime=@0 -C "$tmp/rootfs" -cf "$tmp/img/layer.tar" pause
  layer_sha="$(sha256sum "$tmp/img/layer.tar" | cut -d' ' -f1)"
  printf '%s' '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"User":"65535:65535","Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:'"$layer_sha"'"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"milvus-migrate test/setup/cluster/build.sh"}]}' > "$tmp/img/config.json"
  cfg_sha="$(sha256sum "$tmp/img/config.json" | cut -d' ' -f1)"
  mv "$tmp/img/config.json" "$tmp/img/$cfg_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$cfg_sha" "$SANDBOX_IMAGE" > "$tmp/img/manifest.json"
  tar --mtime=@0 -C "$tmp/img" -cf "$PAUSE_TAR.tmp" manifest.json "$cfg_sha.json" layer.tar
  mv -f "$PAUSE_TAR.tmp" "$PAUSE_TAR"
  echo "$pause_hash" > "$KUBE_CACHE/pause.stamp"
  log "built pause image $SANDBOX_IMAGE -> $PAUSE_TAR"
fi

echo "$KUBE_BIN"
