#!/usr/bin/env bash
# Stops the dockerd that docker-up.sh started (never an engine it did not start)
# and its managed containerd + shims, unmounts what they left under <state>/docker,
# and removes that dir. The data-root (image layers, in the machine cache) is kept.
# Safe to run twice or when nothing runs.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmdline_of() { { tr "\0" " " < "/proc/$1/cmdline"; } 2>/dev/null; }
ours() { local d pid; for d in /proc/[0-9]*; do pid="${d#/proc/}"; [[ $pid == "$$" ]] && continue
  cmdline_of "$pid" | grep -qF -- "$DOCKER_STATE/" && echo "$pid"; done; }

for f in "$DOCKER_PIDFILE" "$DOCKER_STATE/dockerd.launcher.pid"; do
  pid="$(cat "$f" 2>/dev/null)" || continue
  if [[ -n "$pid" ]] && cmdline_of "$pid" | grep -qF -- "$DOCKER_STATE/"; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
done
# dockerd's managed containerd and shims name the exec-root in their command line.
for _ in 1 2 3; do
  pids="$(ours)"; [[ -z "$pids" ]] && break
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null; sleep 0.5
  pids="$(ours)"
  # shellcheck disable=SC2086
  [[ -n "$pids" ]] && kill -KILL $pids 2>/dev/null
done
awk '{print $5}' /proc/self/mountinfo | while read -r m; do
  m="$(printf '%b' "$m")"
  case "$m" in "$DOCKER_STATE"/*|"$DOCKER_DATA"/*) echo "$m";; esac
done | sort -r | while IFS= read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
# What dockerd created outside its roots (recorded by docker-up.sh).
if [[ -f "$DOCKER_STATE/created-paths" ]]; then
  while IFS= read -r p; do
    case "$p" in
      /sys/fs/cgroup/*) [[ -d "$p" ]] && find "$p" -depth -type d -exec rmdir {} + 2>/dev/null ;;
      /run/docker) rm -rf --one-file-system "$p" ;;
      /etc/docker/key.json) rm -f "$p" ;;
    esac
  done < <(sort -u "$DOCKER_STATE/created-paths")
fi
# Shim sockets nobody listens on any more.
if [[ -d /run/containerd/s ]]; then
  listening="$(ss -xlnH 2>/dev/null | awk '{print $5}')"
  for s in /run/containerd/s/*; do [[ -S "$s" ]] && ! grep -qxF -- "$s" <<< "$listening" && rm -f "$s"; done
fi
[[ -d "$DOCKER_STATE" ]] && rm -rf --one-file-system "$DOCKER_STATE"
log "dockerd stopped"
exit 0
