#!/usr/bin/env bash
# Ensures a docker engine is reachable and prints the DOCKER_HOST to use.
# Uses $DOCKER_HOST or /var/run/docker.sock if an engine answers there; otherwise
# starts Debian's docker.io dockerd (installed with apt if missing) with its own
# socket/pidfile/exec-root under <state>/docker and data-root in the machine cache:
# no bridge, no iptables, no ip_forward, so it changes nothing on the host network.
# Stop it with test/setup/image/down.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dk() { docker "$@"; }
if [[ -n "${DOCKER_HOST:-}" ]] && dk info >/dev/null 2>&1; then echo "$DOCKER_HOST"; exit 0; fi
if [[ -S /var/run/docker.sock ]] && DOCKER_HOST=unix:///var/run/docker.sock dk info >/dev/null 2>&1; then
  echo unix:///var/run/docker.sock; exit 0
fi
export DOCKER_HOST="unix://$DOCKER_SOCK" DOCKER_API_VERSION="$DOCKER_API"
if dk info >/dev/null 2>&1; then echo "$DOCKER_HOST"; exit 0; fi

[[ $EUID -eq 0 ]] || { log "ERROR: starting dockerd needs root"; exit 1; }
if ! command -v dockerd >/dev/null; then
  log "installing docker.io (Debian's dockerd)"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d (present on these machines) keeps apt from starting the service.
  apt-get install -y -q --no-install-recommends docker.io >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends docker.io >/dev/null; }
fi
command -v docker >/dev/null || { log "ERROR: no docker CLI"; exit 1; }

mkdir -p "$DOCKER_STATE" "$DOCKER_DATA"
# Paths dockerd creates outside its data/exec roots (trust key in /etc/docker,
# /run/docker/plugins, a "docker" cgroup parent per hierarchy): down.sh removes
# those that were not there before.
if [[ ! -f "$DOCKER_STATE/created-paths" ]]; then
  for p in /etc/docker/key.json /run/docker /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker; do
    [[ -e "$p" ]] || echo "$p"
  done > "$DOCKER_STATE/created-paths"
  # cgroup hierarchies the glob did not match (no docker dir in them yet).
  for h in /sys/fs/cgroup/*/; do [[ -e "${h}docker" ]] || echo "${h}docker"; done >> "$DOCKER_STATE/created-paths"
fi
rm -f "$DOCKER_SOCK"
log "starting dockerd (socket $DOCKER_SOCK, data-root $DOCKER_DATA)"
setsid dockerd --host "$DOCKER_HOST" --pidfile "$DOCKER_PIDFILE" \
  --exec-root "$DOCKER_STATE/exec" --data-root "$DOCKER_DATA" \
  --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --userland-proxy=false --storage-driver overlay2 --log-level warn \
  > "$DOCKER_STATE/dockerd.log" 2>&1 < /dev/null &
echo $! > "$DOCKER_STATE/dockerd.launcher.pid"
for _ in $(seq 150); do
  dk info >/dev/null 2>&1 && { echo "$DOCKER_HOST"; exit 0; }
  kill -0 "$(cat "$DOCKER_STATE/dockerd.launcher.pid")" 2>/dev/null || break
  sleep 0.2
done
log "ERROR: dockerd did not come up; see $DOCKER_STATE/dockerd.log"
tail -20 "$DOCKER_STATE/dockerd.log" >&2
exit 1
