#!/usr/bin/env bash
# Installs the real Milvus test servers into project-local Python virtual environments.
#
#   test/setup/milvus/install.sh [all | milvus-2.3.5 | milvus-2.2.16 | milvus-lite ...]
#
# Each kind gets its own venv under <repo>/.cache/venv/<kind> (the `milvus` wheels of 2.3.5 and
# 2.2.16 share a package name, so they cannot live together). A stamp file per venv records the
# pinned requirement set and the Python used; when it matches, the kind is skipped, so a second
# run takes well under a second. pip's own download cache (~/.cache/pip) makes re-creation fast.
#
# Python is used for the test servers only; the product itself is TypeScript.
# Env: MILVUS_PYTHON=/path/to/python3 to choose the interpreter (default: python3 on PATH).
#      MILVUS_INSTALL_FORCE=1 to rebuild the venvs even when their stamps match.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../../.." && pwd)"
VENV_ROOT="$REPO_ROOT/.cache/venv"
PYTHON="${MILVUS_PYTHON:-python3}"

# Pinned requirement sets, one per venv. Keep in sync with test/support/milvus-server.ts.
#   milvus 2.3.5 / 2.2.16: the embedded server wheels (command `milvus-server`, no dependencies).
#   milvus-lite 3.2.2 needs pymilvus in the same venv; pymilvus 2.5.x fails against it (databases
#   are not honoured, connections fail), 3.0.x works.
declare -A REQS=(
  [milvus-2.3.5]="milvus==2.3.5"
  [milvus-2.2.16]="milvus==2.2.16"
  [milvus-lite]="milvus-lite==3.2.2 pymilvus==3.0.2"
)
# The command each venv must provide (checked after install and before trusting a stamp).
declare -A BINS=(
  [milvus-2.3.5]="milvus-server"
  [milvus-2.2.16]="milvus-server"
  [milvus-lite]="milvus-lite"
)
ALL_KINDS=(milvus-2.3.5 milvus-2.2.16 milvus-lite)

kinds=()
if [[ $# -eq 0 || "$1" == "all" ]]; then
  kinds=("${ALL_KINDS[@]}")
else
  for k in "$@"; do
    if [[ -z "${REQS[$k]+x}" ]]; then
      echo "install.sh: unknown kind '$k' (known: ${ALL_KINDS[*]})" >&2
      exit 2
    fi
    kinds+=("$k")
  done
fi

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "install.sh: '$PYTHON' not found; set MILVUS_PYTHON to a Python 3.8-3.11 interpreter" >&2
  exit 1
fi
PY_VERSION="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"

mkdir -p "$VENV_ROOT"

# Serialize concurrent runs (several test workers may call this at once).
exec 9>"$VENV_ROOT/.install.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

install_kind() {
  local kind="$1"
  local venv="$VENV_ROOT/$kind"
  local reqs="${REQS[$kind]}"
  local bin="${BINS[$kind]}"
  local stamp="$venv/.installed-stamp"
  local want="python=$PY_VERSION reqs=$reqs"

  if [[ "${MILVUS_INSTALL_FORCE:-}" != "1" && -f "$stamp" && -x "$venv/bin/$bin" ]] \
     && [[ "$(cat "$stamp")" == "$want" ]]; then
    echo "install.sh: $kind up to date ($reqs)"
    return 0
  fi

  local start=$SECONDS
  echo "install.sh: installing $kind ($reqs) with Python $PY_VERSION into $venv"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q $reqs
  if [[ ! -x "$venv/bin/$bin" ]]; then
    echo "install.sh: $kind installed but $venv/bin/$bin is missing" >&2
    exit 1
  fi
  printf '%s' "$want" >"$stamp"
  echo "install.sh: $kind installed in $((SECONDS - start)) s"
}

for kind in "${kinds[@]}"; do
  install_kind "$kind"
done
