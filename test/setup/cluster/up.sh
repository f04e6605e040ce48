#!/usr/bin/env bash
# Starts a REAL single-node Kubernetes cluster on this machine (no container
# registry, no kind): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd + runc, kubelet (node "localhost"), kube-proxy
# (nftables mode) and a CNI bridge. Needs root. Binaries come from build.sh.
#
# Output: prints the admin kubeconfig path (<state>/cluster/kubeconfig) on stdout.
# Idempotent: if the cluster is already up and healthy it only prints the path;
# leftovers of a half-started cluster are torn down (down.sh) first.
#
# Interface (see also lib.sh):
#   kubeconfig           $STATE/kubeconfig  (server https://10.88.0.1:6443; works on the host AND in pods)
#   containerd socket    $STATE/containerd/containerd.sock, namespace k8s.io
#   import an image      test/setup/cluster/import-image.sh IMAGE.tar   (or: docker save X | ... import-image.sh -)
#   pods reach the host  at 10.88.0.1 (= the node's InternalIP, so also status.hostIP)
#   in-cluster config    KUBERNETES_SERVICE_HOST=10.96.0.1:443 -> kube-proxy -> 10.88.0.1:6443
#   logs                 $STATE/logs/<component>.log
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $EUID -eq 0 ]] || die "up.sh must run as root (it starts containerd and the kubelet)"
t0=$SECONDS

KUBECTL="$KUBE_BIN/kubectl"
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

# ---- already up? -----------------------------------------------------------
components=(etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet kube-proxy)
all_alive() {
  local c pid
  for c in "${components[@]}"; do
    pid="$(cat "$STATE/run/$c.pid" 2>/dev/null)" || return 1
    kill -0 "$pid" 2>/dev/null || return 1
  done
}
if all_alive && kc get --raw /readyz >/dev/null 2>&1; then
  log "cluster already up"
  echo "$KUBECONFIG_PATH"
  exit 0
fi
if [[ -d "$STATE" ]] || ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
  log "cleaning up leftovers of a previous cluster"
  "$CLUSTER_DIR/down.sh"
fi

# On failure leave everything for inspection but say how to clean up.
# shellcheck disable=SC2154  # rc is assigned inside the trap
trap 'rc=$?; if [[ $rc -ne 0 ]]; then log "up.sh failed (rc=$rc); logs in $STATE/logs; run $CLUSTER_DIR/down.sh to clean up"; fi' EXIT

# ---- packages (idempotent; fast when present) ------------------------------
need_pkgs=()
command -v containerd >/dev/null || need_pkgs+=(containerd)
command -v ctr >/dev/null || need_pkgs+=(containerd)
command -v runc >/dev/null || need_pkgs+=(runc)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || need_pkgs+=(containernetworking-plugins)
command -v nft >/dev/null || need_pkgs+=(nftables)   # kube-proxy's nftables mode runs `nft`
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null; }
fi

# ---- binaries ------------------------------------------------------------
"$CLUSTER_DIR/build.sh" >/dev/null

mkdir -p "$STATE"/{run,logs,pki,saved,etcd,kubelet,pod-logs,cni/net.d,cni/networks,cni/cache,containerd}
chmod 700 "$STATE/pki" "$STATE/etcd"

# ---- remember what teardown must restore -----------------------------------
# ip_forward is turned on by the CNI bridge plugin; the kubelet sets the vm./kernel.
# tunables below (KernelTunableModify). down.sh writes the saved values back.
saved_sysctls=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)
: > "$STATE/saved/sysctl"
for s in "${saved_sysctls[@]}"; do
  f="/proc/sys/${s//.//}"
  [[ -r "$f" ]] && printf '%s=%s\n' "$s" "$(cat "$f")" >> "$STATE/saved/sysctl"
done
# Host paths that the kubelet/containerd/CNI hard-code: remember which existed already.
: > "$STATE/saved/preexisting-paths"
for p in /var/lib/kubelet /var/lib/kubelet/device-plugins /var/log/containers /var/lib/cni \
         /var/lib/cni/results /run/containerd /run/containerd/s /run/containerd/fifo /var/run/netns /run/netns; do
  [[ -e "$p" ]] && echo "$p" >> "$STATE/saved/preexisting-paths"
done

# ---- certificates (openssl, EC P-256: fast to generate) --------------------
PKI="$STATE/pki"
# ca NAME CN: a self-signed CA.
ca() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$1.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/$1.key" -sha256 -days 3650 -subj "/CN=$2" -out "$PKI/$1.crt" 2>/dev/null
}
# cert NAME CN ORG EXT [CA]: key + cert signed by the CA (default: ca).
cert() {
  local name=$1 cn=$2 org=$3 ext=$4 ca=${5:-ca} subj="/CN=$2"
  [[ -n "$org" ]] && subj="/O=$org/CN=$cn"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -sha256 -days 3650 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
ca ca milvus-migrate-test-ca
# Front-proxy (request-header) CA: aggregated APIs, and it silences the
# controller-manager's/scheduler's "missing requestheader-client-ca" errors.
ca front-proxy-ca milvus-migrate-test-front-proxy-ca
client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
cert apiserver kube-apiserver "" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$HOST_GW,IP:$KUBERNETES_SVC_IP"
cert admin admin system:masters "$client_ext"
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "$client_ext"
cert kubelet system:node:localhost system:nodes "$client_ext"
cert controller-manager system:kube-controller-manager "" "$client_ext"
cert scheduler system:kube-scheduler "" "$client_ext"
cert kube-proxy system:kube-proxy "" "$client_ext"
cert front-proxy-client front-proxy-client "" "$client_ext" front-proxy-ca
openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
chmod 600 "$PKI"/*.key

APISERVER_URL="https://$HOST_GW:6443"
# kubeconfig FILE CERTNAME: a kubeconfig with the certs embedded (self-contained, copyable).
kubeconfig() {
  local file=$1 name=$2
  umask 077
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: milvus-migrate-test
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$name.crt")
    client-key-data: $(base64 -w0 < "$PKI/$name.key")
contexts:
- name: milvus-migrate-test
  context: {cluster: milvus-migrate-test, user: $name, namespace: default}
current-context: milvus-migrate-test
EOF
  umask 022
}
kubeconfig "$KUBECONFIG_PATH" admin
for n in kubelet controller-manager scheduler kube-proxy; do kubeconfig "$STATE/$n.kubeconfig" "$n"; done

# ---- network: the CNI bridge, created up front ------------------------------
# The API server binds to the bridge's gateway address, so pods reach it both
# directly and through the kubernetes Service (kube-proxy), and the kubelet
# uses it as the node IP (pods see it as status.hostIP). The bridge CNI plugin
# adopts the existing bridge.
ip link add "$CNI_BRIDGE" type bridge
ip addr add "$HOST_GW/${POD_CIDR#*/}" dev "$CNI_BRIDGE"
ip link set "$CNI_BRIDGE" up

cat > "$STATE/cni/net.d/10-milvus-migrate.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "milvus-migrate",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/networks",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$HOST_GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF

# ---- process helpers -------------------------------------------------------
# start NAME CMD...: run detached in its own session, log and pidfile under $STATE.
start() {
  local name=$1; shift
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$STATE/run/$name.pid"
}
# wait_for WHAT TIMEOUT CMD...: poll CMD every 0.2 s.
wait_for() {
  local what=$1 timeout=$2 deadline; shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for $what"
    sleep 0.2
  done
}
alive() { kill -0 "$(cat "$STATE/run/$1.pid")" 2>/dev/null || die "$1 exited; see $STATE/logs/$1.log"; }

# ---- etcd ------------------------------------------------------------------
log "starting etcd on 127.0.0.1:$ETCD_CLIENT_PORT"
start etcd "$KUBE_BIN/etcd" --name default --data-dir "$STATE/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync --log-level warn

# ---- containerd (own root, state, socket, runc root) -----------------------
log "starting containerd at $CONTAINERD_SOCK"
CD="$STATE/containerd"
mkdir -p "$CD"/{root,state,runc,opt}
cat > "$CD/config.toml" <<EOF
version = 2
root = "$CD/root"
state = "$CD/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CD/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  # This VM lacks CAP_SYS_RESOURCE: a negative oom_score_adj makes runc fail.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CD/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF
start containerd containerd --config "$CD/config.toml" --log-level warn

# ---- kube-apiserver --------------------------------------------------------
log "starting kube-apiserver on $APISERVER_URL"
start kube-apiserver "$KUBE_BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address "$HOST_GW" --advertise-address "$HOST_GW" --secure-port 6443 \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types Hostname,InternalIP \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
  --allow-privileged=true --profiling=false --v=1

wait_for "containerd" 30 test -S "$CONTAINERD_SOCK"
alive containerd
# The pod sandbox image is imported, never pulled.
ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$PAUSE_TAR" >/dev/null

wait_for "kube-apiserver /readyz" 90 kc get --raw /readyz
log "kube-apiserver ready ($((SECONDS - t0)) s)"

# ---- controller-manager, scheduler -----------------------------------------
start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
  --kubeconfig "$STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --controllers '*' --use-service-account-credentials \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false \
  --kube-api-qps 200 --kube-api-burst 400 --profiling=false --v=1
start kube-scheduler "$KUBE_BIN/kube-scheduler" \
  --kubeconfig "$STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
  --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1

# ---- kubelet ---------------------------------------------------------------
cat > "$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
address: 127.0.0.1
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false            # 1.35 refuses cgroup v1 hosts otherwise
failSwapOn: false
oomScoreAdj: 0                 # no CAP_SYS_RESOURCE on this VM
podLogsDir: $STATE/pod-logs    # NB: podLogsDir, not podLogsDirectory
imageGCHighThresholdPercent: 100  # images cannot be re-pulled: never GC them
imageGCLowThresholdPercent: 99
makeIPTablesUtilChains: false  # keep the host's iptables clean
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
serializeImagePulls: false
staticPodPath: ""
EOF
log "starting kubelet (node localhost) and kube-proxy"
start kubelet "$KUBE_BIN/kubelet" --config "$STATE/kubelet-config.yaml" \
  --kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" \
  --hostname-override localhost --node-ip "$HOST_GW" --v=1

# ---- kube-proxy (nftables): makes the kubernetes Service reachable from pods --
cat > "$STATE/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
hostnameOverride: localhost
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$HOST_GW/32"]
# 0 = leave the host's conntrack settings alone
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
start kube-proxy "$KUBE_BIN/kube-proxy" --config "$STATE/kube-proxy-config.yaml" --v=1

# ---- wait: node Ready, default ServiceAccount ------------------------------
node_ready() { [[ "$(kc get node localhost -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]; }
wait_for "node localhost Ready" 120 node_ready
wait_for "default ServiceAccount" 60 kc get serviceaccount default -n default
for c in "${components[@]}"; do alive "$c"; done
# Keep a copy of kubectl next to the kubeconfig for convenience.
ln -sfn "$KUBECTL" "$STATE/kubectl"

log "cluster up in $((SECONDS - t0)) s; KUBECONFIG=$KUBECONFIG_PATH"
echo "$KUBECONFIG_PATH"
