#!/usr/bin/env bash
# Ends the Milvus test servers that test/support/milvus-server.ts started and an interrupted run
# left behind, then removes their data dirs, pid files and port claims.
#
#   test/setup/milvus/kill-leftovers.sh            # every server of this repo
#   test/setup/milvus/kill-leftovers.sh --orphans  # only those whose starting Node process is gone
#
# It only touches processes of this checkout: those named in <repo>/.cache/milvus-pids/*.pid
# (their process groups) and any process whose command line points into <repo>/.cache/milvus-data/.
set -uo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../../.." && pwd)"
PID_ROOT="$REPO_ROOT/.cache/milvus-pids"
DATA_ROOT="$REPO_ROOT/.cache/milvus-data"
PORT_ROOT="$REPO_ROOT/.cache/milvus-ports"

orphans_only=0
[[ "${1:-}" == "--orphans" ]] && orphans_only=1

alive() { kill -0 "$1" 2>/dev/null; }
group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# Is some process of group $1 one of ours (its command line mentions our data root)?
group_is_ours() {
  local pgid="$1" stat pg
  for stat in /proc/[0-9]*/stat; do
    pg="$(awk '{ sub(/^.*\) /, ""); print $3 }' "$stat" 2>/dev/null)" || continue
    [[ "$pg" == "$pgid" ]] || continue
    if tr '\0' ' ' <"${stat%/stat}/cmdline" 2>/dev/null | grep -qF "$DATA_ROOT/"; then
      return 0
    fi
  done
  return 1
}

stop_group() {
  local pgid="$1" i
  group_alive "$pgid" || return 0
  kill -INT "$pgid" 2>/dev/null # the wrapper / launcher stops its server on SIGINT
  for i in $(seq 1 50); do group_alive "$pgid" || return 0; sleep 0.1; done
  kill -KILL -- "-$pgid" 2>/dev/null
  for i in $(seq 1 30); do group_alive "$pgid" || return 0; sleep 0.1; done
  echo "kill-leftovers: process group $pgid is still alive" >&2
}

killed=0
shopt -s nullglob
for f in "$PID_ROOT"/*.pid; do
  pgid="$(sed -n 's/^pgid=//p' "$f")"
  owner="$(sed -n 's/^owner=//p' "$f")"
  data_dir="$(sed -n 's/^dataDir=//p' "$f")"
  if [[ $orphans_only == 1 && -n "$owner" ]] && alive "$owner"; then
    continue
  fi
  if [[ -n "$pgid" ]] && group_alive "$pgid"; then
    if group_is_ours "$pgid"; then
      echo "kill-leftovers: stopping $(basename "$f" .pid) (process group $pgid)"
      stop_group "$pgid"
      killed=$((killed + 1))
    fi
  fi
  [[ -n "$data_dir" && "$data_dir" == "$DATA_ROOT/"* ]] && rm -rf "$data_dir"
  rm -f "$f"
done

# Anything else still running from our data root (e.g. its pid file was never written).
if [[ $orphans_only == 0 ]]; then
  for cmdline in /proc/[0-9]*/cmdline; do
    pid="${cmdline#/proc/}"
    pid="${pid%/cmdline}"
    [[ "$pid" == "$$" ]] && continue
    if tr '\0' ' ' <"$cmdline" 2>/dev/null | grep -qF "$DATA_ROOT/"; then
      echo "kill-leftovers: killing stray pid $pid: $(tr '\0' ' ' <"$cmdline" | cut -c1-120)"
      kill -KILL "$pid" 2>/dev/null && killed=$((killed + 1))
    fi
  done
  rm -rf "$DATA_ROOT" "$PORT_ROOT"
else
  # Port claims of dead owners.
  for f in "$PORT_ROOT"/*; do
    owner="$(cat "$f" 2>/dev/null)"
    [[ -n "$owner" ]] && alive "$owner" || rm -f "$f"
  done
fi

echo "kill-leftovers: $killed server(s) ended"
