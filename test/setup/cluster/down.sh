#!/usr/bin/env bash
# Tears the local test cluster down and leaves the machine as it was before
# up.sh: processes (by pidfile AND by the state dir in their command line),
# pod processes (via the kubepods cgroups), mounts under the state dir and the
# CNI network namespaces, the cni0 bridge and its veths, kube-proxy's nftables
# tables, the sysctls up.sh saved (ip_forward, the kubelet's kernel tunables),
# kubepods cgroups, and the host paths the kubelet/containerd/CNI hard-code.
# Safe to run twice, with nothing running, or after a half-failed up.sh.
#
# KEEP_STATE=1 keeps $STATE (etcd data, logs, certs) for inspection; by default
# it is removed.
set -uo pipefail   # no -e: every step is best effort, the next one must still run
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $EUID -eq 0 ]] || die "down.sh must run as root"
t0=$SECONDS

# Our own ancestors must never be killed, even if their command line names $STATE.
protected=" $$ "
p=$$
while [[ "$p" -gt 1 ]]; do
  p="$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)" || break
  [[ -n "$p" ]] || break
  protected+="$p "
done

cmdline_of() { { tr "\0" " " < "/proc/$1/cmdline"; } 2>/dev/null; }
# Pids whose command line contains the state dir (the components, containerd shims).
state_pids() {
  local d pid
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    [[ "$protected" == *" $pid "* ]] && continue
    cmdline_of "$pid" | grep -qF -- "$STATE/" && echo "$pid"
  done
}
# A zombie counts as gone: PID 1 on this VM reaps only every ~2 s.
alive_pid() { local st; st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)"; [[ -n "$st" && "$st" != Z ]]; }
any_alive() { local p; for p in "$@"; do alive_pid "$p" && return 0; done; return 1; }
# stop NAME...: SIGTERM the pids in their pidfiles (only if really ours), all at
# once (each component takes ~2 s to exit), wait up to 3 s, then SIGKILL.
stop() {
  local name pidf pid pids=()
  for name in "$@"; do
    pidf="$STATE/run/$name.pid"
    [[ -f "$pidf" ]] || continue
    pid="$(cat "$pidf")"
    if [[ -n "$pid" ]] && cmdline_of "$pid" | grep -qF -- "$STATE/"; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
    rm -f "$pidf"
  done
  ((${#pids[@]})) || return 0
  for _ in $(seq 30); do
    any_alive "${pids[@]}" || break
    sleep 0.1
  done
  # Nothing here needs a clean exit: the state is thrown away (and even with
  # KEEP_STATE etcd's writes are in the page cache, which outlives the process).
  kill -KILL "${pids[@]}" 2>/dev/null
  return 0
}
# Pod processes live in the kubepods cgroups: SIGKILL them all (repeat: forks).
kill_pods() {
  local pids
  for _ in 1 2 3 4 5; do
    pids="$(find /sys/fs/cgroup -path '*kubepods*' -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)"
    [[ -n "$pids" ]] || return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    sleep 0.2
  done
}

# ---- processes -------------------------------------------------------------
# All components at once: the kubelet and containerd going away means nothing
# restarts the pods, whose processes (held by the shims) are then killed through
# their cgroups. etcd stops gracefully (KEEP_STATE=1 keeps its data usable).
# kube-apiserver gets SIGKILL first: its graceful shutdown drains watches for many
# seconds and keeps etcd waiting; everything else then exits within ~0.3 s.
pid="$(cat "$STATE/run/kube-apiserver.pid" 2>/dev/null)"
[[ -n "$pid" ]] && cmdline_of "$pid" | grep -qF -- "$STATE/" && kill -KILL "$pid" 2>/dev/null
stop kubelet kube-proxy kube-scheduler kube-controller-manager containerd kube-apiserver etcd
kill_pods
# Anything else still naming the state dir (e.g. started by an interrupted up.sh).
for _ in 1 2 3; do
  pids="$(state_pids)"
  [[ -z "$pids" ]] && break
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null
  sleep 0.2
done

# ---- mounts ------------------------------------------------------------------
# Everything mounted under the state dir (container rootfs overlays, sandbox shm,
# kubelet volumes) and the CNI network namespaces.
our_mounts() {
  # mountinfo field 5 is the mount point, with spaces etc. as octal escapes.
  awk '{print $5}' /proc/self/mountinfo | while read -r m; do
    m="$(printf '%b' "$m")"
    case "$m" in
      "$STATE"/*|/run/netns/cni-*|/var/run/netns/cni-*) echo "$m" ;;
    esac
  done | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-
}
for _ in 1 2 3 4 5; do
  mounts="$(our_mounts)"
  [[ -z "$mounts" ]] && break
  while IFS= read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done <<< "$mounts"
done
[[ -n "$(our_mounts)" ]] && log "WARNING: mounts left: $(our_mounts | tr '\n' ' ')"
# CNI network namespace files (bind mounts, now unmounted).
for ns in /run/netns/cni-* /var/run/netns/cni-*; do [[ -e "$ns" ]] && rm -f "$ns"; done

# ---- network -----------------------------------------------------------------
if ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
  for v in $(ip -o link show master "$CNI_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$v" 2>/dev/null
  done
  ip link del "$CNI_BRIDGE" 2>/dev/null
fi
if command -v nft >/dev/null; then
  for fam in ip ip6; do
    nft list table "$fam" kube-proxy >/dev/null 2>&1 && nft delete table "$fam" kube-proxy
  done
fi

# ---- sysctls -----------------------------------------------------------------
if [[ -f "$STATE/saved/sysctl" ]]; then
  while IFS='=' read -r key val; do
    f="/proc/sys/${key//.//}"
    [[ -w "$f" && "$(cat "$f")" != "$val" ]] && echo "$val" > "$f" 2>/dev/null
  done < "$STATE/saved/sysctl"
fi

# ---- cgroups -------------------------------------------------------------------
# kubepods (and its QoS/pod children) in every hierarchy; children first.
for _ in 1 2 3; do
  left="$(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name 'kubepods*' 2>/dev/null)"
  [[ -z "$left" ]] && break
  find /sys/fs/cgroup -depth -type d -path '*/kubepods*' -exec rmdir {} + 2>/dev/null
  sleep 0.2
done

# ---- host paths the kubelet / containerd / CNI hard-code -----------------------
preexisting() { grep -qxF -- "$1" "$STATE/saved/preexisting-paths" 2>/dev/null; }
have_record() { [[ -f "$STATE/saved/preexisting-paths" ]]; }
# rm_ours PATH: remove PATH if up.sh saw it absent; without a record only if empty.
rm_ours() {
  local p=$1
  [[ -e "$p" ]] || return 0
  if have_record && ! preexisting "$p"; then rm -rf --one-file-system "$p"; else rmdir "$p" 2>/dev/null; fi
  return 0
}
rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
rm_ours /var/lib/kubelet/device-plugins; rm_ours /var/lib/kubelet
[[ -d /var/log/containers ]] && find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete
rm_ours /var/log/containers
rm -f /var/lib/cni/results/milvus-migrate-* 2>/dev/null
rm_ours /var/lib/cni/results; rm_ours /var/lib/cni
# /run/containerd/{s,fifo}: shim sockets and stdio fifos. Another containerd (e.g. the
# image builder's dockerd) may share them: remove only sockets nobody listens on.
if [[ -d /run/containerd/s ]]; then
  listening="$(ss -xlnH 2>/dev/null | awk '{print $5}')"
  for s in /run/containerd/s/*; do
    [[ -S "$s" ]] && ! grep -qxF -- "$s" <<< "$listening" && rm -f "$s"
  done
fi
# No live shim socket left means no containerd uses stdio fifos either.
if [[ -z "$(ls -A /run/containerd/s 2>/dev/null)" ]]; then
  rm -rf --one-file-system /run/containerd/fifo
fi
# Shared with other containerds / netns users: only ever removed when empty.
for d in /run/containerd/s /run/containerd /run/netns; do
  preexisting "$d" || rmdir "$d" 2>/dev/null
done

# ---- state -----------------------------------------------------------------------
if [[ "${KEEP_STATE:-0}" != 1 && -d "$STATE" ]]; then
  rm -rf --one-file-system "$STATE" 2>/dev/null || log "WARNING: could not remove all of $STATE"
fi
log "cluster down in $((SECONDS - t0)) s"
exit 0
