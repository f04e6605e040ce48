#!/usr/bin/env bash
# Builds the project's container image from the repo's Dockerfile WITHOUT any
# image registry, and imports it into the local test cluster if that is up.
#   1. base image $BASE_IMAGE_TAG (milvus-migrate-base:local) made with `docker import`
#      from a rootfs holding the host's /usr/bin/node + the libraries ldd lists, npm,
#      /bin/sh + /usr/bin/env (npm scripts and #!/usr/bin/env node need them), CA
#      certificates, /etc/passwd+group with user app (uid 10001) and /tmp.
#      Rebuilt only when node, npm or this script change.
#   2. a docker engine (docker-up.sh: an existing one, or Debian's dockerd started
#      with its own socket; stopped again at the end unless KEEP_DOCKER=1)
#   3. DOCKER_BUILDKIT=0 docker build --network host --build-arg BASE_IMAGE=<base> -t $IMAGE <repo>
#   4. docker save | ctr import into the cluster's containerd (cluster/import-image.sh),
#      when the cluster is up; otherwise run that later.
# Prints the image size. Env: IMAGE, BASE_IMAGE_TAG, KEEP_DOCKER, NO_IMPORT=1, see lib.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
t0=$SECONDS

# ---- 2. docker engine --------------------------------------------------------
started_docker=0
[[ -S "$DOCKER_SOCK" && -f "$DOCKER_PIDFILE" ]] || started_docker=1
DOCKER_HOST="$("$IMAGE_DIR/docker-up.sh")"
export DOCKER_HOST
[[ "$DOCKER_HOST" == "unix://$DOCKER_SOCK" ]] && export DOCKER_API_VERSION="$DOCKER_API" || started_docker=0
cleanup() {
  if [[ $started_docker == 1 && "${KEEP_DOCKER:-0}" != 1 ]]; then "$IMAGE_DIR/down.sh"; fi
}
trap cleanup EXIT

# ---- 1. base image -------------------------------------------------------------
node_bin="$(command -v node)"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"   # .../node_modules/npm
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -f "$npm_dir/package.json" ]] || { log "ERROR: cannot find npm's package dir ($npm_dir)"; exit 1; }
[[ -f "$ca_bundle" ]] || { log "ERROR: no CA bundle at $ca_bundle"; exit 1; }
base_hash="$( { sha256sum "$node_bin" | cut -d' ' -f1; cat "$npm_dir/package.json" "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)"
have_hash="$(docker image inspect --format '{{index .Config.Labels "milvus-migrate.base-hash"}}' "$BASE_IMAGE_TAG" 2>/dev/null || true)"
if [[ "$have_hash" == "$base_hash" ]]; then
  log "base image $BASE_IMAGE_TAG up to date"
else
  log "making base image $BASE_IMAGE_TAG from $node_bin ($("$node_bin" --version)) and npm $("$node_bin" "$npm_dir/bin/npm-cli.js" --version 2>/dev/null)"
  root="$(mktemp -d)"
  trap 'rm -rf "$root"; cleanup' EXIT
  mkdir -p "$root"/{usr/bin,bin,usr/lib/node_modules,etc/ssl/certs,tmp,home/app,app}
  cp -L "$node_bin" "$root/usr/bin/node"
  cp -L /bin/dash "$root/bin/sh"        # npm runs scripts with sh -c
  cp -L "$(command -v env)" "$root/usr/bin/env"   # #!/usr/bin/env node
  # Shared libraries (and the dynamic loader) at the paths ldd reports.
  for b in "$node_bin" /bin/dash "$(command -v env)"; do
    ldd "$b" | grep -oE '/[^ ]+' || true
  done | sort -u | while read -r lib; do
    cp -L --parents "$lib" "$root"
  done
  cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
  cp -L "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\napp:x:10001:\nnogroup:x:65534:\n' > "$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$root/etc/nsswitch.conf"
  mkdir -p "$root/root"; chmod 700 "$root/root"
  chmod 1777 "$root/tmp"
  chown 10001:10001 "$root/home/app"
  # NODE_EXTRA_CA_CERTS: Node's built-in CA list does not include the system bundle,
  # which npm needs to reach the registry through this machine's TLS proxy.
  tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV NPM_CONFIG_UPDATE_NOTIFIER=false' \
    --change "LABEL milvus-migrate.base-hash=$base_hash" \
    --change 'CMD ["node"]' \
    - "$BASE_IMAGE_TAG" >/dev/null
  rm -rf "$root"
  trap cleanup EXIT
  log "base image: $(docker image inspect --format '{{.Size}}' "$BASE_IMAGE_TAG" | awk '{printf "%.0f MB", $1/1e6}')"
fi

# ---- 3. build the Dockerfile -------------------------------------------------------
[[ -f "$REPO_ROOT/Dockerfile" ]] || { log "ERROR: no Dockerfile at $REPO_ROOT"; exit 1; }
log "docker build -t $IMAGE (legacy builder, --network host)"
tb=$SECONDS
DOCKER_BUILDKIT=0 docker build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE_TAG" \
  -t "$IMAGE" "$REPO_ROOT" >&2
# Drop old dangling images, but keep recent ones: the untagged build stage is
# dangling too, and the legacy builder's layer cache of that stage lives in it.
docker image prune -f --filter until=168h >/dev/null 2>&1 || true
size="$(docker image inspect --format '{{.Size}}' "$IMAGE")"
log "built $IMAGE in $((SECONDS - tb)) s, size $(awk -v s="$size" 'BEGIN{printf "%.0f MB", s/1e6}')"

# ---- 4. import into the cluster ------------------------------------------------------
if [[ "${NO_IMPORT:-0}" != 1 ]]; then
  if [[ -S "$CONTAINERD_SOCK" ]] && ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; then
    docker save "$IMAGE" | "$CLUSTER_DIR/import-image.sh" -
  else
    log "cluster not up: import later with: docker save $IMAGE | test/setup/cluster/import-image.sh -"
  fi
fi
log "done in $((SECONDS - t0)) s"
echo "$IMAGE"
