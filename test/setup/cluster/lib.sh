# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this
# Common paths and helpers for the local test cluster scripts. Sourced, not run.
#
# Environment honoured:
#   MILVUS_MIGRATE_CACHE  machine-level cache (built binaries, images); default ~/.cache/milvus-migrate
#   MILVUS_MIGRATE_STATE  per-checkout runtime state root; default <repo>/.cache

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLUSTER_DIR/../../.." && pwd)"

# The Kubernetes release is the one kube/go.mod requires (v1.35.8).
KUBE_VERSION="$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$CLUSTER_DIR/kube/go.mod")"
CACHE_ROOT="${MILVUS_MIGRATE_CACHE:-${HOME:-/root}/.cache/milvus-migrate}"
KUBE_CACHE="$CACHE_ROOT/kube-$KUBE_VERSION"
KUBE_BIN="$KUBE_CACHE/bin"            # kube + symlinks etcd, kube-apiserver, kubelet, kubectl, ...
PAUSE_TAR="$KUBE_CACHE/pause-image.tar"
# Name containerd's CRI uses for pod sandboxes; our locally built image is imported under it.
SANDBOX_IMAGE="registry.k8s.io/pause:3.10"

STATE_ROOT="${MILVUS_MIGRATE_STATE:-$REPO_ROOT/.cache}"
STATE="$STATE_ROOT/cluster"
KUBECONFIG_PATH="$STATE/kubeconfig"
CONTAINERD_SOCK="$STATE/containerd/containerd.sock"

# Network: CNI bridge; pods reach the host (and the Milvus test servers) at the gateway.
CNI_BRIDGE="cni0"
POD_CIDR="10.88.0.0/24"
HOST_GW="10.88.0.1"
SERVICE_CIDR="10.96.0.0/24"
KUBERNETES_SVC_IP="10.96.0.1"
ETCD_CLIENT_PORT=12379
ETCD_PEER_PORT=12380

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
